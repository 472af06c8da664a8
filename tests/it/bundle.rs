//! `promptops bundle`: the release of what is in production, with an id that depends on the
//! production prompts and not on the recorded history.

use crate::support::bundled_example;

fn bundle(repo: &crate::support::TestRepo, out: &std::path::Path) -> crate::support::Output {
    repo.run(&["bundle", "--out", out.to_str().unwrap()])
}

#[test]
fn the_bundle_holds_production_and_its_id_ignores_the_history() {
    let repo = bundled_example();
    repo.set_identity();
    repo.commit("the example", 1_795_437_296);
    let out = tempfile::tempdir().unwrap();
    let first = bundle(&repo, &out.path().join("a"));
    assert_eq!(first.code, 0, "{first:?}");
    let id = first.stdout.trim().to_owned();
    assert_eq!(id.len(), 64, "{first:?}");
    let release: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("a/release.json")).unwrap())
            .unwrap();
    let tasks = release["tasks"].as_object().unwrap();
    assert_eq!(tasks.len(), 3);
    assert_eq!(tasks["normalize-product-title"]["version"], "1.2.0");
    assert!(
        out.path()
            .join("a/prompts/normalize-product-title.yaml")
            .is_file()
    );
    assert!(
        out.path()
            .join("a/metadata/normalize-product-title.yaml")
            .is_file()
    );
    // The candidate is not production: it is not in the bundle.
    assert!(
        !repo
            .read("prompts/00-templates/normalize-product-title.yaml")
            .is_empty()
    );
    assert_eq!(
        std::fs::read_dir(out.path().join("a/prompts"))
            .unwrap()
            .count(),
        3
    );
    // A decision that leaves production alone (archiving the candidate) keeps the release id.
    let archived = repo.run(&[
        "archive",
        "normalize-product-title",
        "--candidate",
        "--reason",
        "not now",
    ]);
    assert_eq!(archived.code, 0, "{archived:?}");
    let again = bundle(&repo, &out.path().join("b"));
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(again.stdout.trim(), id);
    // A folder that holds something is not written into.
    let refused = bundle(&repo, &out.path().join("a"));
    assert_eq!(refused.code, 2, "{refused:?}");
    // Another production prompt is another release.
    repo.edit(
        "prompts/02-production/normalize-product-title.yaml",
        "version: 1.2.0",
        "version: 1.2.0\n# edited",
    );
    let broken = bundle(&repo, &out.path().join("c"));
    assert_eq!(
        broken.code, 2,
        "an in-place edit does not validate: {broken:?}"
    );
    assert!(!out.path().join("c").exists());
}
