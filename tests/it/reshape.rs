//! The reshaped core as its users meet it: commands callable as functions that return
//! outcomes, one settings layer (fixed clock, log filter), typed scorer options in the
//! published schema, and the CLI's help, completions and man page.

use crate::eval::{always_right, eval, repo};
use crate::support::llm_server::LlmServer;
use crate::support::{TestRepo, run_binary};

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

/// `PROMPTOPS_NOW` fixes the clock: run names and times are reproducible.
#[test]
fn a_fixed_clock_names_the_run_and_times_its_summary() {
    let server = LlmServer::start(always_right);
    let repo = repo(&server, 3, "");
    let output = repo.run_env(
        &["eval"],
        &[
            ("TEST_LLM_KEY", crate::eval::KEY),
            ("PROMPTOPS_RETRY_DELAY_SCALE", "0"),
            ("PROMPTOPS_NOW", "2026-01-02T03:04:05Z"),
        ],
    );
    assert_eq!(output.code, 0, "{output:?}");
    let summary: serde_json::Value = serde_json::from_str(
        &repo.read("prompts/04-evals/summarize/20260102T030405Z-production.summary.json"),
    )
    .unwrap();
    assert_eq!(summary["started_at"], "2026-01-02T03:04:05Z");
    assert_eq!(summary["finished_at"], "2026-01-02T03:04:05Z");
    let bad = repo.run_env(&["status"], &[("PROMPTOPS_NOW", "tomorrow")]);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(
        bad.stderr.contains("PROMPTOPS_NOW=tomorrow is not a time"),
        "{bad:?}"
    );
}

/// A summary that cannot be read is skipped with a warning, not silently: the warning goes
/// through the log, whose filter is `PROMPTOPS_LOG` (default `warn`).
#[test]
fn a_skipped_summary_is_logged_under_the_log_filter() {
    let server = LlmServer::start(always_right);
    let repo = repo(&server, 2, "");
    repo.write(
        "prompts/04-evals/summarize/20200101T000000Z-production.summary.json",
        "{not json",
    );
    let output = eval(&repo, &["--resume"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(
        output.stderr.contains("skipped") && output.stderr.contains("is not an eval summary"),
        "{output:?}"
    );
    let quiet = repo.run_env(
        &["eval", "--resume"],
        &[
            ("TEST_LLM_KEY", crate::eval::KEY),
            ("PROMPTOPS_RETRY_DELAY_SCALE", "0"),
            ("PROMPTOPS_LOG", "error"),
        ],
    );
    assert_eq!(quiet.code, 0, "{quiet:?}");
    assert!(!quiet.stderr.contains("skipped"), "{quiet:?}");
}

/// The published metadata schema lists every scorer with its own options, so an editor
/// completes them and flags a typo; `validate` reports the typo once, as the scorer finding.
#[test]
fn the_metadata_schema_lists_each_scorers_options() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/metadata.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let names: Vec<&str> = schema["$defs"]["ScorerName"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|name| name.as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 12, "{names:?}");
    let branches = schema["$defs"]["ScorerSpec"]["allOf"].as_array().unwrap();
    for name in &names {
        assert!(
            branches
                .iter()
                .any(|b| b["if"]["properties"]["name"]["const"] == *name
                    && b["then"]["properties"]["options"]["$ref"].is_string()),
            "no options for {name}"
        );
    }
    let regex = &schema["$defs"]["RegexOptions"];
    assert_eq!(regex["additionalProperties"], false);
    assert_eq!(regex["required"], serde_json::json!(["pattern"]));
    // An editor's validator refuses a misspelt option against the published schema.
    let validator = jsonschema::validator_for(&schema).unwrap();
    let metadata = serde_json::json!({
        "id": "t", "description": "d", "inputs": {}, "output": {"format": "text"},
        "threshold": 0.5,
        "scorers": [{"name": "similarity", "options": {"methd": "token_f1"}}],
    });
    let errors: Vec<String> = validator
        .iter_errors(&metadata)
        .map(|e| e.instance_path().to_string())
        .collect();
    assert!(
        errors.iter().any(|p| p.starts_with("/scorers/0/options")),
        "{errors:?}"
    );
    // promptops itself reports it once, with its own message and line.
    let repo = TestRepo::sample();
    repo.edit(
        "prompts/03-metadata/summarize.yaml",
        "  - name: similarity\n",
        "  - name: similarity\n    options:\n      methd: token_f1\n",
    );
    let output = repo.run(&["validate", "--format", "json"]);
    assert_eq!(output.code, 1, "{output:?}");
    let found = crate::support::findings(&output);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "invalid-scorer-options");
    assert!(
        output.stdout.contains("unknown option `methd`"),
        "{output:?}"
    );
}

/// The help a user reads: no Markdown backticks, no command that does not exist yet, the
/// global options apart, examples; completions and a man page from the same definition.
#[test]
fn help_completions_and_man_page_describe_the_real_cli() {
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut helps = vec![run_binary(here, &["--help"])];
    for command in [
        "validate",
        "registry",
        "status",
        "eval",
        "init",
        "promote",
        "archive",
        "rollback",
        "repair",
        "history",
        "bundle",
        "serve",
        "healthcheck",
        "image",
        "deploy",
        "pipeline",
        "completions",
    ] {
        helps.push(run_binary(here, &[command, "--help"]));
    }
    for help in &helps {
        assert_eq!(help.code, 0, "{help:?}");
        assert!(
            !help.stdout.contains('`'),
            "backticks in help:\n{}",
            help.stdout
        );
    }
    assert!(
        helps[1].stdout.contains("Global options:"),
        "{}",
        helps[1].stdout
    );
    assert!(helps[1].stdout.contains("Examples:"), "{}", helps[1].stdout);
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let output = run_binary(here, &["completions", shell]);
        assert_eq!(output.code, 0, "{output:?}");
        assert!(
            output.stdout.contains("validate") && output.stdout.contains("--candidate"),
            "{shell}: {}",
            output.stdout
        );
    }
    let man = run_binary(here, &["man"]);
    assert_eq!(man.code, 0, "{man:?}");
    assert!(
        man.stdout.starts_with(".ie") || man.stdout.contains(".TH promptops"),
        "{}",
        &man.stdout[..200.min(man.stdout.len())]
    );
    assert!(man.stdout.contains("validate"));
    let bad = run_binary(here, &["completions", "tcsh"]);
    assert_eq!(bad.code, 2, "{bad:?}");
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
