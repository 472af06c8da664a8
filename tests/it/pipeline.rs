//! `promptops pipeline` on a temp git repository: the offline dry run changes nothing, a full
//! offline run promotes and tags, unchanged stages are skipped by content and one changed
//! byte runs them again, a failing stage stops the run with its status, and the image stage
//! pushes to a real registry on loopback.

use crate::support::registry::RegistryServer;
use crate::support::{TestRepo, committed_example, pairs};

fn log(repo: &TestRepo) -> Vec<serde_json::Value> {
    std::fs::read_to_string(repo.path().join("prompts/04-evals/pipeline-log.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// The pipeline's own last line (the stages' commands print theirs before it).
fn outcomes(stdout: &str) -> String {
    stdout.trim().lines().last().unwrap_or_default().to_owned()
}

#[test]
fn the_offline_dry_run_plans_every_stage_and_changes_nothing() {
    let repo = committed_example();
    let before = repo.tree();
    let dry = repo.run(&["pipeline", "--offline", "--until", "promote", "--dry-run"]);
    assert_eq!(dry.code, 0, "{dry:?}");
    assert!(dry.stderr.contains("$ promptops validate"), "{dry:?}");
    assert!(
        dry.stderr.contains("would run: promptops eval --offline"),
        "{dry:?}"
    );
    assert!(
        dry.stderr.contains("would run: promptops eval normalize-product-title --candidate --baseline production --offline"),
        "{dry:?}"
    );
    assert!(
        dry.stderr
            .contains("$ promptops promote normalize-product-title --dry-run"),
        "{dry:?}"
    );
    assert_eq!(
        outcomes(&dry.stdout),
        "pipeline (dry run): validate passed, eval planned, gate passed, promote planned"
    );
    assert!(
        dry.stderr
            .contains("note: a dry run does not run the evals above")
            && dry
                .stderr
                .contains("would run: promptops promote normalize-product-title\n"),
        "{dry:?}"
    );
    assert_eq!(
        repo.tree(),
        before,
        "a dry run writes nothing, not even its log"
    );
}

#[test]
fn a_full_offline_run_promotes_and_unchanged_stages_are_skipped() {
    let repo = committed_example();
    let first = repo.run(&["pipeline", "--offline", "--until", "promote"]);
    assert_eq!(first.code, 0, "{first:?}");
    assert_eq!(
        outcomes(&first.stdout),
        "pipeline: validate passed, eval passed, gate passed, promote passed"
    );
    assert!(
        repo.read("prompts/02-production/normalize-product-title.yaml")
            .contains("version: 1.3.0")
    );
    let tags = git2::Repository::open(repo.path())
        .unwrap()
        .tag_names(None)
        .unwrap()
        .len();
    assert_eq!(tags, 1);
    let lines = log(&repo);
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[3]["changed"][0], "promoted normalize-product-title");
    assert_eq!(
        lines[1]["commands"][1],
        "promptops eval normalize-product-title --candidate --baseline production --offline"
    );

    // The promotion changed the files: validate and eval run again; no candidate is left.
    let second = repo.run(&["pipeline", "--offline", "--until", "promote"]);
    assert_eq!(second.code, 0, "{second:?}");
    assert_eq!(
        outcomes(&second.stdout),
        "pipeline: validate passed, eval passed, gate skipped, promote skipped"
    );
    // Nothing changed since: every stage is skipped, and says why.
    let third = repo.run(&["pipeline", "--offline", "--until", "eval"]);
    assert_eq!(
        outcomes(&third.stdout),
        "pipeline: validate skipped, eval skipped",
        "{third:?}"
    );
    assert!(
        third.stderr.contains("are those of its passed run"),
        "{third:?}"
    );
    // A dry run plans the same skips.
    let planned = repo.run(&["pipeline", "--offline", "--until", "eval", "--dry-run"]);
    assert_eq!(
        outcomes(&planned.stdout),
        "pipeline (dry run): validate skipped, eval skipped",
        "{planned:?}"
    );
    // One byte in an examples file: validate and eval run again.
    let examples = "prompts/01-examples/classify-product-category.jsonl";
    let text = repo.read(examples);
    repo.write(examples, &text.replacen("\"id\"", "\"id\" ", 1));
    let registry = repo.run(&["registry"]);
    assert_eq!(registry.code, 0, "{registry:?}");
    let fourth = repo.run(&["pipeline", "--offline", "--until", "eval"]);
    assert_eq!(
        outcomes(&fourth.stdout),
        "pipeline: validate passed, eval passed",
        "{fourth:?}"
    );
    // --force runs what is unchanged; --only and --from pick stages.
    let forced = repo.run(&["pipeline", "--offline", "--only", "validate", "--force"]);
    assert_eq!(
        outcomes(&forced.stdout),
        "pipeline: validate passed",
        "{forced:?}"
    );
    let from = repo.run(&["pipeline", "--offline", "--from", "image"]);
    assert_eq!(from.code, 0, "{from:?}");
    assert_eq!(
        outcomes(&from.stdout),
        "pipeline: image skipped, deploy skipped, verify skipped"
    );
    assert!(
        from.stderr.contains("no --image-base and --image-push"),
        "{from:?}"
    );
    let wrong = repo.run(&["pipeline", "--from", "deploy", "--until", "eval"]);
    assert_eq!(wrong.code, 2, "{wrong:?}");
}

#[test]
fn a_failing_stage_stops_the_run_with_its_status() {
    let repo = committed_example();
    repo.edit(
        "prompts/00-templates/normalize-product-title.yaml",
        "{{ raw_title }}",
        "{{ raw_title }} {{ undeclared }}",
    );
    let failed = repo.run(&["pipeline", "--offline", "--strict-not-a-flag"]);
    assert_eq!(failed.code, 2, "{failed:?}");
    // The candidate's template is only a warning for validate, but eval cannot render it:
    // eval's exit status (2, bad input) is the pipeline's.
    let stopped = repo.run(&["pipeline", "--offline"]);
    assert_eq!(stopped.code, 2, "{stopped:?}");
    assert_eq!(
        outcomes(&stopped.stdout),
        "pipeline: validate passed, eval failed"
    );
    assert!(
        stopped.stderr.contains("pipeline: stopped at eval"),
        "{stopped:?}"
    );
    let lines = log(&repo);
    assert_eq!(lines.last().unwrap()["outcome"], "failed");
    assert_eq!(lines.last().unwrap()["exit_code"], 2);
}

#[test]
fn the_image_stage_pushes_to_a_registry() {
    let registry = RegistryServer::start(None);
    registry.seed_base("runtime", "1", None);
    let repo = committed_example();
    let base = format!("{}/runtime:1", registry.address);
    let push = format!("{}/prompts", registry.address);
    let args = [
        "pipeline",
        "--only",
        "image",
        "--image-base",
        &base,
        "--image-push",
        &push,
        "--insecure-registry",
        &registry.address,
    ];
    let pushed = repo.run(&args);
    assert_eq!(pushed.code, 0, "{pushed:?}");
    let lines = log(&repo);
    let changed = lines[0]["changed"][0].as_str().unwrap();
    assert!(
        changed.starts_with(&format!("pushed {push}@sha256:")),
        "{changed}"
    );
    let again = repo.run(&args);
    assert_eq!(
        outcomes(&again.stdout),
        "pipeline: image skipped",
        "{again:?}"
    );
}

#[test]
fn the_deploy_and_verify_stages_run_against_moto() {
    use crate::support::ecs::{ECR_HOST, Ending, World};
    let repo = committed_example();
    let config = repo.read("promptops.yaml");
    repo.write(
        "promptops.yaml",
        &format!("{config}deploy:\n  cluster: prod\n  service: prompts\n  image_repository: {ECR_HOST}/prompts\n"),
    );
    repo.commit("deploy settings", 1_795_437_400);
    let release = repo.release_id();
    let world = World::start(&release);
    world.script(Ending::Complete, 0);
    let environment = world.environment();
    let environment = pairs(&environment);
    let dry = repo.run_env(&["pipeline", "--from", "deploy", "--dry-run"], &environment);
    assert_eq!(dry.code, 0, "{dry:?}");
    assert!(
        dry.stderr.contains("$ promptops deploy --dry-run"),
        "{dry:?}"
    );
    let run = repo.run_env(&["pipeline", "--from", "deploy"], &environment);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        outcomes(&run.stdout),
        "pipeline: deploy passed, verify passed"
    );
    let lines = log(&repo);
    assert_eq!(lines[0]["changed"][0], "deployed");
    assert!(
        repo.read("prompt_registry.yaml")
            .contains(&format!("release_id: {release}"))
    );
    // Deployed and verified: the same inputs skip both next time.
    let again = repo.run_env(&["pipeline", "--from", "deploy"], &environment);
    assert_eq!(
        outcomes(&again.stdout),
        "pipeline: deploy skipped, verify skipped",
        "{again:?}"
    );
}

#[test]
fn against_the_loopback_llm_server_the_pipeline_evaluates_once_and_promotes() {
    use crate::eval::{KEY, always_right, repo as eval_repo, write_candidate};
    use crate::support::llm_server::LlmServer;
    let server = LlmServer::start(always_right);
    let repo = eval_repo(&server, 20, "");
    write_candidate(&repo, " Be brief.");
    repo.set_identity();
    repo.commit("a candidate", 1_795_437_296);
    let key = [("TEST_LLM_KEY", KEY)];
    let first = repo.run_env(&["pipeline", "--until", "promote"], &key);
    assert_eq!(first.code, 0, "{first:?}");
    assert_eq!(
        outcomes(&first.stdout),
        "pipeline: validate passed, eval passed, gate passed, promote passed"
    );
    let asked = server.count();
    assert_eq!(asked, 40, "production and candidate, 20 examples each");
    assert!(
        repo.read("prompts/02-production/summarize.yaml")
            .contains("version: 1.1.0")
    );
    // Once more: the promotion changed the files, so eval runs, from the cache.
    let second = repo.run_env(&["pipeline", "--until", "eval"], &key);
    assert_eq!(
        outcomes(&second.stdout),
        "pipeline: validate passed, eval passed",
        "{second:?}"
    );
    assert_eq!(server.count(), asked, "answered from the cache");
    let third = repo.run_env(&["pipeline", "--until", "eval"], &key);
    assert_eq!(
        outcomes(&third.stdout),
        "pipeline: validate skipped, eval skipped",
        "{third:?}"
    );

    // A stage past its timeout is stopped, and the run with it (exit 3).
    server.latency(std::time::Duration::from_secs(5));
    let slow = repo.run_env(
        &[
            "pipeline",
            "--only",
            "eval",
            "--no-cache",
            "--stage-timeout",
            "500ms",
        ],
        &key,
    );
    assert_eq!(slow.code, 3, "{slow:?}");
    assert!(
        slow.stderr.contains("ran past --stage-timeout 500ms"),
        "{slow:?}"
    );
    assert_eq!(log(&repo).last().unwrap()["outcome"], "timed-out");
}

/// The log is data: a line that is not a record is named and ignored (its stages run again),
/// and a log that is a link is refused before anything runs, so nothing is written through it.
#[test]
fn a_broken_log_line_is_named_and_a_linked_log_is_refused() {
    let repo = TestRepo::sample();
    let first = repo.run(&["pipeline", "--offline", "--until", "validate"]);
    assert_eq!(first.code, 0, "{first:?}");
    let log_file = "prompts/04-evals/pipeline-log.jsonl";
    let recorded = repo.read(log_file);
    repo.write(
        log_file,
        &format!("<<<<<<< HEAD\n{recorded}=======\n>>>>>>> branch\n"),
    );
    let again = repo.run(&["pipeline", "--offline", "--until", "validate"]);
    assert_eq!(again.code, 0, "{again:?}");
    for line in [1, 3, 4] {
        assert!(
            again.stderr.contains(&format!(
                "warning: {log_file}:{line}: not a pipeline record"
            )),
            "{again:?}"
        );
    }
    assert!(
        !again.stderr.contains(&format!("{log_file}:2:")),
        "{again:?}"
    );
    assert_eq!(
        outcomes(&again.stdout),
        "pipeline: validate skipped",
        "the good record still counts"
    );

    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("elsewhere.jsonl");
    repo.remove(log_file);
    std::os::unix::fs::symlink(&target, repo.path().join(log_file)).unwrap();
    let linked = repo.run(&["pipeline", "--offline", "--until", "validate"]);
    assert_eq!(linked.code, 2, "{linked:?}");
    assert!(linked.stderr.contains("is a symbolic link"), "{linked:?}");
    assert!(!target.exists(), "written through the link");
}

/// The promptops processes working on `repo` (by the `--repo` path a stage is given).
fn stages_running(repo: &TestRepo) -> Vec<String> {
    let needle = repo.path().to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let words: Vec<String> = cmdline
            .split(|byte| *byte == 0)
            .map(|word| String::from_utf8_lossy(word).into_owned())
            .collect();
        if words.contains(&needle) && words.iter().any(|word| word == "eval") {
            found.push(words.join(" "));
        }
    }
    found
}

/// A pipeline killed mid-stage (a cancelled CI job) takes its stage with it: the eval it was
/// running gets SIGTERM and keeps what finished, instead of running on as an orphan.
#[test]
fn a_killed_pipeline_takes_its_running_stage_with_it() {
    use crate::eval::{KEY, always_right, repo as eval_repo};
    use crate::support::llm_server::LlmServer;
    let server = LlmServer::start(always_right);
    server.latency(std::time::Duration::from_secs(30));
    let repo = eval_repo(&server, 4, "");
    repo.commit("prompts", 1_795_437_296);
    let mut pipeline = repo
        .command(&["pipeline", "--until", "eval"], &[("TEST_LLM_KEY", KEY)])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while server.count() == 0 {
        assert!(started.elapsed().as_secs() < 30, "the eval never asked");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(stages_running(&repo).len(), 1, "the eval stage runs");
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(i32::try_from(pipeline.id()).unwrap(), libc::SIGKILL) };
    pipeline.wait().unwrap();
    let killed = std::time::Instant::now();
    while !stages_running(&repo).is_empty() {
        assert!(
            killed.elapsed().as_secs() < 10,
            "the stage outlived its pipeline: {:?}",
            stages_running(&repo)
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // It was stopped, not killed: its summary says it was interrupted, so `--resume` can go on.
    let summaries = crate::eval::summaries(&repo);
    assert_eq!(summaries.len(), 1, "{summaries:?}");
    let summary = summaries.values().next().unwrap();
    assert_eq!(summary["complete"], false, "{summary:#}");
}

/// Regression: the pipeline promoted on whatever summary was in `04-evals`, so a committed
/// file decided a promotion in CI. It promotes only on the runs its own eval stage made in the
/// same invocation, and records them in the eval stage's log line.
#[test]
fn the_pipeline_promotes_only_on_evals_it_made_itself() {
    let repo = committed_example();
    // A real, consistent, passing eval of the candidate, committed as a person would.
    let eval = repo.run(&[
        "eval",
        "normalize-product-title",
        "--candidate",
        "--baseline",
        "production",
        "--offline",
    ]);
    assert_eq!(eval.code, 0, "{eval:?}");
    repo.commit("an eval from last week", 1_795_437_400);
    let without_eval = repo.run(&[
        "pipeline",
        "--offline",
        "--from",
        "gate",
        "--until",
        "promote",
    ]);
    assert_eq!(without_eval.code, 0, "{without_eval:?}");
    assert!(
        without_eval
            .stderr
            .contains("no candidate was evaluated in this run"),
        "{without_eval:?}"
    );
    assert!(
        repo.read("prompts/02-production/normalize-product-title.yaml")
            .contains("version: 1.2.0")
    );

    let with_eval = repo.run(&["pipeline", "--offline", "--until", "promote"]);
    assert_eq!(with_eval.code, 0, "{with_eval:?}");
    let lines = log(&repo);
    let eval_line = lines
        .iter()
        .rev()
        .find(|line| line["stage"] == "eval")
        .unwrap();
    let made: Vec<&str> = eval_line["changed"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|change| {
            change
                .as_str()?
                .strip_prefix("evaluated normalize-product-title: run ")
        })
        .collect();
    assert_eq!(made.len(), 1, "{eval_line}");
    assert!(
        with_eval.stderr.contains(&format!(
            "promote normalize-product-title --evidence {}",
            made[0]
        )),
        "{with_eval:?}"
    );
    assert!(
        repo.read("prompts/02-production/normalize-product-title.yaml")
            .contains("version: 1.3.0")
    );
}

/// Regression: the pipeline skipped eval after an `exec` provider's script changed (its inputs
/// left out what the cache key covers), so production then failed unseen.
#[test]
fn a_changed_exec_script_runs_the_eval_again() {
    let repo = TestRepo::sample();
    repo.write("scripts/model.sh", "cat > /dev/null\necho 'summary 0'\n");
    repo.write(
        "promptops.yaml",
        "providers:\n  openai:\n    kind: exec\n    command: [sh, scripts/model.sh]\n",
    );
    // Any answer passes: what matters here is whether the eval runs.
    repo.edit(
        "prompts/03-metadata/summarize.yaml",
        "threshold: 0.8",
        "threshold: 0",
    );
    assert_eq!(repo.run(&["registry"]).code, 0);
    repo.set_identity();
    repo.commit("an exec provider", 1_795_437_296);
    let first = repo.run(&["pipeline", "--until", "eval"]);
    let eval_outcome = |output: &crate::support::Output| {
        outcomes(&output.stdout)
            .split(", ")
            .find(|part| part.starts_with("eval "))
            .unwrap_or_default()
            .to_owned()
    };
    assert_ne!(eval_outcome(&first), "eval skipped", "{first:?}");
    let again = repo.run(&["pipeline", "--until", "eval"]);
    assert_eq!(eval_outcome(&again), "eval skipped", "{again:?}");
    repo.write(
        "scripts/model.sh",
        "cat > /dev/null\necho 'something else'\n",
    );
    let changed = repo.run(&["pipeline", "--until", "eval"]);
    assert_ne!(eval_outcome(&changed), "eval skipped", "{changed:?}");
}

/// Regression: `pipeline --dry-run` exited 3 at the deploy stage after any change to the
/// release (it looked up the image it only planned to push), and with a promotion planned it
/// named the pre-promotion release. A dry run never fails on what it only plans.
#[test]
fn a_dry_run_plans_the_deploy_of_a_release_that_does_not_exist_yet() {
    use crate::support::ecs::{ECR_HOST, World};
    let repo = committed_example();
    let config = repo.read("promptops.yaml");
    repo.write(
        "promptops.yaml",
        &format!("{config}deploy:\n  cluster: prod\n  service: prompts\n  image_repository: {ECR_HOST}/prompts\n"),
    );
    repo.commit("deploy settings", 1_795_437_400);
    // ECR holds the image of another release only.
    let world = World::start(&"0".repeat(64));
    let environment = world.environment();
    let environment = pairs(&environment);
    let dry = repo.run_env(&["pipeline", "--offline", "--dry-run"], &environment);
    assert_eq!(dry.code, 0, "{dry:?}");
    assert!(
        dry.stderr.contains("would run: promptops deploy\n"),
        "{dry:?}"
    );
    assert!(outcomes(&dry.stdout).contains("deploy planned"), "{dry:?}");
}

/// A run that promotes evaluates its candidates again even when nothing changed (a promotion
/// decides only on evals made in the run), but not production: its unchanged evals, paid for
/// with a real model, stay skipped.
#[test]
fn an_unchanged_run_that_promotes_reevaluates_only_the_candidates() {
    let repo = committed_example();
    let first = repo.run(&["pipeline", "--offline", "--until", "gate"]);
    assert_eq!(first.code, 0, "{first:?}");
    let again = repo.run(&["pipeline", "--offline", "--until", "promote", "--dry-run"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(
        again
            .stderr
            .contains("would run: promptops eval normalize-product-title --candidate"),
        "{again:?}"
    );
    assert!(
        !again.stderr.contains("would run: promptops eval --offline"),
        "production's unchanged eval ran again: {again:?}"
    );
}
