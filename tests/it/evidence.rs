//! Evidence is what was measured: a gate decides on figures recomputed from a run's log, never
//! on what a summary claims; runs are ordered by their recorded times; `promote --eval` and
//! the pipeline decide on the runs they made.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;

use crate::eval::{EVALS, KEY, repo, summaries, write_candidate};
use crate::promote::{paired_eval, promotable, run};
use crate::support::llm_server::{LlmServer, Seen};
use crate::support::{TestRepo, expect_finding};

/// A committed repository whose candidate answers wrong on every example while `wrong` is set
/// (production is always right).
fn switchable(count: usize) -> (LlmServer, TestRepo, Arc<AtomicBool>) {
    let wrong = Arc::new(AtomicBool::new(true));
    let flag = Arc::clone(&wrong);
    let server = LlmServer::start(move |seen: &Seen| {
        if seen.system_text().contains("Be precise.") && flag.load(Ordering::SeqCst) {
            "no idea".to_owned()
        } else {
            format!("summary {}", seen.example_number())
        }
    });
    let repo = repo(&server, count, "");
    write_candidate(&repo, " Be precise.");
    repo.set_identity();
    repo.commit("the candidate", 1_795_437_296);
    (server, repo, wrong)
}

/// The candidate summary of the task's eval folder (the only one), by file name and value.
fn candidate_summary(repo: &TestRepo) -> (String, Value) {
    summaries(repo)
        .into_iter()
        .find(|(name, _)| name.contains("-candidate") && !name.contains(".baseline"))
        .expect("a candidate run")
}

fn write_summary(repo: &TestRepo, name: &str, summary: &Value) {
    repo.write(
        &format!("{EVALS}/{name}"),
        &serde_json::to_string_pretty(summary).unwrap(),
    );
}

/// What a forger writes: a perfect score and a comparison that clears any tolerance.
fn flatter(summary: &mut Value) {
    let n = summary["n"].clone();
    summary["score"] = 1.0.into();
    summary["passed"] = true.into();
    summary["passed_examples"] = n;
    let comparison = &mut summary["comparison"];
    comparison["candidate_score"] = 1.0.into();
    comparison["mean_difference"] = 0.5.into();
    comparison["interval_95"] = serde_json::json!([0.4, 0.6]);
}

/// Regression: a hand-written summary (score 1.0, no log at all) promoted a candidate that
/// really scored 0.000, without --force.
#[test]
fn a_summary_that_disagrees_with_its_log_is_not_evidence() {
    let (_server, repo, _wrong) = switchable(30);
    let output = run(
        &repo,
        &[
            "eval",
            "summarize",
            "--candidate",
            "--baseline",
            "production",
        ],
    );
    assert_eq!(output.code, 1, "the candidate scores 0: {output:?}");
    let (name, mut summary) = candidate_summary(&repo);
    flatter(&mut summary);
    write_summary(&repo, &name, &summary);

    let output = run(&repo, &["promote", "summarize"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stdout.contains("✗ evidence"), "{output:?}");
    assert!(
        output.stdout.contains("do not recompute from its log"),
        "{output:?}"
    );
    let validate = repo.run(&["validate", "--format", "json"]);
    assert_eq!(validate.code, 1, "{validate:?}");
    expect_finding(
        &validate,
        "eval-run-inconsistent",
        &format!("{EVALS}/{name}"),
        u64::try_from(
            serde_json::to_string_pretty(&summary)
                .unwrap()
                .lines()
                .position(|line| line.trim_start().starts_with("\"score\""))
                .unwrap()
                + 1,
        )
        .unwrap(),
    );

    // A summary with no log at all, written by hand under a new name.
    let forged = "20261202T090000Z-candidate";
    summary["run"] = forged.into();
    summary["log"] = format!("{forged}.jsonl").into();
    write_summary(&repo, &format!("{forged}.summary.json"), &summary);
    let output = run(&repo, &["promote", "summarize"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stdout.contains("is missing"), "{output:?}");
    let validate = repo.run(&["validate"]);
    assert_eq!(validate.code, 1, "{validate:?}");
    assert!(
        validate.stderr.contains(&format!("{forged}.summary.json")),
        "{validate:?}"
    );
    // Nothing was promoted.
    assert!(!repo.read("prompt_registry.yaml").contains("event: promote"));
}

/// Regression: the "newest" evidence was the run whose name sorted last, so a committed
/// `99991231T235959Z-candidate` won over the eval `promote --eval` had just run.
#[test]
fn promote_eval_decides_on_the_run_it_made_and_runs_are_ordered_by_time() {
    let (_server, repo, wrong) = switchable(30);
    wrong.store(false, Ordering::SeqCst);
    paired_eval(&repo);
    // A true copy of that passing run under a name that sorts last, and then a candidate that
    // has gone wrong since.
    let (name, summary) = candidate_summary(&repo);
    let run_name = name.trim_end_matches(".summary.json");
    let late = "99991231T235959Z-candidate";
    for (from, to) in [
        (format!("{run_name}.jsonl"), format!("{late}.jsonl")),
        (
            format!("{run_name}.baseline.jsonl"),
            format!("{late}.baseline.jsonl"),
        ),
    ] {
        repo.write(
            &format!("{EVALS}/{to}"),
            &repo.read(&format!("{EVALS}/{from}")),
        );
    }
    let mut copy = summary.clone();
    copy["run"] = late.into();
    copy["log"] = format!("{late}.jsonl").into();
    copy["paired_with"] = format!("{late}.baseline").into();
    write_summary(&repo, &format!("{late}.summary.json"), &copy);
    let mut baseline: Value =
        serde_json::from_str(&repo.read(&format!("{EVALS}/{run_name}.baseline.summary.json")))
            .unwrap();
    baseline["run"] = format!("{late}.baseline").into();
    baseline["log"] = format!("{late}.baseline.jsonl").into();
    baseline["paired_with"] = late.into();
    write_summary(&repo, &format!("{late}.baseline.summary.json"), &baseline);
    assert_eq!(repo.run(&["validate"]).code, 0, "the copy is consistent");

    // An hour later (the runs above were made at the fixed test time).
    let later = |args: &[&str]| {
        repo.run_env(
            args,
            &[
                ("TEST_LLM_KEY", KEY),
                ("PROMPTOPS_RETRY_DELAY_SCALE", "0"),
                ("PROMPTOPS_NOW", "2026-12-02T11:00:00Z"),
            ],
        )
    };
    wrong.store(true, Ordering::SeqCst);
    let output = later(&["promote", "summarize", "--eval", "--no-cache"]);
    assert_eq!(
        output.code, 1,
        "decided on the fresh, failing run: {output:?}"
    );
    assert!(output.stdout.contains("✗ threshold"), "{output:?}");
    assert!(!repo.read("prompt_registry.yaml").contains("event: promote"));

    // Without --eval, the newest run by its recorded time is the one just made (it failed),
    // not the copy whose name sorts last.
    let output = later(&["promote", "summarize", "--dry-run"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stdout.contains("✗ threshold"), "{output:?}");

    // A run dated in the future is no evidence.
    let mut future = copy;
    future["finished_at"] = "2099-01-01T00:00:00Z".into();
    write_summary(&repo, &format!("{late}.summary.json"), &future);
    let output = later(&["promote", "summarize", "--dry-run"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stdout.contains("in the future"), "{output:?}");
}

/// `--evidence RUN` names the runs that may decide; a name that is not a run name is refused
/// before anything is read.
#[test]
fn promote_evidence_decides_only_on_the_named_runs() {
    let (_server, repo) = promotable(30, false);
    paired_eval(&repo);
    let (name, _) = candidate_summary(&repo);
    let run_name = name.trim_end_matches(".summary.json");
    let output = run(
        &repo,
        &["promote", "summarize", "--dry-run", "--evidence", run_name],
    );
    assert_eq!(output.code, 0, "{output:?}");
    let output = run(
        &repo,
        &[
            "promote",
            "summarize",
            "--dry-run",
            "--evidence",
            "20200101T000000Z-candidate",
        ],
    );
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stdout.contains("✗ evidence"), "{output:?}");
    let output = run(
        &repo,
        &["promote", "summarize", "--evidence", "../../etc/passwd"],
    );
    assert_eq!(output.code, 2, "{output:?}");
    assert!(output.stderr.contains("not a run name"), "{output:?}");
}

/// Regression: right after the bundled example's first promotion, `rollback` without `--to`
/// failed ("no archived version has a recorded eval that passed") although a complete passing
/// eval of 1.2.0 was in `04-evals`; and the rollback event's score showed `-`.
#[test]
fn rollback_finds_its_target_in_the_eval_logs_of_that_exact_prompt() {
    let repo = crate::support::committed_example();
    let eval = repo.run(&[
        "eval",
        "normalize-product-title",
        "--candidate",
        "--baseline",
        "production",
        "--offline",
    ]);
    assert_eq!(eval.code, 0, "{eval:?}");
    repo.commit("the paired eval", 1_795_437_400);
    let promoted = repo.run(&["promote", "normalize-product-title"]);
    assert_eq!(promoted.code, 0, "{promoted:?}");
    let output = repo.run(&[
        "rollback",
        "normalize-product-title",
        "--reason",
        "the new titles confuse the search index",
    ]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(
        repo.read("prompts/02-production/normalize-product-title.yaml")
            .contains("version: 1.2.0")
    );
    let history = repo.run(&["history", "normalize-product-title", "--format", "json"]);
    let json: Value = serde_json::from_str(&history.stdout).unwrap();
    let rows = json["rows"].as_array().expect("history rows");
    let rollback = rows
        .iter()
        .rev()
        .find(|row| row["event"] == "rollback")
        .expect("a rollback row");
    let score = rollback["score"].as_f64().expect("the target's score");
    assert!(score > 0.85, "{rollback}");
    // Its evidence is the production half of the paired run.
    let registry = repo.read("prompt_registry.yaml");
    let event = &registry[registry.rfind("event: rollback").expect("a rollback event")..];
    assert!(event.contains(".baseline.summary.json"), "{event}");
}

/// Regression: `rollback --on-regression` judged its target from cached answers from before
/// the drift while the regression itself was measured fresh; both are now measured the same
/// way, and the output says where each score came from.
#[test]
fn a_rollback_target_is_measured_as_the_regression_was() {
    // Every prompt drifted: 1.1.0's cached answers were right, its fresh ones are wrong.
    let (_server, repo, _drift) = crate::promote::drifted(true);
    assert_eq!(run(&repo, &["eval", "summarize", "--no-cache"]).code, 1);
    // Offline, the target cannot be measured fresh: a person is asked, nothing is guessed.
    let output = run(&repo, &["rollback", "--on-regression", "--offline"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(
        output.stdout.contains("--offline cannot measure"),
        "{output:?}"
    );
    let output = run(&repo, &["rollback", "--on-regression"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(
        output.stdout.contains("(fresh answers; threshold"),
        "{output:?}"
    );
    assert!(
        output
            .stdout
            .contains("1.1.0 scores 0.000 on today's examples (fresh answers; does not pass)"),
        "{output:?}"
    );
    assert!(output.stdout.contains("a person is needed"), "{output:?}");
    assert!(
        repo.read("prompts/02-production/summarize.yaml")
            .contains("version: 1.2.0")
    );
    // That fresh eval is now 1.1.0's newest evidence: it is no target any more.
    let output = run(&repo, &["rollback", "--on-regression"]);
    assert!(
        output
            .stdout
            .contains("no archived version has a complete eval"),
        "{output:?}"
    );
}

/// Regression: `promote --eval` with an uncommitted candidate ran every paid request, then
/// refused for the dirty tree; `rollback --on-regression` likewise. What can refuse is checked
/// before any model call.
#[test]
fn what_can_refuse_is_checked_before_any_model_call() {
    let (server, repo) = promotable(12, false);
    repo.edit(
        "prompts/00-templates/summarize.yaml",
        "Be precise.",
        "Be precise!",
    );
    let output = run(&repo, &["promote", "summarize", "--eval"]);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(output.stderr.contains("uncommitted changes"), "{output:?}");
    assert_eq!(server.count(), 0, "no request was paid for");

    let (server, repo, _drift) = crate::promote::drifted(false);
    assert_eq!(run(&repo, &["eval", "summarize", "--no-cache"]).code, 1);
    let asked = server.count();
    repo.write(
        "prompts/03-metadata/summarize.yaml",
        &format!(
            "{}# a note\n",
            repo.read("prompts/03-metadata/summarize.yaml")
        ),
    );
    let output = run(&repo, &["rollback", "--on-regression"]);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(output.stderr.contains("uncommitted changes"), "{output:?}");
    assert_eq!(server.count(), asked, "the target was not evaluated");
}

/// Regression: rollback commits left out their evidence logs (promote includes them). The
/// target's eval files are in the rollback's commit.
#[test]
fn a_rollback_commits_its_targets_eval_files() {
    let (_server, repo, _drift) = crate::promote::drifted(false);
    assert_eq!(run(&repo, &["eval", "summarize", "--no-cache"]).code, 1);
    let output = run(&repo, &["rollback", "--on-regression"]);
    assert!(output.stdout.contains("rolled back to 1.1.0"), "{output:?}");
    let repository = git2::Repository::open(repo.path()).unwrap();
    let head = repository.head().unwrap().peel_to_commit().unwrap();
    let parent = head.parent(0).unwrap();
    let diff = repository
        .diff_tree_to_tree(
            Some(&parent.tree().unwrap()),
            Some(&head.tree().unwrap()),
            None,
        )
        .unwrap();
    let added: Vec<String> = diff
        .deltas()
        .filter_map(|delta| delta.new_file().path().map(|p| p.display().to_string()))
        .filter(|path| path.starts_with(EVALS))
        .collect();
    // The target's fresh eval (a candidate run of the archived 1.1.0): summary and log.
    assert!(
        added
            .iter()
            .any(|path| path.contains("-candidate") && path.contains(".summary."))
            && added
                .iter()
                .any(|path| path.contains("-candidate") && path.rsplit('.').next() == Some("jsonl")),
        "{added:?}"
    );
}
