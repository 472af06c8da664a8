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
    // Regression (defect 27): init wrote no .gitignore. Temp files and the cache stay out of
    // git; git itself agrees.
    let ignore = std::fs::read_to_string(root.join(".gitignore")).unwrap();
    assert!(ignore.contains(".promptops/tmp/") && ignore.contains(".promptops/cache/"));
    std::fs::create_dir_all(root.join(".promptops/cache/ab")).unwrap();
    std::fs::write(root.join(".promptops/cache/ab/x.json"), "{}").unwrap();
    let status = std::process::Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=all"])
        .current_dir(&root)
        .output()
        .unwrap();
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(!status.contains(".promptops/"), "{status}");
    assert!(status.contains("prompts/03-metadata/"), "{status}");
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

/// Regression: the README's quick-start output was stale (validate now shows two errors). The
/// README's block is what the quick start prints, run here as a newcomer runs it.
#[test]
fn the_readme_quick_start_prints_what_the_readme_shows() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme
        .find("Misspell the variable")
        .expect("the quick start");
    let block = &readme[start..];
    let block = &block[block.find("```text\n").unwrap() + "```text\n".len()..];
    let shown = &block[..block.find("```").unwrap()];
    let dir = tempfile::tempdir().unwrap();
    let init = crate::support::run_binary(dir.path(), &["init", "my-prompts"]);
    assert_eq!(init.code, 0, "{init:?}");
    let repo = dir.path().join("my-prompts");
    let clean = crate::support::run_binary(&repo, &["validate"]);
    assert_eq!(clean.code, 0, "{clean:?}");
    let prompt = repo.join("prompts/02-production/classify-sentiment.yaml");
    let text = std::fs::read_to_string(&prompt).unwrap();
    std::fs::write(&prompt, text.replace("{{ review }}", "{{ reviw }}")).unwrap();
    let misspelt = crate::support::run_binary(&repo, &["validate"]);
    assert_eq!(misspelt.code, 1, "{misspelt:?}");
    assert_eq!(misspelt.stderr, shown);
}
