//! Providers as a run meets them: answers capped and scrubbed of keys, keys kept where they
//! cannot leak, retries within one deadline, `exec` scripts fingerprinted, and each API's own
//! parameters.

use std::time::Duration;

use crate::eval::{KEY, always_right, eval, only_summary, repo};
use crate::support::llm_server::LlmServer;
use crate::support::{TestRepo, expect_finding};

/// Regression (defects 5 and 16): a huge answer was held whole and stored; a key echoed in a
/// 200 answer was stored verbatim in logs and the cache.
#[test]
fn answers_are_capped_and_scrubbed_of_the_key_before_they_are_stored() {
    let server = LlmServer::start(|seen: &crate::support::llm_server::Seen| {
        if seen.user_text().ends_with(" 0") {
            // Echoes the Authorization header, as a misbehaving proxy might.
            format!("echo: {}", seen.header("authorization").unwrap_or_default())
        } else {
            "x".repeat(3 << 20)
        }
    });
    let repo = repo(&server, 2, "    max_response_bytes: 1048576\n");
    let output = eval(&repo, &["--concurrency", "1"]);
    assert_eq!(
        output.code, 3,
        "the oversized answer is a provider failure: {output:?}"
    );
    assert!(
        output.stderr.contains("larger than 1048576 bytes"),
        "{output:?}"
    );
    let summary = only_summary(&repo);
    assert_eq!(summary["errors"], 1);
    for (path, bytes) in repo.tree() {
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(KEY), "{} holds the key", path.display());
        assert!(
            bytes.len() < 1 << 20,
            "{} holds the huge answer",
            path.display()
        );
    }
    let cache = repo.path().join(".promptops/cache");
    assert!(cache.is_dir());
}

/// Regression (defect 16): a key in `base_url`'s userinfo was sent as Basic auth, and a key went
/// over plain http:// to any host.
#[test]
fn a_key_is_never_sent_where_it_could_leak() {
    let server = LlmServer::start(always_right);
    let repo = repo(&server, 1, "");
    let url = server
        .openai_url()
        .replace("http://", "http://user:secret@");
    repo.write(
        "promptops.yaml",
        &format!("providers:\n  openai:\n    kind: openai\n    base_url: {url}\n    api_key_env: TEST_LLM_KEY\n"),
    );
    let output = eval(&repo, &[]);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(output.stderr.contains("holds credentials"), "{output:?}");
    assert_eq!(server.count(), 0);
    repo.write(
        "promptops.yaml",
        "providers:\n  openai:\n    kind: openai\n    base_url: http://llm.example.invalid/v1\n    api_key_env: TEST_LLM_KEY\n",
    );
    let output = eval(&repo, &[]);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(output.stderr.contains("plain http://"), "{output:?}");
}

/// Regression (defect 6): `Retry-After` was capped per retry, but one example could sleep for
/// about twenty minutes across retries.
#[test]
fn one_example_has_a_deadline_across_its_retries() {
    let server = LlmServer::start(always_right);
    server.always(crate::support::llm_server::Reply::Status(429, Some("120")));
    let repo = repo(
        &server,
        1,
        "    max_retries: 10\n    example_deadline_seconds: 2\n",
    );
    let started = std::time::Instant::now();
    // No delay scale: the real Retry-After of two minutes would apply.
    let output = repo.run_env(&["eval"], &[("TEST_LLM_KEY", KEY)]);
    assert_eq!(output.code, 3, "{output:?}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert!(output.stderr.contains("HTTP 429"), "{output:?}");
}

/// Regression (defect 26): `exec` answers were cached by request only; after the script changed
/// the old answers came back.
#[test]
fn a_changed_exec_script_is_asked_again() {
    let repo = TestRepo::sample();
    repo.write("model.sh", "#!/bin/sh\ncat > /dev/null\necho first\n");
    repo.write(
        "promptops.yaml",
        "providers:\n  openai:\n    kind: exec\n    command: [sh, model.sh]\n",
    );
    let first = repo.run_env(&["eval", "--format", "json"], &[]);
    assert!(first.stdout.contains("\"cached\": 0"), "{first:?}");
    repo.write("model.sh", "#!/bin/sh\ncat > /dev/null\necho second\n");
    let second = repo.run_env(&["eval", "--format", "json"], &[]);
    assert!(
        second.stdout.contains("\"cached\": 0"),
        "the old answers came back: {second:?}"
    );
    let third = repo.run_env(&["eval", "--format", "json"], &[]);
    assert!(third.stdout.contains("\"cached\": 2"), "{third:?}");
}

/// Regression (defect 31): OpenAI's reasoning models refuse `max_tokens` and a non-default
/// temperature; every example failed with a 400 at eval time.
#[test]
fn openai_gets_max_completion_tokens_and_validate_knows_reasoning_models() {
    let server = LlmServer::start(always_right);
    let repo = repo(&server, 1, "");
    repo.edit(
        "prompts/02-production/summarize.yaml",
        "    temperature: 0\n",
        "    temperature: 0\n    max_tokens: 200\n",
    );
    repo.rebuild_registry();
    assert_eq!(eval(&repo, &[]).code, 0);
    let body = &server.seen()[0].body;
    assert_eq!(body["max_completion_tokens"], 200, "{body}");
    assert!(body.get("max_tokens").is_none(), "{body}");
    // A compatible server that needs the old name says so.
    let server = LlmServer::start(always_right);
    let repo = repo_with(&server, "    max_tokens_parameter: max_tokens\n");
    repo.edit(
        "prompts/02-production/summarize.yaml",
        "    temperature: 0\n",
        "    temperature: 0\n    max_tokens: 200\n",
    );
    repo.rebuild_registry();
    assert_eq!(eval(&repo, &[]).code, 0);
    assert_eq!(server.seen()[0].body["max_tokens"], 200);

    let repo = TestRepo::sample();
    repo.edit(
        "prompts/02-production/summarize.yaml",
        "name: gpt-4o-mini",
        "name: o3-mini",
    );
    let output = repo.run(&["validate", "--format", "json"]);
    expect_finding(
        &output,
        "unsupported-parameter",
        "prompts/02-production/summarize.yaml",
        9,
    );
}

fn repo_with(server: &LlmServer, settings: &str) -> TestRepo {
    repo(server, 1, settings)
}

/// A provider's rate limit refuses requests (429 with `Retry-After`), and every example is
/// still scored: a 429 makes the whole provider wait, with jitter, and is not an error of the
/// example, so it never uses up the example's retries (one here); only its deadline would.
#[test]
fn a_rate_limit_costs_time_not_examples() {
    let server = LlmServer::start(always_right);
    server.token_bucket(100.0, 4);
    let repo = repo(&server, 60, "    max_retries: 1\n");
    let output = eval(&repo, &["--concurrency", "16"]);
    assert_eq!(output.code, 0, "{output:?}");
    let summary = only_summary(&repo);
    assert_eq!(summary["n"], 60);
    assert_eq!(summary["errors"], 0, "{summary}");
    assert_eq!(summary["score"], 1.0);
    assert!(server.limited() > 0, "the limit was never reached");
    assert_eq!(server.count(), 60 + server.limited());
}

/// A provider that answers 429 with `Retry-After: 0` for ever (here with no delay at all) is
/// not asked again and again until the example's deadline: after 100 refusals in a row the
/// example fails, and the retries of errors do not start the count over.
#[test]
fn a_rate_limit_that_never_lifts_fails_the_example_without_hammering() {
    let server = LlmServer::start(always_right);
    server.always(crate::support::llm_server::Reply::Status(429, Some("0")));
    let repo = repo(&server, 1, "    max_retries: 3\n");
    let output = repo.run_env(
        &["eval"],
        &[("TEST_LLM_KEY", KEY), ("PROMPTOPS_RETRY_DELAY_SCALE", "0")],
    );
    assert_eq!(output.code, 3, "{output:?}");
    assert!(output.stderr.contains("HTTP 429"), "{output:?}");
    assert_eq!(server.count(), 101, "the first request and 100 more");
}
