//! The semantic checks, each planted in an otherwise valid repository.

use crate::support::{PROMPT, TestRepo, expect_finding, findings, has};

const PROMPT_FILE: &str = "prompts/02-production/summarize.yaml";
const METADATA_FILE: &str = "prompts/03-metadata/summarize.yaml";
const EXAMPLES_FILE: &str = "prompts/01-examples/summarize.jsonl";

fn validate(repo: &TestRepo) -> crate::support::Output {
    repo.run(&["validate", "--format", "json"])
}

#[test]
fn the_sample_is_clean() {
    let repo = TestRepo::sample();
    let output = validate(&repo);
    assert_eq!(output.code, 0, "{output:?}");
    assert_eq!(findings(&output), vec![]);
}

#[test]
fn unknown_fields_and_unknown_scorers_are_errors() {
    let repo = TestRepo::sample();
    repo.edit(
        PROMPT_FILE,
        "    temperature: 0\n",
        "    temperature: 0\n    temprature: 0\n",
    );
    repo.edit(METADATA_FILE, "  - name: similarity", "  - name: similarty");
    let output = validate(&repo);
    assert_eq!(output.code, 1);
    expect_finding(&output, "unknown-field", PROMPT_FILE, 10);
    expect_finding(&output, "invalid-value", METADATA_FILE, 11);
}

#[test]
fn undeclared_template_variable_points_into_the_template() {
    let repo = TestRepo::sample();
    repo.edit(
        PROMPT_FILE,
        "      Answer in one sentence.\n",
        "      Answer in {{ language }}.\n",
    );
    let output = repo.run(&["validate"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(
        output.stderr.contains("error[undeclared-variable]"),
        "{output:?}"
    );
    assert!(
        output.stderr.contains(&format!("--> {PROMPT_FILE}:14:20")),
        "{output:?}"
    );
}

#[test]
fn unused_required_input_is_a_warning() {
    let repo = TestRepo::sample();
    repo.edit(
        METADATA_FILE,
        "inputs:\n",
        "inputs:\n  customer:\n    type: string\n",
    );
    repo.edit(
        EXAMPLES_FILE,
        "\"ticket\": \"I cannot",
        "\"customer\": \"A\", \"ticket\": \"I cannot",
    );
    repo.edit(
        EXAMPLES_FILE,
        "\"ticket\": \"Please",
        "\"customer\": \"B\", \"ticket\": \"Please",
    );
    repo.run(&["registry"]);
    let output = validate(&repo);
    assert_eq!(output.code, 0, "warnings do not fail: {output:?}");
    expect_finding(&output, "unused-variable", PROMPT_FILE, 10);
}

#[test]
fn template_syntax_errors_are_reported_at_the_line_inside_the_yaml() {
    let repo = TestRepo::sample();
    repo.edit(
        PROMPT_FILE,
        "      Answer in one sentence.\n",
        "      Answer in one sentence.\n      {% if ticket %}never closed\n",
    );
    let output = validate(&repo);
    assert!(
        findings(&output)
            .iter()
            .any(|(c, f, l)| c == "template-syntax" && f == PROMPT_FILE && (13..=16).contains(l)),
        "{output:?}"
    );
    repo.edit(PROMPT_FILE, "      {% if ticket %}never closed\n", "");
    repo.edit(
        PROMPT_FILE,
        "\"Ticket: {{ ticket }}\"",
        "\"Ticket: {{ ticket | }}\"",
    );
    let output = validate(&repo);
    expect_finding(&output, "template-syntax", PROMPT_FILE, 16);
}

#[test]
fn metadata_must_describe_the_production_version() {
    let repo = TestRepo::sample();
    repo.edit(PROMPT_FILE, "version: 1.0.0", "version: 1.1.0");
    let output = validate(&repo);
    expect_finding(&output, "metadata-version-mismatch", METADATA_FILE, 4);
}

#[test]
fn versions_must_be_semver() {
    let repo = TestRepo::sample();
    repo.edit(PROMPT_FILE, "version: 1.0.0", "version: v1");
    repo.edit(METADATA_FILE, "version: 1.0.0", "version: 1.0");
    let output = validate(&repo);
    expect_finding(&output, "invalid-version", PROMPT_FILE, 3);
    expect_finding(&output, "wrong-type", METADATA_FILE, 4);
}

#[test]
fn every_production_prompt_needs_metadata_and_examples() {
    let repo = TestRepo::sample();
    repo.remove(METADATA_FILE);
    repo.remove(EXAMPLES_FILE);
    let output = validate(&repo);
    expect_finding(&output, "missing-metadata", PROMPT_FILE, 1);
    expect_finding(&output, "missing-examples", PROMPT_FILE, 1);
}

#[test]
fn metadata_without_a_prompt_is_an_orphan() {
    let repo = TestRepo::sample();
    repo.remove(PROMPT_FILE);
    let output = validate(&repo);
    expect_finding(&output, "orphan-metadata", METADATA_FILE, 1);
}

#[test]
fn id_must_match_the_file_name() {
    let repo = TestRepo::sample();
    repo.edit(PROMPT_FILE, "id: summarize", "id: summarise");
    let output = validate(&repo);
    expect_finding(&output, "id-mismatch", PROMPT_FILE, 2);
}

#[test]
fn examples_are_checked_against_the_declared_inputs_and_output() {
    let repo = TestRepo::sample();
    repo.write(
        EXAMPLES_FILE,
        concat!(
            "{\"id\": \"ok\", \"vars\": {\"ticket\": \"t\"}, \"expected\": \"s\"}\n",
            "{\"id\": \"missing\", \"vars\": {}, \"expected\": \"s\"}\n",
            "{\"id\": \"extra\", \"vars\": {\"ticket\": \"t\", \"tone\": \"calm\"}, \"expected\": \"s\"}\n",
            "{\"id\": \"typed\", \"vars\": {\"ticket\": 42}, \"expected\": \"s\"}\n",
            "{\"id\": \"not-text\", \"vars\": {\"ticket\": \"t\"}, \"expected\": {\"a\": 1}}\n",
            "\n",
            "{\"id\": \"ok\", \"vars\": {\"ticket\": \"t\"}, \"expected\": \"s\"}\n",
            "{\"id\": \"no-expected\", \"vars\": {\"ticket\": \"t\"}}\n",
            "[1, 2]\n",
        ),
    );
    let output = validate(&repo);
    for (code, line) in [
        ("missing-example-variable", 2),
        ("undeclared-example-variable", 3),
        ("example-variable-type", 4),
        ("expected-type", 5),
        ("duplicate-example-id", 7),
        ("missing-field", 8),
        ("wrong-type", 9),
    ] {
        expect_finding(&output, code, EXAMPLES_FILE, line);
    }
}

#[test]
fn json_examples_must_fit_the_output_schema() {
    let repo = TestRepo::sample();
    repo.edit(
        PROMPT_FILE,
        "output:\n  format: text\n",
        "output:\n  format: json\n  schema:\n    type: object\n    required: [summary]\n",
    );
    repo.edit(METADATA_FILE, "output: text", "output: json");
    repo.write(
        EXAMPLES_FILE,
        "{\"id\": \"good\", \"vars\": {\"ticket\": \"t\"}, \"expected\": {\"summary\": \"s\"}}\n{\"id\": \"bad\", \"vars\": {\"ticket\": \"t\"}, \"expected\": {\"title\": \"s\"}}\n",
    );
    let output = validate(&repo);
    expect_finding(&output, "expected-schema", EXAMPLES_FILE, 2);
    assert!(
        !has(&output, "expected-schema", EXAMPLES_FILE, 1),
        "{output:?}"
    );
}

#[test]
fn output_format_must_agree_with_the_metadata() {
    let repo = TestRepo::sample();
    repo.edit(METADATA_FILE, "output: text", "output: json");
    let output = validate(&repo);
    expect_finding(&output, "output-type-mismatch", PROMPT_FILE, 18);
}

#[test]
fn unknown_provider_is_an_error_unless_configured() {
    let repo = TestRepo::sample();
    repo.edit(PROMPT_FILE, "provider: openai", "provider: local-llm");
    let output = validate(&repo);
    expect_finding(&output, "unknown-provider", PROMPT_FILE, 6);
    repo.write(
        "promptops.yaml",
        "providers:\n  local-llm:\n    kind: openai\n    base_url: http://127.0.0.1:8000/v1\n",
    );
    repo.rebuild_registry();
    let output = validate(&repo);
    assert_eq!(findings(&output), vec![], "{output:?}");
}

#[test]
fn config_errors_are_located() {
    let repo = TestRepo::sample();
    repo.write(
        "promptops.yaml",
        "providers:\n  runner:\n    kind: exec\n  web:\n    kind: openai\n    base_url: ftp://x\n",
    );
    let output = validate(&repo);
    expect_finding(&output, "missing-field", "promptops.yaml", 3);
    expect_finding(&output, "invalid-value", "promptops.yaml", 6);
}

#[test]
fn archive_files_are_named_by_their_version_and_say_why() {
    let repo = TestRepo::sample();
    let archived = PROMPT.replace("version: 1.0.0", "version: 0.9.0")
        + "archived:\n  reason: replaced by 1.0.0\n  at: \"2026-01-01T00:00:00Z\"\n";
    repo.write("prompts/99-archive/summarize/0.9.0.yaml", &archived);
    repo.write("prompts/99-archive/summarize/0.8.0.yaml", &archived);
    repo.write(
        "prompts/99-archive/summarize/0.7.0.yaml",
        &PROMPT.replace("version: 1.0.0", "version: 0.7.0"),
    );
    repo.write("prompts/99-archive/other-task/latest.yaml", &archived);
    let output = validate(&repo);
    let archive = |v: &str| format!("prompts/99-archive/summarize/{v}.yaml");
    expect_finding(&output, "archive-version-mismatch", &archive("0.8.0"), 3);
    expect_finding(&output, "archive-missing-reason", &archive("0.7.0"), 1);
    expect_finding(
        &output,
        "invalid-file-name",
        "prompts/99-archive/other-task/latest.yaml",
        1,
    );
    assert!(
        !findings(&output)
            .iter()
            .any(|(_, f, _)| *f == archive("0.9.0")),
        "{output:?}"
    );
}

#[test]
fn candidates_are_lenient_unless_strict() {
    let repo = TestRepo::sample();
    let candidate = PROMPT
        .replace("version: 1.0.0", "version: 1.1.0")
        .replace("one sentence.", "{{ style }}.");
    repo.write("prompts/00-templates/summarize.yaml", &candidate);
    repo.run(&["registry"]);
    let lenient = validate(&repo);
    assert_eq!(lenient.code, 0, "{lenient:?}");
    assert!(
        lenient.stdout.contains("\"severity\": \"warning\""),
        "{lenient:?}"
    );
    expect_finding(
        &lenient,
        "undeclared-variable",
        "prompts/00-templates/summarize.yaml",
        14,
    );
    let strict = repo.run(&["validate", "--strict", "--format", "json"]);
    assert_eq!(strict.code, 1, "{strict:?}");
}

#[test]
fn a_candidate_older_than_production_is_flagged() {
    let repo = TestRepo::sample();
    repo.write("prompts/00-templates/summarize.yaml", PROMPT);
    repo.run(&["registry"]);
    let output = validate(&repo);
    expect_finding(
        &output,
        "candidate-not-newer",
        "prompts/00-templates/summarize.yaml",
        3,
    );
}

#[test]
fn yaml_1_2_keeps_no_as_a_string() {
    let repo = TestRepo::sample();
    // `owner: no` would be `false` to a YAML 1.1 reader and fail the string schema.
    repo.edit(
        "prompts/03-metadata/summarize.yaml",
        "owner: support-tools",
        "owner: no",
    );
    repo.run(&["registry"]);
    let output = validate(&repo);
    assert_eq!(findings(&output), vec![], "{output:?}");
}
