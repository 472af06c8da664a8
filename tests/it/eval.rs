//! `promptops eval` against a real HTTP server on 127.0.0.1 standing in for the LLM APIs.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::support::TestRepo;
use crate::support::llm_server::{LlmServer, Reply, Seen};

pub(crate) const KEY: &str = "sk-test-4f9c2b7e-never-print-me";
pub(crate) const EVALS: &str = "prompts/04-evals/summarize";

/// Answers `summary N` for `Ticket: ticket N`, except every fourth example, which is wrong.
pub(crate) fn mostly_right(seen: &Seen) -> String {
    let number = seen.example_number();
    if number % 4 == 3 {
        "no idea".to_owned()
    } else {
        format!("summary {number}")
    }
}

pub(crate) fn always_right(seen: &Seen) -> String {
    let text = seen.user_text();
    format!("summary {}", text.rsplit(' ').next().unwrap_or_default())
}

/// The sample repository with `count` examples and the `openai` provider at the server.
pub(crate) fn repo(server: &LlmServer, count: usize, provider_settings: &str) -> TestRepo {
    let repo = TestRepo::sample();
    let mut examples = String::new();
    for n in 0..count {
        examples.push_str(&format!(
            "{{\"id\": \"ex-{n}\", \"vars\": {{\"ticket\": \"ticket {n}\"}}, \"expected\": \"summary {n}\"}}\n"
        ));
    }
    repo.write("prompts/01-examples/summarize.jsonl", &examples);
    repo.write(
        "promptops.yaml",
        &format!(
            "providers:\n  openai:\n    kind: openai\n    base_url: {}\n    api_key_env: TEST_LLM_KEY\n{provider_settings}",
            server.openai_url()
        ),
    );
    let output = repo.run(&["registry"]);
    assert_eq!(output.code, 0, "{output:?}");
    repo
}

pub(crate) fn eval(repo: &TestRepo, args: &[&str]) -> crate::support::Output {
    let mut all = vec!["eval"];
    all.extend_from_slice(args);
    repo.run_env(
        &all,
        &[
            ("TEST_LLM_KEY", KEY),
            ("PROMPTOPS_RETRY_DELAY_SCALE", "0.01"),
        ],
    )
}

/// Writes a candidate of the sample prompt, version 1.1.0, whose system message ends with
/// `extra`, and brings the registry up to date.
pub(crate) fn write_candidate(repo: &TestRepo, extra: &str) {
    let candidate = crate::support::PROMPT
        .replace("version: 1.0.0", "version: 1.1.0")
        .replace(
            "Answer in one sentence.",
            &format!("Answer in one sentence.{extra}"),
        );
    repo.write("prompts/00-templates/summarize.yaml", &candidate);
    let output = repo.run(&["registry"]);
    assert_eq!(output.code, 0, "{output:?}");
}

/// The summaries in the task's eval folder, by file name.
pub(crate) fn summaries(repo: &TestRepo) -> BTreeMap<String, Value> {
    let mut found = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(repo.path().join(EVALS)) else {
        return found;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".summary.json") {
            found.insert(
                name,
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap(),
            );
        }
    }
    found
}

pub(crate) fn only_summary(repo: &TestRepo) -> Value {
    let all = summaries(repo);
    assert_eq!(all.len(), 1, "{:?}", all.keys());
    all.into_values().next().unwrap()
}

pub(crate) fn log_records(repo: &TestRepo, summary: &Value) -> Vec<Value> {
    let path = format!("{EVALS}/{}", summary["log"].as_str().unwrap());
    repo.read(&path)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// A relative `--cache-dir` is from the folder the person typed it in, not the repository's:
/// run from elsewhere with `--repo`, the answers land where the person said.
#[test]
fn a_relative_cache_dir_is_from_where_it_was_typed() {
    let server = LlmServer::start(always_right);
    let repo = repo(&server, 2, "");
    let elsewhere = tempfile::tempdir().unwrap();
    let repo_path = repo.path().display().to_string();
    let mut command = repo.command(
        &["--repo", &repo_path, "eval", "--cache-dir", "answers"],
        &[("TEST_LLM_KEY", KEY)],
    );
    command.current_dir(elsewhere.path());
    let output = command.output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let stored = |dir: &std::path::Path| {
        walkdir::WalkDir::new(dir)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|entry| entry.file_type().is_file())
            .count()
    };
    assert_eq!(stored(&elsewhere.path().join("answers")), 2);
    assert!(!repo.path().join("answers").exists());
}

/// `--concurrency N` is the most requests in flight at once: the loopback server, answering
/// each after 150 ms, counts them.
#[test]
fn concurrency_bounds_the_requests_in_flight() {
    for concurrency in [1, 4] {
        let server = LlmServer::start(always_right);
        server.latency(Duration::from_millis(150));
        let repo = repo(&server, 16, "");
        let output = eval(
            &repo,
            &["--concurrency", &concurrency.to_string(), "--no-cache"],
        );
        assert_eq!(output.code, 0, "{output:?}");
        assert_eq!(server.count(), 16);
        assert_eq!(server.peak(), concurrency, "--concurrency {concurrency}");
    }
}

#[test]
fn every_example_is_scored_once_logged_and_recorded_in_the_registry() {
    let server = LlmServer::start(mostly_right);
    let repo = repo(&server, 40, "");
    let output = eval(&repo, &["--concurrency", "8"]);
    // 10 of 40 answers are wrong: 0.75 + a little < 0.8, the task fails its threshold.
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stdout.contains("FAIL"), "{output:?}");

    let seen = server.seen();
    assert_eq!(seen.len(), 40);
    let mut tickets: Vec<String> = seen.iter().map(Seen::user_text).collect();
    tickets.sort();
    tickets.dedup();
    assert_eq!(tickets.len(), 40, "each example is sent once");
    assert_eq!(seen[0].path, "/v1/chat/completions");
    assert_eq!(
        seen[0].header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(seen[0].body["model"], "gpt-4o-mini");
    assert_eq!(seen[0].body["temperature"], 0.0);

    let summary = only_summary(&repo);
    assert_eq!(summary["n"], 40);
    assert_eq!(summary["complete"], true);
    assert_eq!(summary["passed"], false);
    assert_eq!(summary["passed_examples"], 30);
    assert_eq!(summary["tokens"]["input_tokens"], 440);
    let score = summary["score"].as_f64().unwrap();
    assert!((0.75..0.8).contains(&score), "{score}");
    let records = log_records(&repo, &summary);
    assert_eq!(records.len(), 40);
    let mut ids: Vec<&str> = records.iter().map(|r| r["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 40);
    let wrong = records.iter().find(|r| r["id"] == "ex-3").unwrap();
    assert_eq!(wrong["output"], "no idea");
    assert_eq!(wrong["pass"], false);
    assert_eq!(wrong["line"], 4);
    assert_eq!(wrong["request"].as_str().unwrap().len(), 64);

    let registry = repo.read("prompt_registry.yaml");
    assert!(registry.contains("latest_eval:"), "{registry}");
    assert!(
        registry.contains(&format!(
            "summary: {EVALS}/{}",
            summary["run"].as_str().unwrap()
        )),
        "{registry}"
    );
    // The rewritten registry is what `registry --check` expects.
    assert_eq!(repo.run(&["registry", "--check"]).code, 0);
    assert_eq!(repo.run(&["status", "--format", "json"]).code, 0);
}

#[test]
fn the_api_key_appears_in_no_file_and_no_output() {
    let server = LlmServer::start(always_right);
    // The server echoes nothing secret, but a failing run prints errors: check those too.
    server.script(&[Reply::Status(400, None)]);
    let repo = repo(&server, 5, "");
    let output = eval(
        &repo,
        &[
            "--concurrency",
            "1",
            "--junit",
            "junit.xml",
            "--summary-md",
            "summary.md",
        ],
    );
    let merged = format!("{}{}", output.stdout, output.stderr);
    assert!(!merged.contains(KEY), "{output:?}");
    let mut files = 0;
    for (path, bytes) in repo.tree() {
        files += 1;
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(KEY), "{} holds the key", path.display());
        assert!(!text.contains("never-print-me"), "{}", path.display());
    }
    assert!(
        files > 8,
        "the cache, logs and reports were written: {files}"
    );
    assert!(
        repo.read("junit.xml")
            .contains("<testcase classname=\"summarize\" name=\"ex-0\"")
    );
    assert!(repo.read("summary.md").contains("| `summarize` |"));
}

#[test]
fn a_second_run_is_served_from_the_cache_and_offline_works() {
    let server = LlmServer::start(always_right);
    let repo = repo(&server, 12, "");
    let first = eval(&repo, &[]);
    assert_eq!(first.code, 0, "{first:?}");
    assert_eq!(server.count(), 12);
    let second = eval(&repo, &[]);
    assert_eq!(second.code, 0, "{second:?}");
    assert_eq!(server.count(), 12, "the second run sent requests");
    let offline = eval(&repo, &["--offline"]);
    assert_eq!(offline.code, 0, "{offline:?}");
    assert_eq!(server.count(), 12);
    // The cached re-runs changed nothing: no new run was written (they report the first).
    assert!(
        second.stderr.contains("no new run was written")
            && offline.stderr.contains("no new run was written"),
        "{second:?}"
    );
    let runs = summaries(&repo);
    assert_eq!(runs.len(), 1);
    let scores: Vec<f64> = runs
        .values()
        .map(|s| s["score"].as_f64().unwrap())
        .collect();
    assert!(scores.iter().all(|s| (s - 1.0).abs() < 1e-12), "{scores:?}");
    let cached: Vec<u64> = runs
        .values()
        .map(|s| s["cached"].as_u64().unwrap())
        .collect();
    assert_eq!(cached, [0], "the one run written was answered by the API");
    let shown = eval(&repo, &["--format", "json"]);
    assert!(
        shown.stdout.contains("\"cached\": 12"),
        "shown as answered from the cache: {shown:?}"
    );
    // --no-cache goes back to the API.
    let fresh = eval(&repo, &["--no-cache"]);
    assert_eq!(fresh.code, 0, "{fresh:?}");
    assert_eq!(server.count(), 24);
}

#[test]
fn an_offline_miss_names_the_task_and_the_example() {
    let server = LlmServer::start(always_right);
    let repo = repo(&server, 3, "");
    let output = eval(&repo, &["--offline"]);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(
        output.stderr.contains("no stored response for task `summarize`, example `ex-1` (prompts/01-examples/summarize.jsonl:2)"),
        "{output:?}"
    );
    assert_eq!(server.count(), 0);
    // A failed offline run records no score.
    assert!(!repo.read("prompt_registry.yaml").contains("latest_eval"));
}

#[test]
fn retries_honour_retry_after_and_survive_5xx_malformed_bodies_and_resets() {
    let server = LlmServer::start(always_right);
    server.script(&[
        Reply::Status(429, Some("3")),
        Reply::Status(500, None),
        Reply::Malformed,
        Reply::Reset,
        Reply::Status(503, None),
    ]);
    let repo = repo(&server, 1, "    max_retries: 5\n");
    let output = eval(&repo, &[]);
    assert_eq!(output.code, 0, "{output:?}");
    let seen = server.seen();
    assert_eq!(seen.len(), 6, "five failures, then the answer");
    // Retry-After: 3 s, scaled by 0.01 in tests: at least 30 ms, where the backoff alone
    // would wait 5 ms.
    let gap = seen[1].at - seen[0].at;
    assert!(gap >= Duration::from_millis(30), "{gap:?}");
    let summary = only_summary(&repo);
    assert_eq!(summary["score"], 1.0);
    assert_eq!(summary["errors"], 0);
}

#[test]
fn a_provider_failing_beyond_the_retry_budget_exits_3() {
    let server = LlmServer::start(always_right);
    server.always(Reply::Status(500, None));
    let repo = repo(&server, 2, "    max_retries: 2\n");
    let output = eval(&repo, &["--concurrency", "1"]);
    assert_eq!(output.code, 3, "{output:?}");
    assert_eq!(
        server.count(),
        6,
        "1 try + 2 retries for each of 2 examples"
    );
    // No example got an answer: a failed start, of which nothing is kept (no log pair, no
    // 0.000 row), and the error is on stderr.
    assert!(summaries(&repo).is_empty(), "{:?}", summaries(&repo));
    assert!(!output.stdout.contains("summarize"), "{output:?}");
    assert!(
        output.stderr.contains("HTTP 500") && output.stderr.contains("gave up after 3 attempts"),
        "{output:?}"
    );
}

#[test]
fn a_hanging_server_times_out_and_is_retried() {
    let server = LlmServer::start(always_right);
    server.script(&[Reply::Hang(Duration::from_secs(3))]);
    let repo = repo(&server, 1, "    timeout_seconds: 0.3\n");
    let output = eval(&repo, &[]);
    assert_eq!(output.code, 0, "{output:?}");
    assert_eq!(server.count(), 2);
}

#[test]
fn a_rejected_key_stops_the_run_with_exit_3_and_a_missing_key_is_exit_2() {
    let server = LlmServer::start(always_right);
    server.always(Reply::Status(401, None));
    let repo = repo(&server, 20, "");
    let output = eval(&repo, &["--concurrency", "1"]);
    assert_eq!(output.code, 3, "{output:?}");
    assert!(
        output.stderr.contains("check the API key in $TEST_LLM_KEY"),
        "{output:?}"
    );
    assert!(
        server.count() < 5,
        "the run went on after a 401: {}",
        server.count()
    );

    let missing = repo.run_env(&["eval"], &[]);
    assert_eq!(missing.code, 2, "{missing:?}");
    assert!(
        missing.stderr.contains("$TEST_LLM_KEY is not set"),
        "{missing:?}"
    );
}

#[test]
fn the_anthropic_messages_api_is_spoken_too() {
    let server = LlmServer::start(always_right);
    let repo = repo(&server, 3, "");
    repo.edit(
        "prompts/02-production/summarize.yaml",
        "provider: openai",
        "provider: anthropic",
    );
    repo.edit(
        "prompts/02-production/summarize.yaml",
        "temperature: 0",
        "temperature: 0\n    max_tokens: 50",
    );
    repo.rebuild_registry();
    let output = repo.run_env(
        &["eval"],
        &[
            ("ANTHROPIC_API_KEY", KEY),
            ("ANTHROPIC_BASE_URL", &server.anthropic_url()),
        ],
    );
    assert_eq!(output.code, 0, "{output:?}");
    let seen = server.seen();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0].path, "/v1/messages");
    assert_eq!(seen[0].header("x-api-key"), Some(KEY));
    assert_eq!(seen[0].header("anthropic-version"), Some("2023-06-01"));
    assert!(
        seen[0].body["system"]
            .as_str()
            .unwrap()
            .contains("You summarise support tickets.")
    );
    assert_eq!(seen[0].body["max_tokens"], 50);
    assert_eq!(seen[0].body["messages"].as_array().unwrap().len(), 1);
    assert_eq!(only_summary(&repo)["tokens"]["output_tokens"], 21);
}

#[test]
fn the_exec_provider_runs_a_local_command() {
    let server = LlmServer::start(always_right);
    let repo = repo(&server, 2, "");
    repo.write(
        "promptops.yaml",
        "providers:\n  openai:\n    kind: exec\n    command: [sh, -c, 'cat > /dev/null; echo \"summary 0\"']\n",
    );
    let output = repo.run_env(&["eval"], &[]);
    assert_eq!(output.code, 0, "{output:?}");
    let summary = only_summary(&repo);
    let outputs: Vec<Value> = log_records(&repo, &summary)
        .iter()
        .map(|r| r["output"].clone())
        .collect();
    assert_eq!(
        outputs,
        vec![Value::from("summary 0"), Value::from("summary 0")]
    );
    assert_eq!(server.count(), 0);

    // A failing command fails its examples with the end of its stderr.
    repo.write(
        "promptops.yaml",
        "providers:\n  openai:\n    kind: exec\n    command: [sh, -c, 'echo model crashed >&2; exit 4']\n",
    );
    let output = repo.run_env(&["eval", "--no-cache"], &[]);
    assert_eq!(output.code, 3, "{output:?}");
    assert!(
        output
            .stderr
            .contains("exited with exit status: 4: model crashed"),
        "{output:?}"
    );
}

#[test]
fn a_missing_variable_fails_that_example_with_its_line() {
    let server = LlmServer::start(always_right);
    let repo = repo(&server, 2, "");
    // The metadata marks the input optional, so validate accepts a line without it.
    repo.edit(
        "prompts/03-metadata/summarize.yaml",
        "type: string",
        "type: string\n    optional: true",
    );
    let mut examples = repo.read("prompts/01-examples/summarize.jsonl");
    examples.push_str("{\"id\": \"empty\", \"vars\": {}, \"expected\": \"x\"}\n");
    repo.write("prompts/01-examples/summarize.jsonl", &examples);
    repo.run(&["registry"]);
    let output = eval(&repo, &[]);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(
        output.stderr.contains(
            "prompts/01-examples/summarize.jsonl:3: example `empty`: message 2 cannot be rendered"
        ),
        "{output:?}"
    );
    assert_eq!(server.count(), 2);
}

/// Like CI: each shard's summary and log in a folder of its own, as its artifact.
fn shard_artifacts(repo: &TestRepo) -> tempfile::TempDir {
    let artifacts = tempfile::tempdir().unwrap();
    for (name, summary) in summaries(repo) {
        if let Some(shard) = summary["shard"]["index"].as_u64() {
            let folder = artifacts.path().join(format!("shard-{shard}"));
            std::fs::create_dir_all(&folder).unwrap();
            let log = summary["log"].as_str().unwrap();
            for file in [name.as_str(), log] {
                std::fs::copy(repo.path().join(EVALS).join(file), folder.join(file)).unwrap();
            }
        }
    }
    artifacts
}

#[test]
fn sharded_and_merged_equals_unsharded() {
    let server = LlmServer::start(mostly_right);
    let repo = repo(&server, 37, "");
    let whole = eval(&repo, &[]);
    assert_eq!(whole.code, 1, "{whole:?}");
    let unsharded = only_summary(&repo);
    let mut counts = 0;
    for shard in ["1/3", "2/3", "3/3"] {
        let output = eval(&repo, &["--shard", shard]);
        assert!(output.code <= 1, "{output:?}");
    }
    for summary in summaries(&repo).values() {
        if summary["shard"].is_object() {
            counts += summary["n"].as_u64().unwrap();
        }
    }
    assert_eq!(counts, 37, "the shards split the examples");
    // Like CI: each shard's files in its own folder, then merged.
    let artifacts = shard_artifacts(&repo);
    let merged = repo.run(&[
        "eval",
        "merge",
        artifacts.path().to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(merged.code, 1, "{merged:?}");
    let merged: Value = serde_json::from_str(&merged.stdout).unwrap();
    let merged = &merged["runs"][0]["summary"];
    // `score` compares exactly: both are the same integer sum divided the same way.
    for field in [
        "n",
        "score",
        "passed",
        "passed_examples",
        "errors",
        "tokens",
        "cost_usd",
    ] {
        assert_eq!(merged[field], unsharded[field], "{field}");
    }
    assert!(merged["shard"].is_null());
    // Like an unsharded run, the merged one is what the registry now points at.
    let registry = repo.read("prompt_registry.yaml");
    let run = merged["run"].as_str().unwrap();
    assert!(run.contains("-production-merged"), "{run}");
    assert!(
        registry.contains(&format!("summary: {EVALS}/{run}.summary.json")),
        "{registry}"
    );
    // A shard given twice is refused.
    let again = repo.run(&[
        "eval",
        "merge",
        artifacts.path().to_str().unwrap(),
        artifacts.path().join("shard-1").to_str().unwrap(),
    ]);
    assert_eq!(again.code, 2, "{again:?}");
    assert!(
        again.stderr.contains("shard 1/3 appears 2 times"),
        "{again:?}"
    );
}

/// Runs `args`, and sends SIGINT once the server has seen `requests` requests; the run must
/// exit 130.
pub(crate) fn interrupt(repo: &TestRepo, server: &LlmServer, args: &[&str], requests: usize) {
    let mut child = repo
        .command(args, &[("TEST_LLM_KEY", KEY)])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while server.count() < requests && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(child.wait().unwrap().code(), Some(130));
}

#[test]
fn an_interrupted_run_resumes_without_resending_finished_examples() {
    let server = LlmServer::start(always_right);
    server.latency(Duration::from_millis(100));
    let repo = repo(&server, 20, "");
    interrupt(
        &repo,
        &server,
        &["eval", "--concurrency", "1", "--no-cache"],
        6,
    );
    let interrupted = only_summary(&repo);
    assert_eq!(interrupted["complete"], false);
    let finished = interrupted["n"].as_u64().unwrap();
    assert!((5..20).contains(&finished), "{finished}");
    assert_eq!(log_records(&repo, &interrupted).len() as u64, finished);
    let sent_before = server.count() as u64;

    server.latency(Duration::ZERO);
    let resumed = eval(&repo, &["--resume", "--no-cache"]);
    assert_eq!(resumed.code, 0, "{resumed:?}");
    let summary = only_summary(&repo);
    assert_eq!(summary["complete"], true);
    assert_eq!(summary["n"], 20);
    assert_eq!(summary["run"], interrupted["run"]);
    let records = log_records(&repo, &summary);
    let mut ids: Vec<&str> = records.iter().map(|r| r["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 20);
    // Only the unfinished examples went out again (an in-flight one may have been sent).
    let resent = server.count() as u64 - sent_before;
    assert_eq!(resent, 20 - finished, "sent {resent} after resuming");
}

#[test]
fn a_candidate_is_compared_with_production_on_the_same_examples() {
    let server = LlmServer::start(|seen: &Seen| {
        let system = seen.system_text();
        let number = seen.example_number();
        // The candidate is right every time, production on every other example.
        if system.contains("Be precise.") || number.is_multiple_of(2) {
            format!("summary {number}")
        } else {
            "no idea".to_owned()
        }
    });
    let repo = repo(&server, 30, "");
    write_candidate(&repo, " Be precise.");
    let output = eval(&repo, &["--candidate", "--baseline", "production"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert_eq!(server.count(), 60);
    let all = summaries(&repo);
    let candidate = all.values().find(|s| s["variant"] == "candidate").unwrap();
    let comparison = &candidate["comparison"];
    assert_eq!(comparison["n"], 30);
    assert_eq!(comparison["candidate_only_passed"], 15);
    assert_eq!(comparison["baseline_only_passed"], 0);
    let p = comparison["mcnemar_p"].as_f64().unwrap();
    assert!((p - 2.0 / 32768.0).abs() < 1e-12, "{p}");
    let low = comparison["interval_95"][0].as_f64().unwrap();
    let difference = comparison["mean_difference"].as_f64().unwrap();
    assert!(low > 0.0 && low < difference, "{comparison}");
    assert!(
        output.stdout.contains("candidate − production 1.0.0"),
        "{output:?}"
    );
    // A candidate eval does not touch production's recorded score.
    assert!(!repo.read("prompt_registry.yaml").contains("latest_eval"));
}

#[test]
fn bad_scorer_options_are_refused_before_any_request() {
    let server = LlmServer::start(always_right);
    let repo = repo(&server, 2, "");
    repo.edit(
        "prompts/03-metadata/summarize.yaml",
        "    weight: 1\n",
        "    weight: 1\n    options:\n      methd: token_f1\n",
    );
    repo.run(&["registry"]);
    let output = eval(&repo, &[]);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(
        output.stderr.contains("unknown option `methd`"),
        "{output:?}"
    );
    assert!(
        output
            .stderr
            .contains("prompts/03-metadata/summarize.yaml:14"),
        "{output:?}"
    );
    let validate = repo.run(&["validate", "--format", "json"]);
    crate::support::expect_finding(
        &validate,
        "invalid-scorer-options",
        "prompts/03-metadata/summarize.yaml",
        14,
    );
    assert_eq!(server.count(), 0);
}

#[test]
fn the_llm_judge_is_asked_through_a_provider_and_its_verdict_is_cached() {
    let server = LlmServer::start(|seen: &Seen| {
        let system = seen.system_text();
        if system.contains("strict grader") {
            // Polite answers pass; the judge reads the answer from the grading prompt.
            let polite = seen.user_text().contains("Answer to grade:\nPlease");
            format!(
                "```json\n{{\"score\": {}, \"reason\": \"{}\"}}\n```",
                if polite { 0.9 } else { 0.2 },
                if polite { "polite" } else { "curt" }
            )
        } else if seen.user_text().ends_with('0') {
            "Please see summary 0".to_owned()
        } else {
            "summary 1".to_owned()
        }
    });
    let repo = repo(&server, 2, "");
    repo.edit(
        "prompts/03-metadata/summarize.yaml",
        "  - name: similarity\n    weight: 1\n",
        "  - name: llm_judge\n    weight: 1\n    options:\n      rubric: The answer is polite.\n      model: judge-model\n",
    );
    repo.run(&["registry"]);
    let output = eval(&repo, &["--concurrency", "1"]);
    assert_eq!(output.code, 1, "{output:?}");
    let seen = server.seen();
    assert_eq!(seen.len(), 4, "two answers, two verdicts");
    let judge = seen
        .iter()
        .find(|s| s.body["model"] == "judge-model")
        .unwrap();
    assert!(judge.user_text().contains("The answer is polite."));
    assert!(judge.user_text().contains("Reference answer:\nsummary"));
    let summary = only_summary(&repo);
    let records = log_records(&repo, &summary);
    let polite = records.iter().find(|r| r["id"] == "ex-0").unwrap();
    assert_eq!(polite["pass"], true);
    assert_eq!(polite["scores"][0]["reason"], "judge: polite");
    assert!((summary["score"].as_f64().unwrap() - 0.55).abs() < 1e-9);
    // Verdicts are cached like any answer.
    let again = eval(&repo, &[]);
    assert_eq!(again.code, 1, "{again:?}");
    assert_eq!(server.count(), 4);
}

#[test]
fn the_request_rate_per_provider_is_bounded() {
    let server = LlmServer::start(always_right);
    let repo = repo(&server, 6, "    requests_per_second: 20\n");
    let output = eval(&repo, &["--concurrency", "6"]);
    assert_eq!(output.code, 0, "{output:?}");
    let seen = server.seen();
    assert_eq!(seen.len(), 6);
    // Six requests at 20 per second: the last leaves at least 5 × 50 ms after the first.
    let span = seen[5].at - seen[0].at;
    assert!(span >= Duration::from_millis(240), "{span:?}");
}

/// Regression: a paired run could not be resumed (it was matched on a comparison that only
/// complete runs have), and a plain `--resume` could pick up its baseline half.
#[test]
fn an_interrupted_paired_run_resumes_as_a_pair() {
    let server = LlmServer::start(always_right);
    server.latency(Duration::from_millis(50));
    let repo = repo(&server, 12, "");
    write_candidate(&repo, "");
    let paired = [
        "eval",
        "--candidate",
        "--baseline",
        "production",
        "--concurrency",
        "1",
        "--no-cache",
    ];
    interrupt(&repo, &server, &paired, 8);
    // The baseline half is not a production run to resume.
    let plain = eval(&repo, &["--resume", "--no-cache"]);
    assert!(plain.stderr.contains("starting a new run"), "{plain:?}");
    let sent_before = server.count();
    server.latency(Duration::ZERO);
    let mut args = paired.to_vec();
    args.push("--resume");
    let resumed = eval(&repo, &args[1..]);
    assert_eq!(resumed.code, 0, "{resumed:?}");
    let all = summaries(&repo);
    let candidate = all.values().find(|s| s["variant"] == "candidate").unwrap();
    assert_eq!(candidate["complete"], true);
    assert_eq!(candidate["comparison"]["n"], 12);
    assert_eq!(candidate["n"], 12);
    let pairs_done = (12 * 2 - (server.count() - sent_before)) / 2;
    assert!(
        pairs_done >= 3,
        "the finished pairs were sent again: {pairs_done}"
    );
}

#[test]
fn the_cost_scorer_uses_configured_prices_and_refuses_to_run_without_one() {
    let server = LlmServer::start(always_right);
    let repo = repo(&server, 2, "");
    repo.edit(
        "prompts/03-metadata/summarize.yaml",
        "  - name: similarity\n    weight: 1\n",
        "  - name: similarity\n    weight: 1\n  - name: cost\n    weight: 1\n    options:\n      max_usd: 0.00001\n",
    );
    repo.run(&["registry"]);
    let refused = eval(&repo, &[]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused.stderr.contains("no price for model `gpt-4o-mini`"),
        "{refused:?}"
    );
    assert_eq!(server.count(), 0);

    let mut config = repo.read("promptops.yaml");
    config.push_str(
        "    prices:\n      gpt-4o-mini: {input_per_million: 0.5, output_per_million: 1.5}\n",
    );
    repo.write("promptops.yaml", &config);
    let output = eval(&repo, &[]);
    // Every answer is over the cost budget: half of each example's score.
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stdout.contains("$0.000032"), "{output:?}");
    let summary = only_summary(&repo);
    // 11 input and 7 output tokens per answer: (11 × 0.5 + 7 × 1.5) / 1e6 = $0.000016 each.
    let cost = summary["cost_usd"].as_f64().unwrap();
    assert!((cost - 2.0 * 0.000_016).abs() < 1e-12, "{cost}");
    let record = &log_records(&repo, &summary)[0];
    assert_eq!(record["scores"][1]["scorer"], "cost");
    assert_eq!(
        record["scores"][1]["pass"], false,
        "over the $0.00001 budget"
    );
}

/// Regression: a shard that no example falls in (`--shard 4/8` of a small task) exited 2 and
/// failed its CI matrix job. It says so, exits 0, and its empty run counts in the merge.
#[test]
fn an_empty_shard_passes_and_is_merged() {
    let server = LlmServer::start(always_right);
    let repo = repo(&server, 3, "");
    let whole = eval(&repo, &[]);
    assert_eq!(whole.code, 0, "{whole:?}");
    let unsharded = only_summary(&repo);
    let count = 8;
    let mut empty = 0;
    for index in 1..=count {
        let output = eval(&repo, &["--shard", &format!("{index}/{count}")]);
        assert_eq!(output.code, 0, "{index}/{count}: {output:?}");
        if output.stderr.contains("no example falls in shard") {
            empty += 1;
        }
    }
    assert!(
        empty >= 5,
        "3 examples over 8 shards leave at least 5 empty"
    );
    let artifacts = shard_artifacts(&repo);
    let merged = repo.run(&[
        "eval",
        "merge",
        artifacts.path().to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(merged.code, 0, "{merged:?}");
    let merged: Value = serde_json::from_str(&merged.stdout).unwrap();
    let merged = &merged["runs"][0]["summary"];
    for field in ["n", "score", "passed"] {
        assert_eq!(merged[field], unsharded[field], "{field}");
    }
}

/// Regression: a wrong `base_url` cost ~48 s of retries per run (every example retried 5
/// times) and ended in the HTTP library's raw error. After a few connection failures with no
/// success the run stops and names `providers.<name>.base_url`.
#[test]
fn a_wrong_base_url_stops_the_run_quickly_and_names_the_setting() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = closed.local_addr().unwrap();
    drop(closed);
    let repo = TestRepo::sample();
    repo.write(
        "promptops.yaml",
        &format!(
            "providers:\n  openai:\n    kind: openai\n    base_url: http://{address}/v1\n    api_key_env: TEST_LLM_KEY\n"
        ),
    );
    repo.rebuild_registry();
    let started = std::time::Instant::now();
    // Real retry delays: what a user waits.
    let output = repo.run_env(&["eval"], &[("TEST_LLM_KEY", KEY)]);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}: {output:?}",
        started.elapsed()
    );
    assert_eq!(output.code, 2, "{output:?}");
    assert!(
        output.stderr.contains("providers.openai.base_url"),
        "{output:?}"
    );
}

/// Regression: `api_key_env: null` silently fell back to `OPENAI_API_KEY`. It is refused at
/// its line; a local server without keys takes `keyless: true`, and no key is sent to it.
#[test]
fn a_keyless_provider_sends_no_key_and_null_is_refused() {
    let server = LlmServer::start(always_right);
    let repo = repo(&server, 2, "");
    repo.write(
        "promptops.yaml",
        &format!(
            "providers:\n  openai:\n    kind: openai\n    base_url: {}\n    api_key_env: null\n",
            server.openai_url()
        ),
    );
    let output = repo.run(&["validate", "--format", "json"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(
        crate::support::findings(&output)
            .iter()
            .any(|(_, file, line)| file == "promptops.yaml" && *line == 5),
        "{output:?}"
    );
    repo.write(
        "promptops.yaml",
        &format!(
            "providers:\n  openai:\n    kind: openai\n    base_url: {}\n    keyless: true\n",
            server.openai_url()
        ),
    );
    repo.rebuild_registry();
    let output = repo.run_env(&["eval"], &[("OPENAI_API_KEY", "sk-must-not-be-sent")]);
    assert_eq!(output.code, 0, "{output:?}");
    let seen = server.seen();
    assert!(!seen.is_empty());
    assert!(
        seen.iter()
            .all(|request| request.header("authorization").is_none()),
        "no key is sent"
    );
}

/// Regression: `scripts/sample_responses.py` wrote the demo's stored responses through an
/// `exec` provider, whose answers are keyed with its script, so the offline demo missed every
/// one. It now answers as an OpenAI-compatible server: its responses replay offline.
#[test]
fn the_sample_responses_script_writes_what_the_offline_demo_replays() {
    let repo = crate::support::bundled_example();
    let script = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scripts/sample_responses.py"
    ))
    .unwrap();
    repo.write("scripts/sample_responses.py", &script);
    std::fs::remove_dir_all(repo.path().join(".promptops/cache")).unwrap();
    let written = std::process::Command::new("python3")
        .arg("scripts/sample_responses.py")
        .current_dir(repo.path())
        .env("PROMPTOPS", env!("CARGO_BIN_EXE_promptops"))
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&written.stdout);
    assert!(
        written.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&written.stderr)
    );
    assert!(stdout.contains("wrote 212 stored responses"), "{stdout}");
    let output = repo.run(&[
        "eval",
        "normalize-product-title",
        "--candidate",
        "--baseline",
        "production",
        "--offline",
    ]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(!output.stderr.contains("no stored response"), "{output:?}");
}

/// Regression: a fully cached re-run that changed nothing still wrote a new log pair. It now
/// reports the earlier run it repeats and writes nothing.
#[test]
fn a_cached_rerun_that_changes_nothing_writes_no_new_run() {
    let repo = crate::support::bundled_example();
    let args = [
        "eval",
        "normalize-product-title",
        "--candidate",
        "--baseline",
        "production",
        "--offline",
    ];
    let first = repo.run(&args);
    assert_eq!(first.code, 0, "{first:?}");
    let folder = repo.path().join("prompts/04-evals/normalize-product-title");
    let files = || {
        let mut names: Vec<String> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let before = files();
    let again = repo.run_env(&args, &[("PROMPTOPS_NOW", "2026-12-08T10:00:00Z")]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stderr.contains("no new run was written"), "{again:?}");
    assert_eq!(files(), before);
    // The gates still find their evidence: the earlier run, consistent with its log.
    let gates = repo.run_env(
        &["promote", "normalize-product-title", "--dry-run"],
        &[("PROMPTOPS_NOW", "2026-12-08T10:00:00Z")],
    );
    assert_eq!(gates.code, 0, "{gates:?}");
}

/// A second task whose files the tests break, beside `summarize`.
pub(crate) fn add_second_task(repo: &TestRepo) {
    for (layer, ext) in [
        ("02-production", "yaml"),
        ("03-metadata", "yaml"),
        ("01-examples", "jsonl"),
    ] {
        let from = format!("prompts/{layer}/summarize.{ext}");
        let text = repo.read(&from).replace("id: summarize", "id: other");
        repo.write(&format!("prompts/{layer}/other.{ext}"), &text);
    }
    let output = repo.run(&["registry"]);
    assert_eq!(output.code, 0, "{output:?}");
}

/// Regression (defect 7): eval rewrote the whole registry from the files; another task with an
/// error lost its production entry.
#[test]
fn recording_a_score_changes_only_the_evaluated_tasks_entries() {
    let server = LlmServer::start(always_right);
    let repo = repo(&server, 3, "");
    add_second_task(&repo);
    let before = repo.read("prompt_registry.yaml");
    assert!(before.contains("  other:"), "{before}");
    repo.edit(
        "prompts/02-production/other.yaml",
        "version: 1.0.0",
        "version: [broken",
    );
    let output = eval(&repo, &["summarize"]);
    assert_eq!(output.code, 0, "{output:?}");
    let after = repo.read("prompt_registry.yaml");
    assert!(after.contains("latest_eval"), "{after}");
    let other = |text: &str| {
        let start = text.find("  other:").unwrap();
        let end = text[start..]
            .find("\n  summarize:")
            .map_or(text.len(), |i| start + i);
        text[start..end].to_owned()
    };
    assert_eq!(other(&before), other(&after));
}

/// Regression (defects 8 and 10): `--resume` cut the log at the first unreadable line, and
/// started new runs for tasks that had completed.
#[test]
fn resume_keeps_every_valid_result_and_leaves_complete_runs_alone() {
    let server = LlmServer::start(always_right);
    let repo = repo(&server, 6, "");
    assert_eq!(eval(&repo, &[]).code, 0);
    let sent = server.count();
    // A complete run is left alone: no new run, no request.
    let again = eval(&repo, &["--resume"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stderr.contains("already complete"), "{again:?}");
    assert_eq!(summaries(&repo).len(), 1);
    assert_eq!(server.count(), sent);

    // An interrupted run with a damaged line in the middle: an error naming it, nothing cut.
    let summary = only_summary(&repo);
    let name = format!("{}.summary.json", summary["run"].as_str().unwrap());
    let mut interrupted = summary.clone();
    interrupted["complete"] = Value::Bool(false);
    repo.write(
        &format!("{EVALS}/{name}"),
        &serde_json::to_string_pretty(&interrupted).unwrap(),
    );
    let log = format!("{EVALS}/{}", summary["log"].as_str().unwrap());
    let mut lines: Vec<String> = repo.read(&log).lines().map(str::to_owned).collect();
    lines[2] = "{\"id\": \"garbage".to_owned();
    let text = lines.join("\n") + "\n";
    repo.write(&log, &text);
    let output = eval(&repo, &["--resume"]);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(
        output.stderr.contains(":3 is not an eval record"),
        "{output:?}"
    );
    assert_eq!(repo.read(&log), text, "the log is untouched");

    // Only a last line cut short is dropped, and the run resumes from the rest.
    let mut good: Vec<String> = repo.read(&log).lines().map(str::to_owned).collect();
    good.remove(2);
    let cut = format!("{}\n{{\"id\": \"ex-", good.join("\n"));
    repo.write(&log, &cut);
    let output = eval(&repo, &["--resume", "--no-cache"]);
    assert_eq!(output.code, 0, "{output:?}");
    let resumed = only_summary(&repo);
    assert_eq!(resumed["complete"], true);
    assert_eq!(resumed["n"], 6);
    assert_eq!(
        server.count(),
        sent + 1,
        "only the damaged example went out again"
    );
}

/// Regression (defect 9): a run that ended early was written `complete: true` and its partial
/// score went into the registry; the examples file is checked against what validation saw.
#[test]
fn examples_edited_during_the_run_make_it_incomplete() {
    let server = LlmServer::start(always_right);
    server.latency(Duration::from_millis(150));
    let repo = repo(&server, 6, "");
    let registry = repo.read("prompt_registry.yaml");
    let child = repo
        .command(
            &["eval", "--concurrency", "1", "--no-cache"],
            &[("TEST_LLM_KEY", KEY)],
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while server.count() < 1 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let examples = repo.read("prompts/01-examples/summarize.jsonl");
    repo.write(
        "prompts/01-examples/summarize.jsonl",
        &examples.replace("ticket 5", "ticket five"),
    );
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("changed while the eval ran")
            || stderr.contains("the file changed after validation"),
        "{stderr}"
    );
    let summary = only_summary(&repo);
    assert_eq!(summary["complete"], false);
    assert_eq!(summary["passed"], false);
    assert_eq!(
        repo.read("prompt_registry.yaml"),
        registry,
        "no score recorded"
    );
}

/// Regression (defect 13): a shard run gated on its own partial score, so a weak shard
/// stopped a CI matrix before its merge job.
#[test]
fn a_completed_shard_exits_0_and_leaves_the_gate_to_the_merge() {
    let server = LlmServer::start(mostly_right);
    let repo = repo(&server, 12, "");
    for shard in ["1/3", "2/3", "3/3"] {
        let output = eval(&repo, &["--shard", shard]);
        assert_eq!(output.code, 0, "{output:?}");
        assert!(
            output.stderr.contains("decided when the shards are merged"),
            "{output:?}"
        );
    }
    let merged = repo.run(&["eval", "merge", EVALS]);
    assert_eq!(
        merged.code, 1,
        "3 of 12 wrong: the merged run fails its gate: {merged:?}"
    );
}

/// Regression (defect 12): merging a paired sharded run pointed at shard 1's runs and lost the
/// comparison; the merged pair equals the unsharded pair.
#[test]
fn paired_shards_merge_into_a_paired_result_with_its_comparison() {
    let server = LlmServer::start(mostly_right);
    let repo = repo(&server, 16, "");
    crate::eval::write_candidate(&repo, " Be brief.");
    let args = ["--candidate", "--baseline", "production"];
    let output = eval(&repo, &[&args[..], &["--format", "json"]].concat());
    // Every fourth answer is wrong: 0.75 and a little, below the threshold of 0.8.
    assert_eq!(output.code, 1, "{output:?}");
    let whole: Value = serde_json::from_str(&output.stdout).unwrap();
    let whole = whole["runs"][0]["summary"]["comparison"].clone();
    assert!(whole.is_object(), "{whole}");
    let artifacts = tempfile::tempdir().unwrap();
    for shard in ["1/2", "2/2"] {
        let output = eval(&repo, &[&args[..], &["--shard", shard]].concat());
        assert_eq!(output.code, 0, "{output:?}");
    }
    for (name, summary) in summaries(&repo) {
        if summary["shard"].is_object() {
            for file in [name.as_str(), summary["log"].as_str().unwrap()] {
                std::fs::copy(
                    repo.path().join(EVALS).join(file),
                    artifacts.path().join(file),
                )
                .unwrap();
            }
        }
    }
    let merged = repo.run(&[
        "eval",
        "merge",
        artifacts.path().to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(
        merged.code, 1,
        "the merged run gates like the whole one: {merged:?}"
    );
    let merged: Value = serde_json::from_str(&merged.stdout).unwrap();
    let run = &merged["runs"][0];
    assert_eq!(run["summary"]["variant"], "candidate");
    assert_eq!(run["summary"]["comparison"], whole);
    let baseline = run["baseline"]["run"].as_str().unwrap();
    assert_eq!(run["summary"]["paired_with"], baseline);
    assert_eq!(run["baseline"]["paired_with"], run["summary"]["run"]);
    assert!(
        repo.path()
            .join(EVALS)
            .join(format!("{baseline}.jsonl"))
            .is_file()
    );
}

/// Regression (defect 24): the JUnit report counted failing examples as failures while the gate
/// passed, and had no test case for the threshold.
#[test]
fn the_junit_report_agrees_with_the_gate() {
    let server = LlmServer::start(mostly_right);
    let repo = repo(&server, 8, "");
    repo.edit(
        "prompts/03-metadata/summarize.yaml",
        "threshold: 0.8",
        "threshold: 0.5",
    );
    assert_eq!(repo.run(&["registry"]).code, 0);
    let output = eval(&repo, &["--junit", "junit.xml"]);
    assert_eq!(output.code, 0, "{output:?}");
    let xml = repo.read("junit.xml");
    assert!(xml.contains("failures=\"0\""), "{xml}");
    assert!(xml.contains("name=\"gate: score"), "{xml}");
    assert!(
        xml.contains("file=\"prompts/01-examples/summarize.jsonl\" line=\"4\""),
        "{xml}"
    );
    assert!(xml.contains("<system-out>score"), "{xml}");
    let output = eval(&repo, &["--junit", "strict.xml", "--junit-examples-fail"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(repo.read("strict.xml").contains("failures=\"2\""));
    // The gate failing is the suite failing.
    repo.edit(
        "prompts/03-metadata/summarize.yaml",
        "threshold: 0.5",
        "threshold: 0.9",
    );
    assert_eq!(repo.run(&["registry"]).code, 0);
    let output = eval(&repo, &["--junit", "failing.xml"]);
    assert_eq!(output.code, 1, "{output:?}");
    let xml = repo.read("failing.xml");
    assert!(
        xml.contains("failures=\"1\"") && xml.contains("below the threshold"),
        "{xml}"
    );
}

/// Regression (defect 20): `llm_judge` ignored its threshold whenever the verdict had `pass`.
#[test]
fn the_judge_threshold_decides_even_when_the_verdict_says_pass() {
    let server = LlmServer::start(|seen: &crate::support::llm_server::Seen| {
        if seen.body["model"] == "judge-model" {
            r#"{"score": 0.6, "pass": true, "reason": "fine"}"#.to_owned()
        } else {
            "an answer".to_owned()
        }
    });
    let repo = repo(&server, 1, "");
    repo.edit(
        "prompts/03-metadata/summarize.yaml",
        "  - name: similarity\n    weight: 1\n",
        "  - name: llm_judge\n    options:\n      rubric: Good.\n      model: judge-model\n      threshold: 0.7\n",
    );
    assert_eq!(repo.run(&["registry"]).code, 0);
    let output = eval(&repo, &[]);
    assert_eq!(output.code, 1, "{output:?}");
    let records = crate::eval::log_records(&repo, &only_summary(&repo));
    assert_eq!(records[0]["pass"], false, "{records:?}");
    assert!(
        records[0]["scores"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("below the threshold 0.7")
    );
}

/// Regression (defect 3): fuel did not bound repeated list doubling; the render ran for minutes
/// with growing memory. A render runs against a deadline, and the eval stops on a runaway one.
#[test]
fn a_runaway_template_stops_the_eval_quickly() {
    let server = LlmServer::start(always_right);
    let repo = repo(&server, 3, "");
    repo.edit(
        "prompts/02-production/summarize.yaml",
        "content: \"Ticket: {{ ticket }}\"",
        "content: \"{% set ns = namespace(s=[1]) %}{% for i in range(33) %}{% set ns.s = ns.s + ns.s %}{% endfor %}Ticket: {{ ticket }}\"",
    );
    repo.rebuild_registry();
    let started = std::time::Instant::now();
    let output = eval(&repo, &[]);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(output.code, 2, "{output:?}");
    assert!(output.stderr.contains("took more than 2 s"), "{output:?}");
    assert!(
        output
            .stderr
            .contains("prompts/02-production/summarize.yaml for example `ex-"),
        "{output:?}"
    );
    assert_eq!(server.count(), 0);
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
