//! "Never a panic on any input": the bundled example's files, corrupted in many seeded ways,
//! go through the whole analysis and the registry rendering.

use std::path::Path;

use promptops::domain::analysis::{Options, analyze};
use promptops::domain::registry;
use promptops::domain::source::{FileContent, InputFile};

/// A small deterministic generator (xorshift), so a failure names a seed that replays it.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % (n.max(1) as u64)).unwrap()
    }
}

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
        match random.below(5) {
            0 => bytes.truncate(at),
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

fn bundled_files() -> Vec<InputFile> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(root.join("prompts")).sort_by_file_name() {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            let path = entry
                .path()
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            files.push(InputFile {
                path,
                content: FileContent::Bytes(std::fs::read(entry.path()).unwrap()),
            });
        }
    }
    for name in ["prompt_registry.yaml", "promptops.yaml"] {
        files.push(InputFile {
            path: name.to_owned(),
            content: FileContent::Bytes(std::fs::read(root.join(name)).unwrap()),
        });
    }
    files
}

#[test]
fn corrupted_files_never_panic_the_analysis() {
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
        let analysis = std::panic::catch_unwind(|| {
            analyze(
                &files,
                Options {
                    strict: seed % 2 == 0,
                    threads: 2,
                },
            )
        })
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
