//! Every kind of bad input the foundation issue lists: a non-zero exit, the file and line,
//! and nothing written.

use crate::support::{PROMPT, TestRepo, expect_finding};

/// Runs validate (json) and `registry`, and checks that neither wrote anything.
fn validate_without_damage(repo: &TestRepo) -> crate::support::Output {
    let before = repo.tree();
    let output = repo.run(&["validate", "--format", "json"]);
    assert_eq!(output.code, 1, "{output:?}");
    let registry = repo.run(&["registry"]);
    assert_ne!(
        registry.code, 0,
        "registry must refuse bad input: {registry:?}"
    );
    assert_eq!(before, repo.tree(), "a command changed files");
    output
}

#[test]
fn malformed_yaml_is_reported_at_its_line() {
    let repo = TestRepo::sample();
    repo.edit(
        "prompts/02-production/summarize.yaml",
        "  name: gpt-4o-mini\n",
        "  name: [gpt-4o-mini\n",
    );
    let output = validate_without_damage(&repo);
    expect_finding(
        &output,
        "yaml-syntax",
        "prompts/02-production/summarize.yaml",
        8,
    );
}

/// 9^11 nodes if expanded: the refusal at line 5 shows the alias budget stopped it.
#[test]
fn alias_bomb_is_refused() {
    let repo = TestRepo::sample();
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
    for level in 1..12 {
        let p = level - 1;
        bomb.push_str(&format!(
            "a{level}: &a{level} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    repo.write("prompts/03-metadata/summarize.yaml", &bomb);
    let output = validate_without_damage(&repo);
    expect_finding(
        &output,
        "yaml-alias-limit",
        "prompts/03-metadata/summarize.yaml",
        5,
    );
}

#[test]
fn duplicate_keys_are_reported_at_the_second_key() {
    let repo = TestRepo::sample();
    repo.edit(
        "prompts/02-production/summarize.yaml",
        "version: 1.0.0\n",
        "version: 1.0.0\nid: other\n",
    );
    let output = validate_without_damage(&repo);
    expect_finding(
        &output,
        "yaml-duplicate-key",
        "prompts/02-production/summarize.yaml",
        4,
    );
}

#[test]
fn a_100_mb_file_is_refused_without_reading_it() {
    let repo = TestRepo::sample();
    let file =
        std::fs::File::create(repo.path().join("prompts/01-examples/summarize.jsonl")).unwrap();
    file.set_len(100 * 1024 * 1024).unwrap();
    let output = validate_without_damage(&repo);
    expect_finding(
        &output,
        "file-too-large",
        "prompts/01-examples/summarize.jsonl",
        1,
    );
}

#[test]
fn a_large_yaml_file_is_refused() {
    let repo = TestRepo::sample();
    let mut text = PROMPT.to_owned();
    text.push_str(&format!("# {}\n", "x".repeat(2 * 1024 * 1024)));
    repo.write("prompts/02-production/summarize.yaml", &text);
    let output = validate_without_damage(&repo);
    expect_finding(
        &output,
        "file-too-large",
        "prompts/02-production/summarize.yaml",
        1,
    );
}

#[test]
fn invalid_utf8_is_reported_at_its_line() {
    let repo = TestRepo::sample();
    let text = PROMPT.replace("Summarise a support ticket", "Summarise a caf\u{e9} ticket");
    let bytes = text.replace('\u{e9}', "\u{1}").into_bytes();
    let bytes: Vec<u8> = bytes
        .into_iter()
        .map(|b| if b == 1 { 0xE9 } else { b })
        .collect();
    repo.write_bytes("prompts/02-production/summarize.yaml", &bytes);
    let output = validate_without_damage(&repo);
    expect_finding(
        &output,
        "invalid-utf8",
        "prompts/02-production/summarize.yaml",
        4,
    );
}

#[test]
fn a_jsonl_line_that_is_not_json_is_reported_with_its_line_number() {
    let repo = TestRepo::sample();
    let mut text = repo.read("prompts/01-examples/summarize.jsonl");
    text.push_str("{\"id\": \"broken\", \"vars\": {\"ticket\": \"x\"}, \"expected\": \n");
    text.push_str("{\"id\": \"login\", \"vars\": {\"ticket\": \"y\"}, \"expected\": \"z\"}\n");
    repo.write("prompts/01-examples/summarize.jsonl", &text);
    let output = validate_without_damage(&repo);
    expect_finding(
        &output,
        "examples-json",
        "prompts/01-examples/summarize.jsonl",
        3,
    );
    // The line after it is still read and checked: its id repeats line 1's.
    expect_finding(
        &output,
        "duplicate-example-id",
        "prompts/01-examples/summarize.jsonl",
        4,
    );
}

#[test]
fn a_path_traversal_id_is_refused_and_nothing_is_touched() {
    let repo = TestRepo::sample();
    repo.edit(
        "prompts/02-production/summarize.yaml",
        "id: summarize",
        "id: ../../etc",
    );
    let output = validate_without_damage(&repo);
    expect_finding(
        &output,
        "invalid-id",
        "prompts/02-production/summarize.yaml",
        2,
    );
}

#[cfg(unix)]
#[test]
fn a_symlink_leaving_the_repository_is_not_followed() {
    let repo = TestRepo::sample();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.yaml"), "id: secret\n").unwrap();
    std::fs::create_dir_all(repo.path().join("prompts/00-templates")).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("secret.yaml"),
        repo.path().join("prompts/00-templates/summarize.yaml"),
    )
    .unwrap();
    let output = validate_without_damage(&repo);
    expect_finding(
        &output,
        "symlink-outside-repository",
        "prompts/00-templates/summarize.yaml",
        1,
    );
}

/// Regression: a `prompts/` folder that is itself a link out of the repository was walked,
/// and the files beneath it (not links themselves) were read as the repository's own.
#[cfg(unix)]
#[test]
fn a_prompts_folder_linking_outside_is_not_walked() {
    let repo = TestRepo::empty();
    let outside = TestRepo::sample();
    std::os::unix::fs::symlink(outside.path().join("prompts"), repo.path().join("prompts"))
        .unwrap();
    let output = repo.run(&["validate", "--format", "json"]);
    assert_eq!(output.code, 1, "{output:?}");
    expect_finding(&output, "symlink-outside-repository", "prompts", 1);
    assert!(
        output.stdout.contains("\"files\": 0"),
        "nothing beneath the link is read: {output:?}"
    );
}

#[test]
fn an_empty_file_is_refused() {
    let repo = TestRepo::sample();
    repo.write("prompts/03-metadata/summarize.yaml", "");
    let output = validate_without_damage(&repo);
    expect_finding(
        &output,
        "empty-file",
        "prompts/03-metadata/summarize.yaml",
        1,
    );
    repo.write("prompts/03-metadata/summarize.yaml", "# only a comment\n");
    let output = validate_without_damage(&repo);
    expect_finding(
        &output,
        "empty-file",
        "prompts/03-metadata/summarize.yaml",
        1,
    );
}

#[test]
fn files_in_the_wrong_layer_are_refused() {
    let repo = TestRepo::sample();
    repo.write("prompts/02-production/summarize.jsonl", "{}\n");
    repo.write("prompts/01-examples/notes.yaml", "a: 1\n");
    repo.write("prompts/02-production/nested/summarize.yaml", PROMPT);
    repo.write("prompts/07-misc/x.yaml", "a: 1\n");
    repo.write("prompts/02-production/summarize.yml", PROMPT);
    let output = validate_without_damage(&repo);
    for (code, file) in [
        ("unexpected-file", "prompts/02-production/summarize.jsonl"),
        ("unexpected-file", "prompts/01-examples/notes.yaml"),
        (
            "unexpected-file",
            "prompts/02-production/nested/summarize.yaml",
        ),
        ("unexpected-file", "prompts/07-misc/x.yaml"),
        ("wrong-extension", "prompts/02-production/summarize.yml"),
    ] {
        expect_finding(&output, code, file, 1);
    }
}

/// All the planted mistakes at once, as a person reads them: one run reports every one,
/// sorted by file and line, each with its code, place, source line and hint.
#[test]
fn every_planted_mistake_in_one_human_report() {
    let repo = TestRepo::sample();
    repo.edit(
        "prompts/02-production/summarize.yaml",
        "  name: gpt-4o-mini\n",
        "  name: gpt-4o-mini\n  temprature: 0\n",
    );
    repo.edit(
        "prompts/02-production/summarize.yaml",
        "{{ ticket }}",
        "{{ tiket }}",
    );
    repo.edit(
        "prompts/03-metadata/summarize.yaml",
        "version: 1.0.0",
        "version: 1.0.1",
    );
    repo.write("prompts/01-examples/summarize.jsonl", "{\"id\": \"a\", \"vars\": {\"ticket\": 3}, \"expected\": \"x\"}\nnot json\n{\"id\": \"a\", \"vars\": {}, \"expected\": 1}\n");
    repo.write("prompts/02-production/extra.txt", "stray\n");
    let output = repo.run(&["validate"]);
    assert_eq!(output.code, 1);
    insta::assert_snapshot!(output.stderr);
}
