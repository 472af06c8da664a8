//! `status`: the per-task table and its JSON form.

use crate::support::{PROMPT, TestRepo};

#[test]
fn table_shows_versions_threshold_checks_and_last_change() {
    let repo = TestRepo::sample();
    repo.commit("Add summarize 1.0.0", 1_795_392_000);
    repo.write(
        "prompts/00-templates/summarize.yaml",
        &PROMPT.replace("version: 1.0.0", "version: 1.1.0"),
    );
    repo.run(&["registry"]);
    let output = repo.run(&["status"]);
    assert_eq!(output.code, 0, "{output:?}");
    let short_id = {
        let repository = git2::Repository::open(repo.path()).unwrap();
        repository
            .head()
            .unwrap()
            .peel_to_commit()
            .unwrap()
            .id()
            .to_string()[..8]
            .to_owned()
    };
    insta::assert_snapshot!(output.stdout.replace(&short_id, "<commit>"));
}

#[test]
fn json_lists_every_task() {
    let repo = TestRepo::sample();
    repo.edit(
        "prompts/02-production/summarize.yaml",
        "provider: openai",
        "provider: nowhere",
    );
    let output = repo.run(&["status", "--format", "json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let document: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
    let task = &document["tasks"][0];
    assert_eq!(task["task"], "summarize");
    assert_eq!(task["production"], "1.0.0");
    assert_eq!(task["threshold"], 0.8);
    assert!(task["errors"].as_u64().unwrap() >= 1, "{task}");
}

/// Regression: a walk sorted by time alone visited two commits made in the same second
/// parent first once a later commit sat on top, and showed the older one as the last change.
#[test]
fn last_change_is_the_newest_commit_even_within_one_second() {
    let repo = TestRepo::sample();
    repo.commit("first", 1_795_392_000);
    repo.edit(
        "prompts/02-production/summarize.yaml",
        "Summarise",
        "Briefly summarise",
    );
    repo.commit("second, same second", 1_795_392_000);
    repo.edit(
        "prompts/01-examples/summarize.jsonl",
        "order 1234",
        "order 1235",
    );
    repo.commit("third, later, another file", 1_795_392_003);
    let output = repo.run(&["status", "--format", "json"]);
    let document: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
    let last = document["tasks"][0]["last_change"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(last.ends_with("second, same second"), "{last}");
}

/// `status` fits 100 columns: a long commit subject is cut, not wrapped.
#[test]
fn status_fits_one_hundred_columns() {
    let repo = TestRepo::sample();
    repo.commit(
        &format!("A change whose subject goes on {}", "and on ".repeat(30)),
        1_795_437_296,
    );
    let output = repo.run(&["status"]);
    assert_eq!(output.code, 0, "{output:?}");
    for line in output.stdout.lines() {
        assert!(
            line.chars().count() <= 100,
            "{} columns: {line}",
            line.chars().count()
        );
    }
    assert!(output.stdout.contains('…'), "{output:?}");
    // The JSON keeps the whole subject.
    let json = repo.run(&["status", "--format", "json"]);
    assert!(
        json.stdout
            .contains(&"and on ".repeat(30).trim_end().to_owned()),
        "{json:?}"
    );
}
