//! `validate`: output formats, exit codes, repository discovery, path selection, the checks
//! of settings, scorers and template callables, and reading examples exactly as eval does.

use crate::eval::{add_second_task, always_right, eval, only_summary, repo};
use crate::support::llm_server::LlmServer;
use crate::support::{TestRepo, expect_finding, findings, run_binary, run_binary_with};

fn plant_two_problems(repo: &TestRepo) {
    // One problem in the sample task, one in a second task.
    repo.edit(
        "prompts/02-production/summarize.yaml",
        "provider: openai",
        "provider: nowhere",
    );
    let second = crate::support::PROMPT
        .replace("id: summarize", "id: other")
        .replace("version: 1.0.0", "version: x");
    repo.write("prompts/02-production/other.yaml", &second);
}

#[test]
fn human_output_goes_to_stderr_with_a_summary() {
    let repo = TestRepo::sample();
    let output = repo.run(&["validate"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert_eq!(output.stdout, "");
    assert_eq!(output.stderr, "validated 4 files (1 task): no problems\n");
}

#[test]
fn json_output_lists_findings_and_a_summary() {
    let repo = TestRepo::sample();
    plant_two_problems(&repo);
    let output = repo.run(&["validate", "--format", "json"]);
    assert_eq!(output.code, 1);
    let document: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
    // The two planted problems, what they cause, and the in-place edit of production.
    assert_eq!(document["summary"]["errors"], 5, "{output:?}");
    let first = &document["findings"][0];
    for field in [
        "code", "severity", "file", "line", "column", "message", "hint",
    ] {
        assert!(!first[field].is_null(), "{field} missing: {first}");
    }
}

#[test]
fn github_output_is_one_annotation_per_finding() {
    let repo = TestRepo::sample();
    plant_two_problems(&repo);
    let output = repo.run(&["validate", "--format", "github"]);
    assert_eq!(output.code, 1);
    let lines: Vec<&str> = output.stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{output:?}");
    assert!(
        lines.contains(&"::error file=prompts/02-production/summarize.yaml,line=6,col=13,title=unknown-provider::unknown provider `nowhere`%0Ahint: use a provider kind (openai, anthropic, exec) or define `providers.nowhere` in promptops.yaml"),
        "{output:?}"
    );
}

#[test]
fn github_format_appends_a_step_summary() {
    let repo = TestRepo::sample();
    plant_two_problems(&repo);
    let summary = repo.path().join("step-summary.md");
    std::fs::write(&summary, "earlier step\n").unwrap();
    let output = run_binary_with(
        repo.path(),
        &["validate", "--format", "github"],
        &[("GITHUB_STEP_SUMMARY", &summary)],
    );
    assert_eq!(output.code, 1, "{output:?}");
    let text = std::fs::read_to_string(&summary).unwrap();
    assert!(
        text.starts_with("earlier step\n### promptops validate\n"),
        "{text}"
    );
    assert!(
        text.contains("| error | `unknown-provider` | `prompts/02-production/summarize.yaml:6:13` | unknown provider `nowhere` |"),
        "{text}"
    );
    assert_eq!(text.matches("| error |").count(), 5, "{text}");
}

#[test]
fn findings_are_sorted_by_file_and_line() {
    let repo = TestRepo::sample();
    plant_two_problems(&repo);
    let output = repo.run(&["validate", "--format", "json"]);
    let places: Vec<(String, u64)> = findings(&output)
        .into_iter()
        .map(|(_, f, l)| (f, l))
        .collect();
    let mut sorted = places.clone();
    sorted.sort();
    assert_eq!(places, sorted);
}

#[test]
fn runs_from_a_sub_folder() {
    let repo = TestRepo::sample();
    let output = run_binary(&repo.path().join("prompts/02-production"), &["validate"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stderr.contains("1 task"), "{output:?}");
}

#[test]
fn repo_flag_and_missing_repository() {
    let repo = TestRepo::sample();
    let elsewhere = tempfile::tempdir().unwrap();
    let output = run_binary(
        elsewhere.path(),
        &["--repo", repo.path().to_str().unwrap(), "validate"],
    );
    assert_eq!(output.code, 0, "{output:?}");
    let output = run_binary(elsewhere.path(), &["validate"]);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(output.stderr.contains("hint: "), "{output:?}");
    let output = run_binary(elsewhere.path(), &["--repo", "/no/such/folder", "validate"]);
    assert_eq!(output.code, 2, "{output:?}");
}

#[test]
fn usage_errors_exit_2() {
    let repo = TestRepo::sample();
    let output = repo.run(&["validate", "--format", "xml"]);
    assert_eq!(output.code, 2, "{output:?}");
    let output = repo.run(&["frobnicate"]);
    assert_eq!(output.code, 2, "{output:?}");
    let output = repo.run(&["--help"]);
    assert_eq!(output.code, 0, "{output:?}");
}

#[test]
fn paths_narrow_the_report_to_their_tasks() {
    let repo = TestRepo::sample();
    plant_two_problems(&repo);
    // The examples file of `summarize` takes part in the checks of its task, so the
    // provider problem in its prompt is reported; `other` is not.
    let output = repo.run(&[
        "validate",
        "--format",
        "json",
        "prompts/01-examples/summarize.jsonl",
    ]);
    assert_eq!(output.code, 1, "{output:?}");
    let files: Vec<String> = findings(&output).into_iter().map(|(_, f, _)| f).collect();
    assert!(files.iter().all(|f| !f.contains("other")), "{output:?}");
    assert!(
        files
            .iter()
            .any(|f| f == "prompts/02-production/summarize.yaml"),
        "{output:?}"
    );
    let output = repo.run(&[
        "validate",
        "--format",
        "json",
        "prompts/02-production/other.yaml",
    ]);
    assert!(
        findings(&output)
            .iter()
            .all(|(_, f, _)| !f.contains("summarize.yaml")),
        "{output:?}"
    );
    // A folder takes in the tasks with a file in it: the metadata problem of `summarize`
    // shows when only its prompt's folder is named.
    repo.edit(
        "prompts/03-metadata/summarize.yaml",
        "version: 1.0.0",
        "version: 1.0.1",
    );
    let output = repo.run(&["validate", "--format", "json", "prompts/02-production"]);
    expect_finding(
        &output,
        "metadata-version-mismatch",
        "prompts/03-metadata/summarize.yaml",
        4,
    );
    let output = repo.run(&["validate", "--format", "json", "prompts/01-examples"]);
    assert!(
        findings(&output)
            .iter()
            .all(|(_, f, _)| !f.contains("other")),
        "{output:?}"
    );
    let output = repo.run(&["validate", "/etc/passwd"]);
    assert_eq!(output.code, 2, "{output:?}");
}

#[test]
fn the_bundled_example_is_clean() {
    let repo = crate::support::bundled_example();
    let output = run_binary(repo.path(), &["validate", "--strict"]);
    assert_eq!(output.code, 0, "{output:?}");
    let output = run_binary(repo.path(), &["registry", "--check"]);
    assert_eq!(output.code, 0, "{output:?}");
}

/// Regression (defect 17): a BOM and a duplicate key passed validate and failed in eval.
#[test]
fn validate_and_eval_read_examples_alike() {
    let server = LlmServer::start(always_right);
    let repo = repo(&server, 1, "");
    repo.write_bytes(
        "prompts/01-examples/summarize.jsonl",
        b"\xEF\xBB\xBF{\"id\": \"ex-0\", \"vars\": {\"ticket\": \"ticket 0\"}, \"expected\": \"summary 0\"}\n",
    );
    assert_eq!(repo.run(&["registry"]).code, 0);
    assert_eq!(repo.run(&["validate"]).code, 0);
    let output = eval(&repo, &[]);
    assert_eq!(output.code, 0, "{output:?}");
    assert_eq!(only_summary(&repo)["n"], 1);

    repo.write(
        "prompts/01-examples/summarize.jsonl",
        "{\"id\": \"ex-0\", \"vars\": {\"ticket\": \"a\", \"ticket\": \"b\"}, \"expected\": \"x\"}\n",
    );
    let output = repo.run(&["validate", "--format", "json"]);
    assert_eq!(output.code, 1, "{output:?}");
    expect_finding(
        &output,
        "examples-json",
        "prompts/01-examples/summarize.jsonl",
        1,
    );
    assert!(
        output.stdout.contains("duplicate key `ticket`"),
        "{output:?}"
    );
}

/// Regression (defect 23): `validate nonexistent.yaml` exited 0 claiming every file.
#[test]
fn validate_refuses_a_missing_path_and_counts_what_it_checked() {
    let repo = TestRepo::sample();
    add_second_task(&repo);
    let output = repo.run(&["validate", "nonexistent.yaml"]);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(
        output
            .stderr
            .contains("nonexistent.yaml: no such file or folder"),
        "{output:?}"
    );
    let output = repo.run(&["validate", "prompts/02-production/summarize.yaml"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(
        output.stderr.contains("validated 3 files (1 task)"),
        "{output:?}"
    );
    let output = repo.run(&["validate"]);
    assert!(
        output.stderr.contains("validated 7 files (2 tasks)"),
        "{output:?}"
    );
}

/// Regression (defect 4): `requests_per_second: 1e-19` passed validate and panicked every
/// worker; weights of 1e308 made scores NaN (`null` in the log).
#[test]
fn every_numeric_setting_has_a_range_that_validate_checks() {
    let repo = TestRepo::sample();
    repo.write(
        "promptops.yaml",
        "providers:\n  openai:\n    kind: openai\n    requests_per_second: 1e-19\n    timeout_seconds: 1e300\n",
    );
    repo.edit(
        "prompts/03-metadata/summarize.yaml",
        "    weight: 1\n",
        "    weight: 1e308\n",
    );
    let output = repo.run(&["validate", "--format", "json"]);
    assert_eq!(output.code, 1, "{output:?}");
    for (file, line) in [
        ("promptops.yaml", 4),
        ("promptops.yaml", 5),
        ("prompts/03-metadata/summarize.yaml", 12),
    ] {
        expect_finding(&output, "invalid-value", file, line);
    }
}

/// Regression (defect 19): `values: []` and `scorers: []` passed every example with score 0.
#[test]
fn empty_scorer_and_value_lists_are_errors() {
    let repo = TestRepo::sample();
    repo.edit(
        "prompts/03-metadata/summarize.yaml",
        "  - name: similarity\n    weight: 1\n",
        "  - name: contains\n    options:\n      values: []\n",
    );
    repo.write(
        "prompts/01-examples/summarize.jsonl",
        "{\"id\": \"a\", \"vars\": {\"ticket\": \"t\"}, \"expected\": \"x\", \"scorers\": []}\n",
    );
    let output = repo.run(&["validate", "--format", "json"]);
    assert_eq!(output.code, 1, "{output:?}");
    expect_finding(
        &output,
        "invalid-scorer-options",
        "prompts/03-metadata/summarize.yaml",
        13,
    );
    expect_finding(
        &output,
        "invalid-value",
        "prompts/01-examples/summarize.jsonl",
        1,
    );
    assert!(
        output.stdout.contains("needs at least 1 item"),
        "{output:?}"
    );
}

/// Regression (defect 18): a filter the engine does not have (`{{ x | dump }}`) passed validate,
/// then every example failed.
#[test]
fn validate_checks_filters_tests_and_functions_against_the_engine() {
    let server = LlmServer::start(always_right);
    let repo = repo(&server, 2, "");
    repo.edit(
        "prompts/02-production/summarize.yaml",
        "content: \"Ticket: {{ ticket }}\"",
        "content: \"Ticket: {{ ticket | dump }}\"",
    );
    assert_eq!(repo.run(&["registry"]).code, 1);
    let output = repo.run(&["validate", "--format", "json"]);
    assert_eq!(output.code, 1, "{output:?}");
    expect_finding(
        &output,
        "unknown-template-callable",
        "prompts/02-production/summarize.yaml",
        16,
    );
    assert!(output.stdout.contains("the filter `dump`"), "{output:?}");
    let output = eval(&repo, &[]);
    assert_eq!(output.code, 2, "{output:?}");
    assert_eq!(server.count(), 0, "nothing was sent");
}

/// `validate` as a function: the findings come back as a value, nothing is printed, and the
/// exit status is a pure function of the outcome.
#[test]
fn validate_runs_as_a_function_that_returns_its_findings() {
    let repo = TestRepo::sample();
    repo.edit(
        "prompts/03-metadata/summarize.yaml",
        "threshold: 0.8",
        "threshold: 1.8",
    );
    let global = promptops::cli::GlobalArgs {
        repo: Some(repo.path().to_path_buf()),
        ..Default::default()
    };
    let settings = promptops::settings::Settings::resolve(
        &global,
        promptops::settings::Environment::from_pairs([]),
    )
    .unwrap();
    let args = promptops::cli::ValidateArgs {
        paths: Vec::new(),
        strict: false,
        changed_since: None,
        format: promptops::cli::FindingsFormat::Json,
    };
    let outcome = promptops::commands::validate::execute(&settings, &args).unwrap();
    assert_eq!(outcome.errors(), 1, "{:?}", outcome.shown.findings);
    assert_eq!(
        outcome.shown.findings[0].file,
        "prompts/03-metadata/summarize.yaml"
    );
    // The source line the finding points at travels with it, for the human report.
    assert!(
        outcome
            .shown
            .sources
            .contains_key("prompts/03-metadata/summarize.yaml")
    );
    let status = promptops::exit::status(&promptops::commands::Outcome::Validate(outcome));
    assert_eq!(status, promptops::ExitStatus::Failure);
}
