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
