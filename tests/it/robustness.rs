//! "Never a panic on any input": the bundled example's files, corrupted in many seeded ways,
//! go through the whole analysis and the registry rendering.

use promptops::domain::analysis::{Options, analyze};
use promptops::domain::registry;
use promptops::domain::source::{FileContent, InputFile};

use crate::support::Random;

const SPLICES: &[&[u8]] = &[
    b": ",
    b"\n- ",
    b"{{",
    b"}}",
    b"{%",
    b"%}",
    b"&a ",
    b"*a",
    b"!!str ",
    b"!custom ",
    b"\t",
    b"\"",
    b"'",
    b"---\n",
    b"[",
    b"]",
    b"{",
    b"}",
    b"\xff",
    b"\xc3",
    b"\0",
    b"#",
    b"|",
    b">",
    b"?",
    b"~",
    b"1e999",
    b"\r\n",
    b"\xe2\x80\xa8",
];

fn mutate(bytes: &[u8], random: &mut Random) -> Vec<u8> {
    let mut bytes = bytes.to_vec();
    for _ in 0..=random.below(4) {
        let at = random.below(bytes.len() + 1);
        match random.below(6) {
            0 => bytes.truncate(at),
            5 => {
                // Deep nesting, the shape that once overflowed the stack: `- - - x`, `[[[`,
                // `{"a": {"a": …`.
                let depth = 100 + random.below(20_000);
                let unit: &[u8] = match random.below(3) {
                    0 => b"- ",
                    1 => b"[",
                    _ => b"{\"a\": ",
                };
                let nested: Vec<u8> = unit.repeat(depth);
                bytes.splice(at..at, nested);
            }
            1 => {
                let end = (at + random.below(80)).min(bytes.len());
                bytes.drain(at..end);
            }
            2 if !bytes.is_empty() => {
                let index = at.min(bytes.len() - 1);
                bytes[index] = u8::try_from(random.below(256)).unwrap();
            }
            _ => {
                let splice = SPLICES[random.below(SPLICES.len())];
                bytes.splice(at..at, splice.iter().copied());
            }
        }
    }
    bytes
}

/// The bundled example's files as committed (read from git's HEAD, not the work tree): the
/// README's main job writes eval logs and rewrites the registry in the checkout, and this test
/// must not depend on what ran before it (regression, defect 22).
fn bundled_files() -> Vec<InputFile> {
    crate::support::committed_files(|path| {
        path.starts_with("prompts/") || path == "prompt_registry.yaml" || path == "promptops.yaml"
    })
    .into_iter()
    .map(|(path, bytes)| InputFile {
        path,
        content: FileContent::Bytes(bytes),
    })
    .collect()
}

/// The corruption cases run in a child process: a stack overflow aborts the process, which
/// `catch_unwind` cannot see, but the parent sees the child die (regression, defect 1).
#[test]
fn corrupted_files_never_panic_the_analysis() {
    crate::support::run_worker_in_child("robustness::corrupted_files_worker");
}

#[test]
#[ignore = "run in a child process by corrupted_files_never_panic_the_analysis"]
fn corrupted_files_worker() {
    let original = bundled_files();
    let clean = analyze(&original, Options::default());
    assert_eq!(clean.findings, vec![], "the bundled example is clean");
    let mut corrupted_runs = 0;
    for seed in 1..=400_u64 {
        let mut random = Random(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut files = original.clone();
        for _ in 0..=random.below(3) {
            let index = random.below(files.len());
            if let FileContent::Bytes(bytes) = &files[index].content {
                files[index].content = FileContent::Bytes(mutate(bytes, &mut random));
            }
        }
        let analysis = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            analyze(
                &files,
                Options {
                    strict: seed % 2 == 0,
                    threads: 2,
                    spawn: &promptops::adapters::threads::Threads,
                },
            )
        }))
        .unwrap_or_else(|_| panic!("analysis panicked for seed {seed}"));
        for finding in &analysis.findings {
            assert!(
                finding.line >= 1 && finding.column >= 1,
                "seed {seed}: {finding:?}"
            );
            assert!(!finding.message.is_empty(), "seed {seed}: {finding:?}");
        }
        // Rendering whatever registry the broken files call for must not panic either.
        let _ = registry::render(&analysis.expected_registry);
        corrupted_runs += usize::from(!analysis.findings.is_empty());
    }
    // Most mutations must actually be caught, or this test would prove nothing.
    assert!(
        corrupted_runs > 300,
        "only {corrupted_runs} of 400 corruptions were reported"
    );
}
