//! `registry`: deterministic rewrite, `--check`, history kept, refusal on broken input.

use crate::support::TestRepo;

const REGISTRY: &str = "prompt_registry.yaml";

#[test]
fn the_registry_records_versions_hashes_and_counts() {
    let repo = TestRepo::sample();
    let text = repo.read(REGISTRY);
    let sha = {
        use sha2::Digest;
        let digest =
            sha2::Sha256::digest(repo.read("prompts/02-production/summarize.yaml").as_bytes());
        digest.iter().fold(String::new(), |mut hex, byte| {
            use std::fmt::Write;
            let _ = write!(hex, "{byte:02x}");
            hex
        })
    };
    insta::assert_snapshot!(text.replace(&sha, "<prompt sha256>"));
}

#[test]
fn rewriting_is_deterministic() {
    let repo = TestRepo::sample();
    let first = repo.read(REGISTRY);
    repo.remove(REGISTRY);
    let output = repo.run(&["registry"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert_eq!(first, repo.read(REGISTRY));
    let output = repo.run(&["registry"]);
    assert!(output.stderr.contains("already up to date"), "{output:?}");
}

#[test]
fn check_catches_a_stale_registry_and_prints_the_difference() {
    let repo = TestRepo::sample();
    let output = repo.run(&["registry", "--check"]);
    assert_eq!(output.code, 0, "{output:?}");
    repo.edit(
        "prompts/02-production/summarize.yaml",
        "version: 1.0.0",
        "version: 1.1.0",
    );
    repo.edit(
        "prompts/03-metadata/summarize.yaml",
        "version: 1.0.0",
        "version: 1.1.0",
    );
    let before = repo.read(REGISTRY);
    let output = repo.run(&["registry", "--check"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(
        output
            .stdout
            .contains("-      version: 1.0.0\n+      version: 1.1.0\n"),
        "{output:?}"
    );
    assert!(
        output.stderr.contains("prompt_registry.yaml is stale"),
        "{output:?}"
    );
    assert_eq!(before, repo.read(REGISTRY), "--check writes nothing");
    // validate reports it too, at the line of the stale entry, with the fix as hint.
    let output = repo.run(&["validate"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(
        output.stderr.contains("error[registry-stale]"),
        "{output:?}"
    );
    assert!(
        output.stderr.contains("hint: run `promptops registry`"),
        "{output:?}"
    );
    let output = repo.run(&["registry"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert_eq!(repo.run(&["registry", "--check"]).code, 0);
}

#[test]
fn dry_run_prints_without_writing() {
    let repo = TestRepo::sample();
    repo.remove(REGISTRY);
    let output = repo.run(&["registry", "--dry-run"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stdout.contains("summarize:"), "{output:?}");
    assert!(!repo.path().join(REGISTRY).exists());
}

#[test]
fn a_missing_registry_is_reported() {
    let repo = TestRepo::sample();
    repo.remove(REGISTRY);
    let output = repo.run(&["validate"]);
    assert_eq!(output.code, 1);
    assert!(
        output.stderr.contains("error[registry-missing]"),
        "{output:?}"
    );
    assert_eq!(repo.run(&["registry", "--check"]).code, 1);
}

#[test]
fn history_survives_a_rewrite() {
    let repo = TestRepo::sample();
    let event = "    history:\n      - event: promote\n        version: 1.0.0\n        at: \"2026-11-01T10:00:00Z\"\n        by: ana@example.com\n        reason: first release\n";
    let text = repo.read(REGISTRY) + event;
    repo.write(REGISTRY, &text);
    assert_eq!(
        repo.run(&["registry", "--check"]).code,
        0,
        "the history is part of the canonical file"
    );
    repo.edit(
        "prompts/01-examples/summarize.jsonl",
        "order 1234",
        "order 1235",
    );
    let output = repo.run(&["registry"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(
        repo.read(REGISTRY).contains("reason: first release"),
        "{}",
        repo.read(REGISTRY)
    );
    // A task whose files are all gone keeps its history.
    for file in [
        "prompts/02-production/summarize.yaml",
        "prompts/03-metadata/summarize.yaml",
        "prompts/01-examples/summarize.jsonl",
    ] {
        repo.remove(file);
    }
    let output = repo.run(&["registry"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(repo.read(REGISTRY).contains("reason: first release"));
    assert!(!repo.read(REGISTRY).contains("production:"));
}

#[test]
fn a_broken_registry_is_not_overwritten() {
    let repo = TestRepo::sample();
    let broken = repo
        .read(REGISTRY)
        .replace("schema_version: 1", "schema_version: [1");
    repo.write(REGISTRY, &broken);
    let output = repo.run(&["registry"]);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(output.stderr.contains("history"), "{output:?}");
    assert_eq!(repo.read(REGISTRY), broken);
}

#[test]
fn registry_refuses_while_prompt_files_have_errors() {
    let repo = TestRepo::sample();
    repo.edit(
        "prompts/02-production/summarize.yaml",
        "version: 1.0.0",
        "version: 1.1.0",
    );
    let before = repo.read(REGISTRY);
    let output = repo.run(&["registry"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(
        output.stderr.contains("metadata-version-mismatch"),
        "{output:?}"
    );
    assert_eq!(repo.read(REGISTRY), before);
}
