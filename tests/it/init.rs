//! `init`: a new repository that validates clean; never over an existing one.

use crate::support::{TestRepo, run_binary};

#[test]
fn init_creates_a_repository_that_validates_clean() {
    let parent = tempfile::tempdir().unwrap();
    let output = run_binary(parent.path(), &["init", "catalog"]);
    assert_eq!(output.code, 0, "{output:?}");
    let root = parent.path().join("catalog");
    assert!(root.join(".git").is_dir(), "a git repository is created");
    for file in [
        "prompt_registry.yaml",
        "promptops.yaml",
        ".pre-commit-config.yaml",
        "schemas/prompt.schema.json",
        "prompts/99-archive/.gitkeep",
    ] {
        assert!(root.join(file).is_file(), "{file} missing");
    }
    let output = run_binary(&root, &["validate", "--strict"]);
    assert_eq!(output.code, 0, "{output:?}");
    let output = run_binary(&root, &["registry", "--check"]);
    assert_eq!(output.code, 0, "{output:?}");
}

#[test]
fn init_refuses_an_existing_prompt_repository_and_writes_nothing() {
    let repo = TestRepo::sample();
    let before = repo.tree();
    let output = repo.run(&["init"]);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(output.stderr.contains("nothing was written"), "{output:?}");
    assert_eq!(before, repo.tree());
}
