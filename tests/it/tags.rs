//! What a plan will create (its tag) is checked before anything is written, and `validate`
//! refuses a version that cannot be a git tag.

use crate::support::{committed_example, expect_finding};

/// Regression: `1.1.0-x.lock` is a valid semantic version but not a git tag name; promote
/// committed, failed on the tag, and every later command exited 2.
#[test]
fn a_version_that_cannot_be_a_tag_is_refused_before_anything_is_written() {
    let repo = committed_example();
    let path = "prompts/00-templates/classify-product-category.yaml";
    let production = repo.read("prompts/02-production/classify-product-category.yaml");
    repo.write(
        path,
        &production.replace("version: 1.1.0", "version: 1.2.0-x.lock"),
    );
    let line = repo
        .read(path)
        .lines()
        .position(|line| line.starts_with("version:"))
        .unwrap()
        + 1;
    let validate = repo.run(&["validate", "--strict", "--format", "json"]);
    assert_eq!(validate.code, 1, "{validate:?}");
    expect_finding(&validate, "invalid-version", path, line as u64);
    assert_eq!(repo.run(&["registry"]).code, 0);
    repo.commit("a candidate", 1_795_437_400);
    let head_before = git2::Repository::open(repo.path())
        .unwrap()
        .head()
        .unwrap()
        .target()
        .unwrap();
    let output = repo.run(&[
        "promote",
        "classify-product-category",
        "--force",
        "--reason",
        "try it",
    ]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stdout.contains("✗ valid"), "{output:?}");
    let repository = git2::Repository::open(repo.path()).unwrap();
    assert_eq!(repository.head().unwrap().target().unwrap(), head_before);
    assert_eq!(repository.tag_names(None).unwrap().len(), 0);
    // Every later command still works.
    assert_eq!(repo.run(&["status"]).code, 0);
}

/// Regression: `.promptops/lock` (and the journal) were not in `init`'s `.gitignore`; after
/// `git add -A` promptops refused its own commit ("other changes are staged"). Its own files
/// never block a commit, nor join one, and `init` ignores them.
#[test]
fn promptops_own_files_never_block_its_commit() {
    let repo = committed_example();
    let production = repo.read("prompts/02-production/classify-product-category.yaml");
    repo.write(
        "prompts/00-templates/classify-product-category.yaml",
        &production.replace("version: 1.1.0", "version: 1.2.0"),
    );
    assert_eq!(repo.run(&["registry"]).code, 0);
    // (The test repository has no .gitignore: the lock the registry took stays out by hand.)
    repo.remove(".promptops/lock");
    repo.commit("a candidate", 1_795_437_400);
    // What a `git add -A` in a repository without promptops's ignore lines stages.
    repo.write(".promptops/lock", "pid 1: promote\n");
    let repository = git2::Repository::open(repo.path()).unwrap();
    let mut index = repository.index().unwrap();
    index
        .add_path(std::path::Path::new(".promptops/lock"))
        .unwrap();
    index.write().unwrap();
    let output = repo.run(&[
        "promote",
        "classify-product-category",
        "--force",
        "--reason",
        "tested by hand",
    ]);
    assert_eq!(output.code, 0, "{output:?}");
    let head = repository.head().unwrap().peel_to_tree().unwrap();
    assert!(
        head.get_path(std::path::Path::new(".promptops/lock"))
            .is_err()
    );

    let dir = tempfile::tempdir().unwrap();
    let init = crate::support::run_binary(dir.path(), &["init", "fresh"]);
    assert_eq!(init.code, 0, "{init:?}");
    let ignore = std::fs::read_to_string(dir.path().join("fresh/.gitignore")).unwrap();
    for line in [
        ".promptops/lock",
        ".promptops/journal.json",
        ".promptops/tmp/",
    ] {
        assert!(ignore.lines().any(|l| l == line), "{line}: {ignore}");
    }
}
