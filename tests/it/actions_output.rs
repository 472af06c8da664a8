//! Under GitHub Actions every line of a step's output that starts with `::` is a workflow
//! command. Values from files are data: they never start one.

use crate::support::{TestRepo, committed_example, expect_finding};

/// Every line the runner would take as a command (it splits on `\n` and `\r` and trims).
fn commands(text: &str) -> Vec<String> {
    text.split(['\n', '\r'])
        .map(str::trim)
        .filter(|line| line.starts_with("::"))
        .map(str::to_owned)
        .collect()
}

fn under_actions(repo: &TestRepo, args: &[&str]) -> crate::support::Output {
    repo.run_env(args, &[("GITHUB_ACTIONS", "true")])
}

/// Regression: an example id with a newline and `::error`, file names in validate's output and
/// a multi-line `--reason` in history issued workflow commands.
#[test]
fn data_never_issues_a_workflow_command() {
    let repo = committed_example();
    // A reason over several lines, recorded by an archive and shown by history.
    let reason = "retired\n::error::pwned by a reason\n::add-mask::x";
    let archived = under_actions(
        &repo,
        &[
            "archive",
            "normalize-product-title",
            "--candidate",
            "--reason",
            reason,
        ],
    );
    assert_eq!(archived.code, 0, "{archived:?}");
    for args in [
        &["history", "normalize-product-title"][..],
        &["history", "normalize-product-title", "--format", "json"],
    ] {
        let output = under_actions(&repo, args);
        assert_eq!(output.code, 0, "{output:?}");
        assert!(output.stdout.contains("pwned by a reason"), "{output:?}");
        assert_eq!(commands(&output.stdout), Vec::<String>::new(), "{output:?}");
        assert_eq!(commands(&output.stderr), Vec::<String>::new(), "{output:?}");
    }
    // A file whose name carries a command, reported by validate in every format.
    repo.write(
        "prompts/00-templates/x\n::error::pwned by a name.yaml",
        "id: x\n",
    );
    for format in ["human", "github", "json"] {
        let output = under_actions(&repo, &["validate", "--format", format]);
        assert_eq!(
            output.code, 0,
            "a draft's bad name is a warning: {output:?}"
        );
        let all = [commands(&output.stdout), commands(&output.stderr)].concat();
        for line in &all {
            assert!(
                line.starts_with("::error file=") || line.starts_with("::warning file="),
                "{format}: {line:?} in {output:?}"
            );
            assert!(!line.contains('\n'), "{line:?}");
        }
        if format == "github" {
            assert!(
                !all.is_empty(),
                "its own annotations still pass: {output:?}"
            );
        }
    }
}

/// Ids with control characters are refused by validate, so they never reach a report.
#[test]
fn an_example_id_with_a_control_character_is_refused() {
    let repo = TestRepo::sample();
    let examples = repo.read("prompts/01-examples/summarize.jsonl");
    repo.write(
        "prompts/01-examples/summarize.jsonl",
        &examples.replacen("\"id\": \"login\"", "\"id\": \"login\\n::error::x\"", 1),
    );
    let output = repo.run(&["validate", "--format", "json"]);
    assert_eq!(output.code, 1, "{output:?}");
    expect_finding(
        &output,
        "invalid-value",
        "prompts/01-examples/summarize.jsonl",
        1,
    );
}
