//! `promptops promote`: gates with their evidence, refusal, override, dry run, and the
//! promotion itself (files, registry history, commit trailers, tag), in real git repositories.

use crate::eval::{KEY, repo, write_candidate};
use crate::support::TestRepo;
use crate::support::llm_server::{LlmServer, Seen};

const NOW: &str = "2026-12-02T10:00:00Z";

/// A repository with production 1.0.0 and candidate 1.1.0 of `summarize` on `count` examples,
/// committed, with a git identity. The candidate is right on every example; production on
/// every other one, unless `production_right` (then both are always right).
pub(crate) fn promotable(count: usize, production_right: bool) -> (LlmServer, TestRepo) {
    let server = LlmServer::start(move |seen: &Seen| {
        let system = seen.system_text();
        let number = seen.example_number();
        if production_right || system.contains("Be precise.") || number.is_multiple_of(2) {
            format!("summary {number}")
        } else {
            "no idea".to_owned()
        }
    });
    let repo = repo(&server, count, "");
    write_candidate(&repo, " Be precise.");
    repo.set_identity();
    repo.commit("the candidate", 1_795_437_296);
    (server, repo)
}

pub(crate) fn run(repo: &TestRepo, args: &[&str]) -> crate::support::Output {
    repo.run_env(
        args,
        &[
            ("TEST_LLM_KEY", KEY),
            ("PROMPTOPS_RETRY_DELAY_SCALE", "0"),
            ("PROMPTOPS_NOW", NOW),
        ],
    )
}

pub(crate) fn paired_eval(repo: &TestRepo) {
    let output = run(
        repo,
        &[
            "eval",
            "summarize",
            "--candidate",
            "--baseline",
            "production",
        ],
    );
    assert_eq!(output.code, 0, "{output:?}");
}

/// `git status` of the prompt files and the registry (the response cache is not in git).
fn git_status(repo: &TestRepo) -> Vec<String> {
    let repository = git2::Repository::open(repo.path()).unwrap();
    let statuses = repository.statuses(None).unwrap();
    statuses
        .iter()
        .filter(|entry| !entry.path().unwrap().starts_with(".promptops/"))
        .map(|entry| format!("{:?} {}", entry.status(), entry.path().unwrap()))
        .collect()
}

#[test]
fn a_candidate_that_passes_every_gate_is_promoted_committed_and_tagged() {
    let (_server, repo) = promotable(30, false);
    paired_eval(&repo);
    let production_before = repo.read("prompts/02-production/summarize.yaml");
    let candidate = repo.read("prompts/00-templates/summarize.yaml");
    let output = run(&repo, &["promote", "summarize"]);
    assert_eq!(output.code, 0, "{output:?}");
    for gate in [
        "✓ valid",
        "✓ newer",
        "✓ evidence",
        "✓ threshold",
        "✓ not-worse",
    ] {
        assert!(output.stdout.contains(gate), "{gate}: {output:?}");
    }
    // The files: candidate → production, old production → archive with its note, metadata
    // version follows.
    expect_files(
        &repo,
        &Files {
            production_bytes: Some(&candidate),
            no_candidate: true,
            archived: &["1.0.0"],
            metadata: Some("1.1.0"),
            ..Files::default()
        },
    );
    let archived = repo.read("prompts/99-archive/summarize/1.0.0.yaml");
    assert!(archived.starts_with(&production_before), "{archived}");
    assert!(
        archived.ends_with("archived:\n  reason: superseded by 1.1.0\n  at: \"2026-12-02T10:00:00Z\"\n  by: \"Pat Doe <pat@example.com>\"\n"),
        "{archived}"
    );
    // The registry: the promote event with its evidence, latest_eval at the candidate's eval.
    let registry = repo.read("prompt_registry.yaml");
    assert!(
        registry.contains("- event: promote\n        version: 1.1.0"),
        "{registry}"
    );
    assert!(
        registry.contains("from: 1.0.0") && registry.contains("delta: 0.5"),
        "{registry}"
    );
    assert!(registry.contains("-candidate.summary.json"), "{registry}");
    // The repository validates clean, and git has all of it: commit, trailers, tag.
    assert_eq!(run(&repo, &["validate", "--strict"]).code, 0);
    assert_eq!(git_status(&repo), Vec::<String>::new());
    let repository = git2::Repository::open(repo.path()).unwrap();
    let head = repository.head().unwrap().peel_to_commit().unwrap();
    let message = head.message().unwrap();
    for trailer in [
        "Promptops-Task: summarize",
        "Promptops-From: 1.0.0",
        "Promptops-To: 1.1.0",
        "Promptops-Score: 1.0000",
        "Promptops-Decision: promote",
    ] {
        assert!(message.contains(trailer), "{trailer}: {message}");
    }
    assert_eq!(head.author().name().unwrap(), "Pat Doe");
    let tag = repository
        .find_reference("refs/tags/prompt/summarize/v1.1.0")
        .unwrap()
        .peel_to_tag()
        .unwrap();
    assert_eq!(tag.target_id(), head.id());
    // Promoting again finds no candidate.
    let again = run(&repo, &["promote", "summarize"]);
    assert_eq!(again.code, 2, "{again:?}");
    // The history joins the registry's event with the commit that carried it out.
    let history = run(&repo, &["history", "summarize", "--format", "json"]);
    assert_eq!(history.code, 0, "{history:?}");
    let json: serde_json::Value = serde_json::from_str(&history.stdout).unwrap();
    let rows = json["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{json}");
    assert_eq!(rows[0]["event"], "promote");
    assert_eq!(rows[0]["from"], "1.0.0");
    assert_eq!(rows[0]["version"], "1.1.0");
    assert_eq!(rows[0]["by"], "Pat Doe <pat@example.com>");
    assert_eq!(rows[0]["commit"], head.id().to_string()[..12]);
    let table = run(&repo, &["history", "summarize"]);
    assert!(
        table.stdout.contains("promote  1.0.0 -> 1.1.0  1.000"),
        "{table:?}"
    );
    assert_eq!(run(&repo, &["history", "nope"]).code, 2);
}

#[test]
fn a_failing_gate_refuses_with_every_gates_evidence_and_changes_nothing() {
    let (_server, repo) = promotable(30, false);
    // No eval yet: evidence, threshold and not-worse fail; valid and newer pass.
    let before = repo.tree();
    let output = run(&repo, &["promote", "summarize"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stdout.contains("✓ valid") && output.stdout.contains("✓ newer"));
    assert!(output.stdout.contains("✗ evidence") && output.stdout.contains("✗ not-worse"));
    assert!(output.stderr.contains("was not promoted"), "{output:?}");
    assert_eq!(repo.tree(), before);
}

/// The threshold gate alone: a candidate better than production (3 in 4 right against 1 in 4)
/// that still misses the task's threshold of 0.8.
#[test]
fn a_candidate_under_the_threshold_is_refused_by_that_gate_alone() {
    let server = LlmServer::start(|seen: &Seen| {
        let system = seen.system_text();
        let number = seen.example_number();
        let right = if system.contains("Be precise.") {
            !number.is_multiple_of(4)
        } else {
            number.is_multiple_of(4)
        };
        if right {
            format!("summary {number}")
        } else {
            "no idea".to_owned()
        }
    });
    let repo = repo(&server, 40, "");
    write_candidate(&repo, " Be precise.");
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
    assert_eq!(
        output.code, 1,
        "the candidate misses the threshold: {output:?}"
    );
    let before = repo.tree();
    let output = run(&repo, &["promote", "summarize", "--format", "json"]);
    assert_eq!(output.code, 1, "{output:?}");
    let json: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
    assert_eq!(json["result"]["decision"], "refused");
    let outcomes: Vec<(&str, &str)> = json["gates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["gate"].as_str().unwrap(), g["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("valid", "pass"),
            ("newer", "pass"),
            ("evidence", "pass"),
            ("threshold", "fail"),
            ("not-worse", "pass")
        ],
        "{}",
        output.stdout
    );
    assert!(
        json["gates"][3]["evidence"]
            .as_str()
            .unwrap()
            .contains("0.750 < threshold 0.8")
    );
    assert_eq!(repo.tree(), before);
}

#[test]
fn a_candidate_no_better_than_production_is_refused_as_possibly_worse() {
    // Both always right: Δ = 0 with a zero-width interval passes; make production better.
    let server = LlmServer::start(|seen: &Seen| {
        let system = seen.system_text();
        let number = seen.example_number();
        if !system.contains("Be precise.") || !number.is_multiple_of(4) {
            format!("summary {number}")
        } else {
            "no idea".to_owned()
        }
    });
    let repo = repo(&server, 40, "");
    write_candidate(&repo, " Be precise.");
    repo.edit(
        "prompts/03-metadata/summarize.yaml",
        "threshold: 0.8",
        "threshold: 0.5",
    );
    assert_eq!(repo.run(&["registry"]).code, 0);
    paired_eval(&repo);
    let before = repo.tree();
    let output = run(&repo, &["promote", "summarize"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stdout.contains("✗ not-worse"), "{output:?}");
    assert!(
        output
            .stdout
            .contains("cannot rule out a drop larger than the tolerance 0.02"),
        "{output:?}"
    );
    assert_eq!(repo.tree(), before);
}

#[test]
fn an_override_needs_a_reason_and_is_recorded() {
    let (_server, repo) = promotable(30, false);
    let before = repo.tree();
    let output = run(&repo, &["promote", "summarize", "--force"]);
    assert_eq!(output.code, 2, "{output:?}");
    let output = run(
        &repo,
        &["promote", "summarize", "--force", "--reason", "  "],
    );
    assert_eq!(output.code, 2, "{output:?}");
    assert!(
        output.stderr.contains("--force needs a --reason"),
        "{output:?}"
    );
    assert_eq!(repo.tree(), before);
    let output = run(
        &repo,
        &[
            "promote",
            "summarize",
            "--force",
            "--reason",
            "hotfix for the outage",
        ],
    );
    assert_eq!(output.code, 0, "{output:?}");
    let registry = repo.read("prompt_registry.yaml");
    assert!(registry.contains("- event: override"), "{registry}");
    assert!(
        registry.contains("reason: hotfix for the outage"),
        "{registry}"
    );
    let repository = git2::Repository::open(repo.path()).unwrap();
    let message = repository
        .head()
        .unwrap()
        .peel_to_commit()
        .unwrap()
        .message()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("Promptops-Decision: override"),
        "{message}"
    );
    assert!(
        message
            .contains("Promptops-Override: evidence, threshold, not-worse (hotfix for the outage)"),
        "{message}"
    );
}

#[test]
fn an_invalid_candidate_is_never_promoted_not_even_by_force() {
    let (_server, repo) = promotable(30, false);
    repo.edit(
        "prompts/00-templates/summarize.yaml",
        "{{ ticket }}",
        "{{ tikcet }}",
    );
    let before = repo.tree();
    let output = run(
        &repo,
        &["promote", "summarize", "--force", "--reason", "try"],
    );
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stdout.contains("✗ valid"), "{output:?}");
    assert_eq!(repo.tree(), before);
}

#[test]
fn a_dry_run_shows_the_plan_and_changes_nothing() {
    let (_server, repo) = promotable(30, false);
    paired_eval(&repo);
    let before = repo.tree();
    let status = git_status(&repo);
    let output = run(&repo, &["promote", "summarize", "--dry-run"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(
        output
            .stdout
            .contains("write  prompts/99-archive/summarize/1.0.0.yaml"),
        "{output:?}"
    );
    assert!(
        output
            .stdout
            .contains("remove prompts/00-templates/summarize.yaml"),
        "{output:?}"
    );
    assert!(output.stdout.contains("Promptops-To: 1.1.0"), "{output:?}");
    assert_eq!(repo.tree(), before);
    assert_eq!(git_status(&repo), status);
}

#[test]
fn a_first_version_needs_no_comparison_and_no_commit_leaves_it_staged() {
    let (_server, repo) = promotable(12, false);
    // Make the task's first version: no production yet.
    repo.remove("prompts/02-production/summarize.yaml");
    repo.edit(
        "prompts/03-metadata/summarize.yaml",
        "version: 1.0.0",
        "version: 1.1.0",
    );
    assert_eq!(
        repo.run(&["registry"]).code,
        0,
        "{:?}",
        repo.run(&["validate"])
    );
    let output = run(&repo, &["eval", "summarize", "--candidate"]);
    assert_eq!(output.code, 0, "{output:?}");
    let output = run(
        &repo,
        &["promote", "summarize", "--no-commit", "--allow-dirty"],
    );
    assert_eq!(output.code, 0, "{output:?}");
    assert!(
        output.stdout.contains("- not-worse  no production prompt"),
        "{output:?}"
    );
    assert!(
        output.stderr.contains("staged, not committed"),
        "{output:?}"
    );
    let status = git_status(&repo);
    assert!(
        status
            .iter()
            .any(|s| s.contains("INDEX") && s.ends_with("prompts/02-production/summarize.yaml")),
        "{status:?}"
    );
    let repository = git2::Repository::open(repo.path()).unwrap();
    assert!(
        repository
            .find_reference("refs/tags/prompt/summarize/v1.1.0")
            .is_err()
    );
}

#[test]
fn without_a_git_identity_the_promotion_asks_for_one_and_takes_the_actions_actor() {
    let (_server, repo) = promotable(30, false);
    paired_eval(&repo);
    let config = git2::Repository::open(repo.path())
        .unwrap()
        .config()
        .unwrap();
    let mut local = config.open_level(git2::ConfigLevel::Local).unwrap();
    local.remove("user.name").unwrap();
    local.remove("user.email").unwrap();
    let home = tempfile::tempdir().unwrap();
    let home = home.path().to_str().unwrap();
    let base = [
        ("TEST_LLM_KEY", KEY),
        ("PROMPTOPS_NOW", NOW),
        ("HOME", home),
        ("XDG_CONFIG_HOME", home),
        ("GIT_CONFIG_NOSYSTEM", "1"),
    ];
    let before = repo.tree();
    let output = repo.run_env(&["promote", "summarize"], &base);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(
        output.stderr.contains("user.name") && output.stderr.contains("GITHUB_ACTOR"),
        "{output:?}"
    );
    assert_eq!(repo.tree(), before);
    let mut actions = base.to_vec();
    actions.extend([("GITHUB_ACTIONS", "true"), ("GITHUB_ACTOR", "octocat")]);
    let output = repo.run_env(&["promote", "summarize"], &actions);
    assert_eq!(output.code, 0, "{output:?}");
    let repository = git2::Repository::open(repo.path()).unwrap();
    let head = repository.head().unwrap().peel_to_commit().unwrap();
    assert_eq!(
        head.author().email().unwrap(),
        "octocat@users.noreply.github.com"
    );
}

#[test]
fn promote_eval_runs_the_paired_eval_and_takes_it_as_evidence() {
    let (server, repo) = promotable(30, false);
    for wrong in [
        &["promote", "summarize", "--offline"][..],
        &["promote", "summarize", "--eval", "--dry-run"][..],
    ] {
        let output = run(&repo, wrong);
        assert_eq!(output.code, 2, "{wrong:?}: {output:?}");
    }
    assert_eq!(server.count(), 0);
    let output = run(&repo, &["promote", "summarize", "--eval"]);
    assert_eq!(output.code, 0, "{output:?}");
    // Both prompts on every example: the paired run.
    assert_eq!(server.count(), 60);
    assert!(output.stdout.contains("✓ not-worse"), "{output:?}");
    assert!(
        output.stderr.contains("candidate − production 1.0.0"),
        "{output:?}"
    );
    assert!(
        repo.read("prompt_registry.yaml")
            .contains("- event: promote")
    );
    assert_eq!(git_status(&repo), Vec::<String>::new());
}

#[test]
fn archive_retires_a_candidate_or_the_production_prompt_with_its_note() {
    let (_server, repo) = promotable(12, false);
    let before = repo.tree();
    for wrong in [
        &["archive", "summarize", "--reason", " "][..],
        &["archive", "summarize"][..],
        &["archive", "nope", "--reason", "x"][..],
    ] {
        let output = run(&repo, wrong);
        assert_eq!(output.code, 2, "{wrong:?}: {output:?}");
    }
    let output = run(
        &repo,
        &[
            "archive",
            "summarize",
            "--candidate",
            "--reason",
            "no better",
            "--dry-run",
        ],
    );
    assert_eq!(output.code, 0, "{output:?}");
    assert!(
        output
            .stdout
            .contains("write  prompts/99-archive/summarize/1.1.0.yaml")
    );
    assert_eq!(repo.tree(), before);

    let candidate = repo.read("prompts/00-templates/summarize.yaml");
    let output = run(
        &repo,
        &[
            "archive",
            "summarize",
            "--candidate",
            "--reason",
            "no better",
        ],
    );
    assert_eq!(output.code, 0, "{output:?}");
    expect_files(
        &repo,
        &Files {
            no_candidate: true,
            archived: &["1.1.0"],
            ..Files::default()
        },
    );
    let archived = repo.read("prompts/99-archive/summarize/1.1.0.yaml");
    assert!(archived.starts_with(&candidate));
    assert!(
        archived.contains("archived:\n  reason: no better\n"),
        "{archived}"
    );
    assert_eq!(run(&repo, &["validate", "--strict"]).code, 0);
    let output = run(
        &repo,
        &["archive", "summarize", "--candidate", "--reason", "again"],
    );
    assert_eq!(output.code, 2, "{output:?}");
    // The same version again as a candidate: its archive place is taken, and stays as it is.
    repo.write("prompts/00-templates/summarize.yaml", &candidate);
    let output = run(
        &repo,
        &[
            "archive",
            "summarize",
            "--candidate",
            "--reason",
            "again",
            "--allow-dirty",
        ],
    );
    assert_eq!(output.code, 2, "{output:?}");
    assert!(output.stderr.contains("is never replaced"), "{output:?}");
    assert_eq!(
        repo.read("prompts/99-archive/summarize/1.1.0.yaml"),
        archived
    );
    repo.remove("prompts/00-templates/summarize.yaml");

    // The production prompt: the task is retired, and still validates clean.
    let output = run(
        &repo,
        &["archive", "summarize", "--reason", "feature removed"],
    );
    assert_eq!(output.code, 0, "{output:?}");
    expect_files(
        &repo,
        &Files {
            archived: &["1.0.0"],
            ..Files::default()
        },
    );
    assert_eq!(run(&repo, &["validate", "--strict"]).code, 0);
    let status = run(&repo, &["status", "--format", "json"]);
    assert!(status.stdout.contains("\"retired\": true"), "{status:?}");
    let history = run(&repo, &["history", "summarize", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&history.stdout).unwrap();
    let events: Vec<(&str, &str)> = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["event"].as_str().unwrap(), r["version"].as_str().unwrap()))
        .collect();
    assert_eq!(
        events,
        [("archive", "1.1.0"), ("archive", "1.0.0")],
        "{json}"
    );
    let repository = git2::Repository::open(repo.path()).unwrap();
    let message = repository
        .head()
        .unwrap()
        .peel_to_commit()
        .unwrap()
        .message()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("Promptops-Decision: archive-production"),
        "{message}"
    );
    assert_eq!(git_status(&repo), Vec::<String>::new());
}

#[test]
fn rollback_restores_an_archived_version_and_archives_production() {
    let (_server, repo) = promotable(12, false);
    let original = repo.read("prompts/02-production/summarize.yaml");
    paired_eval(&repo);
    assert_eq!(run(&repo, &["promote", "summarize"]).code, 0);
    let promoted = repo.read("prompts/02-production/summarize.yaml");
    // 1.0.0 came before promptops recorded evals: no default target, and --to names it.
    let output = run(
        &repo,
        &["rollback", "summarize", "--reason", "worse in production"],
    );
    assert_eq!(output.code, 2, "{output:?}");
    assert!(
        output.stderr.contains("--to") && output.stderr.contains("1.0.0"),
        "{output:?}"
    );
    let before = repo.tree();
    let output = run(
        &repo,
        &[
            "rollback",
            "summarize",
            "--to",
            "1.0.0",
            "--reason",
            "worse in production",
            "--dry-run",
        ],
    );
    assert_eq!(output.code, 0, "{output:?}");
    assert_eq!(repo.tree(), before);
    let output = run(
        &repo,
        &[
            "rollback",
            "summarize",
            "--to",
            "1.0.0",
            "--reason",
            "worse in production",
        ],
    );
    assert_eq!(output.code, 0, "{output:?}");
    // Production is byte for byte what it was; 1.1.0 is archived with the reason.
    expect_files(
        &repo,
        &Files {
            production_bytes: Some(&original),
            archived: &["1.1.0"],
            not_archived: &["1.0.0"],
            metadata: Some("1.0.0"),
            ..Files::default()
        },
    );
    let archived = repo.read("prompts/99-archive/summarize/1.1.0.yaml");
    assert!(archived.starts_with(&promoted), "{archived}");
    assert!(
        archived.contains("reason: \"rolled back: worse in production\""),
        "{archived}"
    );
    assert_eq!(run(&repo, &["validate", "--strict"]).code, 0);
    assert_eq!(git_status(&repo), Vec::<String>::new());
    let history = run(&repo, &["history", "summarize", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&history.stdout).unwrap();
    let last = json["rows"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["event"], "rollback");
    assert_eq!(last["from"], "1.1.0");
    assert_eq!(last["version"], "1.0.0");
    assert!(last["commit"].is_string(), "{json}");
    // Now 1.1.0 has a recorded eval that passed: it is the default target, and once restored
    // its eval is the latest again.
    let output = run(
        &repo,
        &[
            "rollback",
            "summarize",
            "--reason",
            "back again",
            "--dry-run",
        ],
    );
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stdout.contains("Promptops-To: 1.1.0"), "{output:?}");
}

/// Production is locked: an in-place edit of a production version the registry records is an
/// error that `registry` refuses to record; the way out is a candidate and `promote`.
#[test]
fn production_edited_in_place_is_an_error_until_promoted_properly() {
    let (_server, repo) = promotable(12, false);
    repo.edit(
        "prompts/02-production/summarize.yaml",
        "Summarise",
        "Summarize",
    );
    let output = run(&repo, &["validate", "--format", "json"]);
    assert_eq!(output.code, 1, "{output:?}");
    crate::support::expect_finding(
        &output,
        "production-changed",
        "prompts/02-production/summarize.yaml",
        3,
    );
    assert!(
        output.stdout.contains("promptops promote summarize"),
        "{output:?}"
    );
    // The registry keeps its record; the eval refuses to spend calls on it.
    let registry = repo.read("prompt_registry.yaml");
    assert_eq!(run(&repo, &["registry"]).code, 1);
    assert_eq!(repo.read("prompt_registry.yaml"), registry);
    assert_eq!(run(&repo, &["eval", "summarize"]).code, 2);
    // Restored, it is clean again.
    repo.edit(
        "prompts/02-production/summarize.yaml",
        "Summarize",
        "Summarise",
    );
    assert_eq!(run(&repo, &["validate"]).code, 0);
}

/// A promotion killed after any of its steps (journal written, each file, the commit) leaves
/// a journal; the next command finishes it, and the repository ends exactly as a promotion
/// that was never interrupted.
#[test]
fn a_promotion_killed_at_any_step_is_finished_by_the_next_command() {
    for point in [
        "journal", "step-1", "step-2", "step-3", "step-4", "step-5", "commit",
    ] {
        let (_server, repo) = promotable(12, false);
        paired_eval(&repo);
        let killed = repo.run_env(
            &["promote", "summarize"],
            &[("PROMPTOPS_NOW", NOW), ("PROMPTOPS_FAIL_AT", point)],
        );
        assert_ne!(killed.code, 0, "{point}: {killed:?}");
        assert!(
            repo.path().join(".promptops/journal.json").is_file(),
            "{point}: no journal"
        );
        // A read-only command says what is pending and changes nothing.
        let before = repo.tree();
        let status = run(&repo, &["status"]);
        assert_eq!(status.code, 0, "{point}: {status:?}");
        assert!(
            status
                .stderr
                .contains("an interrupted promote summarize 1.1.0")
                && status.stderr.contains("`promptops repair` finishes it"),
            "{point}: {status:?}"
        );
        assert_eq!(repo.tree(), before, "{point}: status wrote");
        let repair = run(&repo, &["repair"]);
        assert_eq!(repair.code, 0, "{point}: {repair:?}");
        assert!(
            repair
                .stderr
                .contains("finished an interrupted promote summarize 1.1.0"),
            "{point}: {repair:?}"
        );
        assert!(
            !repo.path().join(".promptops/journal.json").exists(),
            "{point}"
        );
        expect_files(
            &repo,
            &Files {
                no_candidate: true,
                archived: &["1.0.0"],
                ..Files::default()
            },
        );
        assert_eq!(run(&repo, &["validate", "--strict"]).code, 0, "{point}");
        assert_eq!(git_status(&repo), Vec::<String>::new(), "{point}");
        let repository = git2::Repository::open(repo.path()).unwrap();
        let head = repository.head().unwrap().peel_to_commit().unwrap();
        assert!(
            head.message().unwrap().contains("Promptops-To: 1.1.0"),
            "{point}"
        );
        // Exactly one promotion commit on top of the setup's.
        assert_eq!(head.parent(0).unwrap().message().unwrap(), "the candidate");
        assert!(
            repository
                .find_reference("refs/tags/prompt/summarize/v1.1.0")
                .is_ok(),
            "{point}: no tag"
        );
    }
}

/// A second command waits for the repository lock, then gives up naming the holder.
#[test]
fn a_promotion_waits_for_the_repository_lock() {
    let (_server, repo) = promotable(12, false);
    paired_eval(&repo);
    std::fs::create_dir_all(repo.path().join(".promptops")).unwrap();
    let mut held = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(repo.path().join(".promptops/lock"))
        .unwrap();
    held.lock().unwrap();
    std::io::Write::write_all(&mut held, b"pid 1: a test\n").unwrap();
    let before = repo.tree();
    let started = std::time::Instant::now();
    let output = run(&repo, &["promote", "summarize", "--lock-timeout", "1"]);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(started.elapsed() >= std::time::Duration::from_secs(1));
    assert!(output.stderr.contains("pid 1: a test"), "{output:?}");
    assert_eq!(repo.tree(), before);
    held.unlock().unwrap();
    let output = run(&repo, &["promote", "summarize"]);
    assert_eq!(output.code, 0, "{output:?}");
}

/// `--bump` sets the candidate's version from production's; the evidence must be of the
/// bumped candidate, which `--eval` provides.
#[test]
fn bump_raises_the_candidate_from_productions_version() {
    let (_server, repo) = promotable(12, false);
    paired_eval(&repo);
    let before = repo.tree();
    let output = run(
        &repo,
        &["promote", "summarize", "--bump", "patch", "--dry-run"],
    );
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stdout.contains("1.0.0 -> 1.0.1"), "{output:?}");
    // The earlier eval was of the unbumped content: it is not evidence for this one.
    assert!(output.stdout.contains("✗ evidence"), "{output:?}");
    assert_eq!(repo.tree(), before);
    let output = run(
        &repo,
        &["promote", "summarize", "--bump", "major", "--eval"],
    );
    assert_eq!(output.code, 0, "{output:?}");
    expect_files(
        &repo,
        &Files {
            production: Some("2.0.0"),
            metadata: Some("2.0.0"),
            ..Files::default()
        },
    );
    let repository = git2::Repository::open(repo.path()).unwrap();
    assert!(
        repository
            .find_reference("refs/tags/prompt/summarize/v2.0.0")
            .is_ok()
    );
    assert_eq!(run(&repo, &["validate", "--strict"]).code, 0);
}

/// `--changed-since REF`: a pull request checks and evaluates only what it touched.
#[test]
fn changed_since_limits_validate_eval_and_status_to_the_changed_tasks() {
    let repo = crate::support::bundled_example();
    repo.commit("the example", 1_795_437_296);
    let base = git2::Repository::open(repo.path())
        .unwrap()
        .head()
        .unwrap()
        .peel_to_commit()
        .unwrap()
        .id()
        .to_string();
    let status = run(
        &repo,
        &["status", "--changed-since", &base, "--format", "json"],
    );
    assert_eq!(status.code, 0, "{status:?}");
    assert!(status.stdout.contains("\"tasks\": []"), "{status:?}");
    let output = run(&repo, &["eval", "--offline", "--changed-since", &base]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stderr.contains("nothing to evaluate"), "{output:?}");
    // Touch one task's examples: only that task is checked, evaluated and shown.
    let examples = "prompts/01-examples/classify-product-category.jsonl";
    let text = repo.read(examples);
    repo.write(examples, &format!("{text}\n"));
    let status = run(
        &repo,
        &["status", "--changed-since", &base, "--format", "json"],
    );
    let json: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    let tasks: Vec<&str> = json["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["task"].as_str().unwrap())
        .collect();
    assert_eq!(tasks, ["classify-product-category"]);
    let validate = run(&repo, &["validate", "--changed-since", &base]);
    assert!(validate.stderr.contains("(1 task)"), "{validate:?}");
    let output = run(
        &repo,
        &[
            "eval",
            "--offline",
            "--changed-since",
            &base,
            "--format",
            "json",
        ],
    );
    assert_eq!(output.code, 0, "{output:?}");
    let runs: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
    assert_eq!(runs["runs"].as_array().unwrap().len(), 1, "{runs}");
    assert_eq!(
        runs["runs"][0]["summary"]["task"],
        "classify-product-category"
    );
    // An unknown revision is a usage error.
    assert_eq!(
        run(&repo, &["status", "--changed-since", "no-such-ref"]).code,
        2
    );
}

/// Uncommitted work in the files a change would touch is refused unless --allow-dirty.
#[test]
fn uncommitted_work_in_the_files_a_change_touches_is_refused() {
    let (_server, repo) = promotable(12, false);
    paired_eval(&repo);
    // A comment added to the metadata and not committed: the promotion would rewrite it.
    let metadata = "prompts/03-metadata/summarize.yaml";
    repo.write(metadata, &format!("# note\n{}", repo.read(metadata)));
    assert_eq!(repo.run(&["registry"]).code, 0);
    let before = repo.tree();
    let output = run(&repo, &["promote", "summarize"]);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(
        output.stderr.contains("uncommitted changes") && output.stderr.contains(metadata),
        "{output:?}"
    );
    assert_eq!(repo.tree(), before);
    // A dry run shows the plan whatever the work tree holds.
    assert_eq!(run(&repo, &["promote", "summarize", "--dry-run"]).code, 0);
    let output = run(&repo, &["promote", "summarize", "--allow-dirty"]);
    assert_eq!(output.code, 0, "{output:?}");
    // Work in progress on a candidate is not archived away unasked.
    let candidate = "prompts/00-templates/summarize.yaml";
    let next = repo
        .read("prompts/02-production/summarize.yaml")
        .replace("version: 1.1.0", "version: 1.2.0");
    repo.write(candidate, &format!("{next}# still thinking\n"));
    let output = run(
        &repo,
        &["archive", "summarize", "--candidate", "--reason", "x"],
    );
    assert_eq!(output.code, 2, "{output:?}");
    assert!(output.stderr.contains(candidate), "{output:?}");
    let output = run(
        &repo,
        &[
            "archive",
            "summarize",
            "--candidate",
            "--reason",
            "x",
            "--allow-dirty",
        ],
    );
    assert_eq!(output.code, 0, "{output:?}");
}

/// A paired eval run as shards (a CI matrix) and merged is evidence like one run.
#[test]
fn a_merged_sharded_paired_eval_is_promotion_evidence() {
    let (_server, repo) = promotable(30, false);
    for shard in ["1/2", "2/2"] {
        let output = run(
            &repo,
            &[
                "eval",
                "summarize",
                "--candidate",
                "--baseline",
                "production",
                "--shard",
                shard,
            ],
        );
        assert_eq!(output.code, 0, "{shard}: {output:?}");
    }
    // Shards alone are not evidence.
    let output = run(&repo, &["promote", "summarize", "--dry-run"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stdout.contains("one shard"), "{output:?}");
    let output = run(&repo, &["eval", "merge", "prompts/04-evals"]);
    assert_eq!(output.code, 0, "{output:?}");
    let output = run(&repo, &["promote", "summarize"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(
        output
            .stdout
            .contains("-candidate-merged: complete, 30 examples"),
        "{output:?}"
    );
    assert!(
        output.stdout.contains("✓ not-worse") && output.stdout.contains("n = 30"),
        "{output:?}"
    );
}

/// A repository where 1.1.0 and then 1.2.0 were promoted on passing evals, served by a model
/// that, once `drift` is set, answers 1.2.0's prompt wrongly (and, with `all`, every prompt).
pub(crate) fn drifted(all: bool) -> (LlmServer, TestRepo, Drift) {
    drifted_where(move |system, _| all || system.contains("Be brief."))
}

pub(crate) type Drift = std::sync::Arc<std::sync::atomic::AtomicBool>;

/// `drifted`, where `wrong(system message, example number)` says which answers go wrong
/// once the drift is set.
fn drifted_where(
    wrong: impl Fn(&str, u32) -> bool + Send + Sync + 'static,
) -> (LlmServer, TestRepo, Drift) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let drift = std::sync::Arc::new(AtomicBool::new(false));
    let flag = std::sync::Arc::clone(&drift);
    let server = LlmServer::start(move |seen: &Seen| {
        let system = seen.system_text();
        let number = seen.example_number();
        let drifted = flag.load(Ordering::SeqCst) && wrong(system, number);
        if system.contains("Be precise.") && !drifted {
            format!("summary {number}")
        } else {
            "no idea".to_owned()
        }
    });
    let repo = repo(&server, 12, "");
    write_candidate(&repo, " Be precise.");
    repo.set_identity();
    repo.commit("the candidate", 1_795_437_296);
    paired_eval(&repo);
    assert_eq!(run(&repo, &["promote", "summarize"]).code, 0);
    let next = repo
        .read("prompts/02-production/summarize.yaml")
        .replace("version: 1.1.0", "version: 1.2.0")
        .replace("Be precise.", "Be precise. Be brief.");
    repo.write("prompts/00-templates/summarize.yaml", &next);
    repo.commit("1.2.0", 1_795_437_300);
    paired_eval(&repo);
    let output = run(&repo, &["promote", "summarize"]);
    assert_eq!(output.code, 0, "{output:?}");
    drift.store(true, Ordering::SeqCst);
    (server, repo, drift)
}

#[test]
fn a_score_regression_rolls_back_to_a_target_that_does_better() {
    let (_server, repo, _drift) = drifted(false);
    // Before the nightly re-eval there is nothing to decide on.
    let output = run(&repo, &["rollback", "--on-regression"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stdout.contains("nothing to decide"), "{output:?}");
    // The nightly re-eval of production (not from the cache: the model changed), 1.2.0 fails.
    assert_eq!(run(&repo, &["eval", "summarize", "--no-cache"]).code, 1);
    let output = run(&repo, &["rollback", "--on-regression", "--no-cache"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(
        output.stdout.contains("is below the threshold 0.8"),
        "{output:?}"
    );
    assert!(
        output
            .stdout
            .contains("1.1.0 scores 1.000 on today's examples (fresh answers; passes)"),
        "{output:?}"
    );
    assert!(output.stdout.contains("rolled back to 1.1.0"), "{output:?}");
    expect_files(
        &repo,
        &Files {
            production: Some("1.1.0"),
            archived: &["1.2.0"],
            ..Files::default()
        },
    );
    assert_eq!(run(&repo, &["validate", "--strict"]).code, 0);
    let history = run(&repo, &["history", "summarize", "--format", "json"]);
    assert!(history.stdout.contains("score regression"), "{history:?}");
}

#[test]
fn a_score_regression_without_a_better_target_needs_a_person() {
    let (_server, repo, _drift) = drifted(true);
    assert_eq!(run(&repo, &["eval", "summarize", "--no-cache"]).code, 1);
    let before = repo.tree();
    let output = run(
        &repo,
        &[
            "rollback",
            "--on-regression",
            "summarize",
            "--no-cache",
            "--format",
            "json",
        ],
    );
    assert_eq!(output.code, 1, "{output:?}");
    let json: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
    assert_eq!(json["decisions"][0]["regressed"], true);
    assert!(
        json["decisions"][0]["action"]
            .as_str()
            .unwrap()
            .starts_with("a person is needed"),
        "{json}"
    );
    assert_eq!(json["rollbacks"].as_array().unwrap().len(), 0);
    // Only the target's eval logs are new; no prompt, metadata or registry changed.
    let after = repo.tree();
    for (path, bytes) in &before {
        assert_eq!(after.get(path), Some(bytes), "{}", path.display());
    }
}

/// `repair --undo` puts back what a killed promotion changed; once committed it cannot.
#[test]
fn repair_undo_puts_back_a_killed_promotion() {
    let (_server, repo) = promotable(12, false);
    paired_eval(&repo);
    let output = run(&repo, &["repair"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stderr.contains("nothing to repair"), "{output:?}");
    // The tree outside .promptops/ (the lock, temp files and cache live there), as sha256s.
    let outside = |tree: std::collections::BTreeMap<std::path::PathBuf, Vec<u8>>| {
        tree.into_iter()
            .filter(|(path, _)| {
                !path
                    .strip_prefix(repo.path())
                    .unwrap_or(path)
                    .starts_with(".promptops")
            })
            .map(|(path, bytes)| (path, promptops::domain::source::sha256_hex(&bytes)))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let before = outside(repo.tree());
    let status = git_status(&repo);
    let killed = repo.run_env(
        &["promote", "summarize"],
        &[("PROMPTOPS_NOW", NOW), ("PROMPTOPS_FAIL_AT", "step-3")],
    );
    assert_ne!(killed.code, 0, "{killed:?}");
    assert_ne!(outside(repo.tree()), before);
    let output = run(&repo, &["repair", "--undo"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(
        output
            .stderr
            .contains("undid the interrupted promote summarize 1.1.0"),
        "{output:?}"
    );
    assert_eq!(outside(repo.tree()), before);
    assert_eq!(git_status(&repo), status);
    assert!(!repo.path().join(".promptops/journal.json").exists());
    // Killed after its commit: only finishing is left.
    let killed = repo.run_env(
        &["promote", "summarize"],
        &[("PROMPTOPS_NOW", NOW), ("PROMPTOPS_FAIL_AT", "commit")],
    );
    assert_ne!(killed.code, 0, "{killed:?}");
    let output = run(&repo, &["repair", "--undo"]);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(output.stderr.contains("git revert"), "{output:?}");
    let output = run(&repo, &["repair"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(
        output.stderr.contains("finished the interrupted")
            || output.stderr.contains("finished an interrupted"),
        "{output:?}"
    );
    assert_eq!(git_status(&repo), Vec::<String>::new());
}

/// `promote --changed-since REF` takes every changed candidate, each on its own.
#[test]
fn promote_changed_since_takes_each_changed_candidate() {
    let (_server, repo) = promotable(12, false);
    paired_eval(&repo);
    let head = git2::Repository::open(repo.path())
        .unwrap()
        .head()
        .unwrap()
        .peel_to_commit()
        .unwrap()
        .id()
        .to_string();
    // Nothing changed since HEAD: nothing to promote.
    let output = run(&repo, &["promote", "--changed-since", &head, "--dry-run"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stderr.contains("nothing to promote"), "{output:?}");
    // Since the empty tree (before the repository's first commit), the candidate changed.
    let output = run(
        &repo,
        &[
            "promote",
            "--changed-since",
            "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
            "--dry-run",
            "--format",
            "json",
        ],
    );
    assert_eq!(output.code, 0, "{output:?}");
    let json: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 1, "{json}");
    assert_eq!(json[0]["task"], "summarize");
    assert_eq!(json[0]["result"]["decision"], "dry-run");
    // A task name and --changed-since do not go together.
    assert_eq!(
        run(&repo, &["promote", "summarize", "--changed-since", &head]).code,
        2
    );
}

/// Two promotions of the same candidate at once: one promotes, the other waits for the lock,
/// then finds nothing left to promote; the repository has exactly one promotion.
#[test]
fn two_concurrent_promotions_make_one() {
    let (_server, repo) = promotable(12, false);
    paired_eval(&repo);
    let env = [
        ("TEST_LLM_KEY", KEY),
        ("PROMPTOPS_RETRY_DELAY_SCALE", "0"),
        ("PROMPTOPS_NOW", NOW),
    ];
    let first = repo
        .command(&["promote", "summarize"], &env)
        .spawn()
        .unwrap();
    let second = repo
        .command(&["promote", "summarize"], &env)
        .spawn()
        .unwrap();
    let codes: Vec<i32> = [first, second]
        .into_iter()
        .map(|child| {
            child
                .wait_with_output()
                .unwrap()
                .status
                .code()
                .unwrap_or(-1)
        })
        .collect();
    let mut sorted = codes.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, [0, 2], "{codes:?}");
    let repository = git2::Repository::open(repo.path()).unwrap();
    let head = repository.head().unwrap().peel_to_commit().unwrap();
    assert!(
        head.message()
            .unwrap()
            .starts_with("promote summarize 1.1.0")
    );
    assert_eq!(head.parent(0).unwrap().message().unwrap(), "the candidate");
    assert_eq!(run(&repo, &["validate", "--strict"]).code, 0);
    assert_eq!(git_status(&repo), Vec::<String>::new());
}

/// A drop beyond the tolerance that stays above the threshold is a regression too, measured
/// paired on the same examples against the run recorded at promotion.
#[test]
fn a_paired_drop_beyond_the_tolerance_is_a_regression() {
    let (_server, repo, _drift) =
        drifted_where(|system, number| system.contains("Be brief.") && number % 6 == 0);
    let output = run(&repo, &["eval", "summarize", "--no-cache"]);
    assert_eq!(output.code, 0, "still above the threshold: {output:?}");
    let output = run(&repo, &["rollback", "--on-regression", "--no-cache"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(
        output.stdout.contains("paired on the same examples"),
        "{output:?}"
    );
    assert!(output.stdout.contains("n = 12"), "{output:?}");
    assert!(output.stdout.contains("rolled back to 1.1.0"), "{output:?}");
}

/// A rollback target that no longer fits today's metadata is refused, saying what differs.
#[test]
fn a_rollback_target_that_no_longer_fits_the_metadata_is_refused() {
    let (_server, repo) = promotable(12, false);
    // 1.1.0 takes the input under a new name, and the metadata and examples follow.
    let candidate = repo
        .read("prompts/00-templates/summarize.yaml")
        .replace("{{ ticket }}", "{{ text }}");
    repo.write("prompts/00-templates/summarize.yaml", &candidate);
    repo.edit("prompts/03-metadata/summarize.yaml", "  ticket:", "  text:");
    let examples = repo
        .read("prompts/01-examples/summarize.jsonl")
        .replace("\"ticket\"", "\"text\"");
    repo.write("prompts/01-examples/summarize.jsonl", &examples);
    let output = run(
        &repo,
        &[
            "promote",
            "summarize",
            "--force",
            "--reason",
            "inputs renamed",
            "--allow-dirty",
        ],
    );
    assert_eq!(output.code, 0, "{output:?}");
    assert_eq!(run(&repo, &["validate", "--strict"]).code, 0);
    let before = repo.tree();
    let output = run(
        &repo,
        &["rollback", "summarize", "--to", "1.0.0", "--reason", "back"],
    );
    assert_eq!(output.code, 2, "{output:?}");
    assert!(
        output.stderr.contains("restoring 1.0.0")
            && output
                .stderr
                .contains("prompts/02-production/summarize.yaml")
            && output.stderr.contains("ticket"),
        "{output:?}"
    );
    assert_eq!(repo.tree(), before);
}

/// Regression (found in review): a journal is data. One whose steps name a path outside the
/// repository, or one that came with the repository (tracked by git), is refused, and nothing
/// is written.
#[test]
fn a_journal_is_data_and_never_writes_outside_the_repository() {
    let (_server, repo) = promotable(12, false);
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("pwned.txt");
    let escape = format!("../{}", target.strip_prefix("/").unwrap().to_str().unwrap());
    let journal = serde_json::json!({
        "plan": "x", "what": "promote summarize 1.1.0", "stage": [],
        "steps": [
            {"path": "../../../../../../../../".to_owned() + &escape, "new": "cHduZWQ=", "new_sha256": "a", "old_sha256": null},
            {"path": escape, "new": "cHduZWQ=", "new_sha256": "a", "old_sha256": null}
        ],
        "commit": null
    });
    repo.write(".promptops/journal.json", &journal.to_string());
    // A read-only command only warns; the command that would finish it refuses.
    let output = run(&repo, &["status"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(
        output
            .stderr
            .contains("is not a file a promptops change writes"),
        "{output:?}"
    );
    let output = run(&repo, &["repair"]);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(
        output
            .stderr
            .contains("is not a file a promptops change writes"),
        "{output:?}"
    );
    assert!(!target.exists());
    // A journal that git tracks came with the repository: refused whatever it says.
    let harmless = serde_json::json!({
        "plan": "x", "what": "promote summarize 1.1.0", "stage": [], "steps": [], "commit": null
    });
    repo.write(".promptops/journal.json", &harmless.to_string());
    repo.commit("a journal", 1_795_437_400);
    let output = run(&repo, &["validate"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stderr.contains("tracked by git"), "{output:?}");
    let output = run(&repo, &["archive", "summarize", "--reason", "r"]);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(output.stderr.contains("tracked by git"), "{output:?}");
}

/// The task's prompt files after a lifecycle change, as far as a test cares to say.
#[derive(Default)]
struct Files<'a> {
    /// Production's version, and (when given) its exact bytes.
    production: Option<&'a str>,
    production_bytes: Option<&'a str>,
    /// The candidate is gone from `00-templates/`.
    no_candidate: bool,
    /// Versions in `99-archive/summarize/`, and versions that must not be there.
    archived: &'a [&'a str],
    not_archived: &'a [&'a str],
    /// The metadata's version.
    metadata: Option<&'a str>,
}

/// The one assertion of what a promote, archive or rollback left in the files of `summarize`.
fn expect_files(repo: &TestRepo, files: &Files<'_>) {
    let production = "prompts/02-production/summarize.yaml";
    if let Some(version) = files.production {
        let text = repo.read(production);
        assert!(text.contains(&format!("\nversion: {version}\n")), "{text}");
    }
    if let Some(bytes) = files.production_bytes {
        assert_eq!(repo.read(production), bytes);
    }
    if files.no_candidate {
        assert!(
            !repo
                .path()
                .join("prompts/00-templates/summarize.yaml")
                .exists(),
            "the candidate is still in 00-templates/"
        );
    }
    let archive = |version: &str| {
        repo.path()
            .join(format!("prompts/99-archive/summarize/{version}.yaml"))
    };
    for version in files.archived {
        assert!(archive(version).exists(), "{version} is not archived");
    }
    for version in files.not_archived {
        assert!(!archive(version).exists(), "{version} is archived");
    }
    if let Some(version) = files.metadata {
        let text = repo.read("prompts/03-metadata/summarize.yaml");
        assert!(text.contains(&format!("\nversion: {version}\n")), "{text}");
    }
}
