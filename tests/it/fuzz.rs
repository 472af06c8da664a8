//! A fuzz harness that runs on stable Rust: a seeded generator of YAML, JSON and JSONL texts
//! (grammar-shaped fragments, deep nesting, broken encodings) fed to the YAML reader, the JSON
//! reader, the example reader and the whole analysis. Cases run in a child process, so an
//! abort (a stack overflow) fails the run like a panic does.
//!
//! Smoke run (CI): `cargo test --test it fuzz::` (1,000 cases by default; it runs within `cargo test`).
//! Long run: `PROMPTOPS_FUZZ_CASES=2000000 PROMPTOPS_FUZZ_SEED=7 cargo test --release --test it
//! fuzz:: -- --include-ignored --nocapture`; a failure prints the seed that replays it.

use promptops::domain::analysis::{Options, analyze};
use promptops::domain::source::{FileContent, InputFile};
use promptops::domain::{file_checks, json, registry, schema::Validators, yaml};

use crate::support::Random;

fn pick<'a>(random: &mut Random, items: &[&'a str]) -> &'a str {
    items[random.below(items.len())]
}

const YAML_ATOMS: &[&str] = &[
    "id",
    "version",
    "messages",
    "model",
    "role",
    "content",
    "user",
    "system",
    "1.0.0",
    "x",
    "\"q\"",
    "'s'",
    "{{ ticket }}",
    "{% if x %}",
    "{% endif %}",
    "{{ x | dump }}",
    "&a",
    "*a",
    "!!str",
    "!tag",
    "~",
    "null",
    "true",
    "no",
    "1e999",
    "-1",
    "0x1F",
    "|",
    ">-",
    "? ",
    "#c",
    "\t",
    "\u{feff}",
    "\u{2028}",
    "é",
    "---",
    "...",
    "%YAML 1.2",
    "[",
    "]",
    "{",
    "}",
    ",",
];

fn yaml_text(random: &mut Random, depth: usize) -> String {
    let mut out = String::new();
    let lines = 1 + random.below(12);
    for _ in 0..lines {
        let indent = random.below(depth.min(8) + 1) * 2;
        out.push_str(&" ".repeat(indent));
        match random.below(7) {
            0 => out.push_str("- "),
            1 => {
                out.push_str(pick(random, YAML_ATOMS));
                out.push_str(": ");
            }
            2 => {
                let limit = if random.below(10) == 0 { 30_000 } else { 80 };
                let levels = random.below(limit);
                out.push_str(&"- ".repeat(levels));
            }
            3 => {
                let limit = if random.below(10) == 0 { 30_000 } else { 80 };
                let levels = random.below(limit);
                out.push_str(&"[".repeat(levels));
            }
            _ => {}
        }
        for _ in 0..random.below(4) {
            out.push_str(pick(random, YAML_ATOMS));
            out.push(' ');
        }
        out.push('\n');
    }
    out
}

fn json_text(random: &mut Random, depth: usize) -> String {
    if depth > 0 && random.below(200) == 0 {
        let levels = random.below(50_000);
        return format!("{}1{}", "[".repeat(levels), "]".repeat(levels));
    }
    match random.below(if depth > 12 { 4 } else { 7 }) {
        0 => "null".to_owned(),
        1 => pick(
            random,
            &["0", "-1.5e3", "1e999", "18446744073709551616", "true"],
        )
        .to_owned(),
        2 => format!(
            "\"{}\"",
            pick(
                random,
                &[
                    "id", "vars", "expected", "ticket", "\\u0000", "\\ud800", "é"
                ]
            )
        ),
        3 => pick(random, &["{", "[", "\"", "}", ",", ":"]).to_owned(),
        4 => format!(
            "[{}]",
            (0..random.below(4))
                .map(|_| json_text(random, depth + 1))
                .collect::<Vec<_>>()
                .join(",")
        ),
        _ => {
            let keys = [
                "id", "vars", "expected", "tags", "scorers", "ticket", "name", "id",
            ];
            let entries: Vec<String> = (0..random.below(5))
                .map(|_| {
                    format!(
                        "\"{}\": {}",
                        keys[random.below(keys.len())],
                        json_text(random, depth + 1)
                    )
                })
                .collect();
            format!("{{{}}}", entries.join(", "))
        }
    }
}

fn fuzz_cases() -> u64 {
    std::env::var("PROMPTOPS_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000)
}

#[test]
#[ignore = "run in a child process by the_readers_survive_generated_inputs"]
fn fuzz_worker() {
    let base: u64 = std::env::var("PROMPTOPS_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let validators = Validators::new();
    for case in 0..fuzz_cases() {
        let seed = base.wrapping_mul(1_000_003).wrapping_add(case);
        let mut random = Random(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let text = yaml_text(&mut random, 0);
            let _ = yaml::parse(&text);
            let line = json_text(&mut random, 0);
            let _ = json::parse(&line);
            let _ = file_checks::read_example("f.jsonl", 1, &line, &validators);
            // The whole analysis over a small generated repository, on worker threads.
            let mut files = Vec::new();
            for n in 0..=random.below(40) {
                let (path, bytes) = match random.below(4) {
                    0 => (
                        format!("prompts/02-production/t{n}.yaml"),
                        yaml_text(&mut random, 0),
                    ),
                    1 => (
                        format!("prompts/03-metadata/t{n}.yaml"),
                        yaml_text(&mut random, 0),
                    ),
                    2 => (
                        format!("prompts/01-examples/t{n}.jsonl"),
                        (0..=random.below(3))
                            .map(|_| json_text(&mut random, 0) + "\n")
                            .collect(),
                    ),
                    _ => (
                        format!("prompts/00-templates/t{n}.yaml"),
                        yaml_text(&mut random, 0),
                    ),
                };
                files.push(InputFile {
                    path,
                    content: FileContent::Bytes(bytes.into_bytes()),
                });
            }
            files.push(InputFile {
                path: "prompt_registry.yaml".to_owned(),
                content: FileContent::Bytes(yaml_text(&mut random, 0).into_bytes()),
            });
            let analysis = analyze(
                &files,
                Options {
                    strict: case % 2 == 0,
                    threads: 2,
                    spawn: &promptops::adapters::threads::Threads,
                },
            );
            for finding in &analysis.findings {
                assert!(finding.line >= 1 && finding.column >= 1, "{finding:?}");
            }
            let _ = registry::render(&analysis.expected_registry);
        }));
        assert!(
            result.is_ok(),
            "case {case} (PROMPTOPS_FUZZ_SEED={base}) panicked"
        );
    }
}

#[test]
fn the_readers_survive_generated_inputs() {
    crate::support::run_worker_in_child("fuzz::fuzz_worker");
}
