//! `validate`: output formats, exit codes, repository discovery, path selection.

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
