//! Regression tests for the defects an outside review and an adversarial run found in what
//! had landed (the "Repair" issue). Each names the defect it guards against.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use serde_json::Value;

use crate::eval::{EVALS, KEY, always_right, eval, mostly_right, only_summary, repo, summaries};
use crate::support::llm_server::LlmServer;
use crate::support::{TestRepo, expect_finding};

/// Regression (defect 1): `- - - … x` 3,000 levels deep aborted validate with a stack overflow
/// on a worker thread (more than 32 files), and 20,000 levels on the main thread.
#[test]
fn deeply_nested_files_are_a_finding_not_an_abort() {
    for (levels, extra_files) in [(3_000, 40), (20_000, 0)] {
        let repo = TestRepo::sample();
        for n in 0..extra_files {
            repo.write(&format!("prompts/00-templates/draft-{n}.yaml"), "id: x\n");
        }
        repo.write(
            "prompts/00-templates/deep.yaml",
            &format!("id: deep\nmessages:\n{}x\n", "- ".repeat(levels)),
        );
        let output = repo.run(&["validate", "--format", "json"]);
        assert_eq!(output.code, 1, "{levels}: {output:?}");
        expect_finding(
            &output,
            "nesting-too-deep",
            "prompts/00-templates/deep.yaml",
            3,
        );
        // JSON lines alike.
        let repo = TestRepo::sample();
        repo.write(
            "prompts/01-examples/summarize.jsonl",
            &format!(
                "{{\"id\": \"a\", \"vars\": {{\"ticket\": {}1{}}}, \"expected\": \"x\"}}\n",
                "[".repeat(levels),
                "]".repeat(levels)
            ),
        );
        let output = repo.run(&["validate", "--format", "json"]);
        assert_eq!(output.code, 1, "{output:?}");
        expect_finding(
            &output,
            "nesting-too-deep",
            "prompts/01-examples/summarize.jsonl",
            1,
        );
    }
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

/// A second task whose files the tests break, beside `summarize`.
fn add_second_task(repo: &TestRepo) {
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

/// Regression (defect 14): the `run` of an interrupted summary and the `task` of a shard summary
/// became paths outside the repository.
#[test]
fn fields_of_data_files_never_become_paths() {
    let server = LlmServer::start(always_right);
    let repo = repo(&server, 3, "");
    assert_eq!(eval(&repo, &[]).code, 0);
    let summary = only_summary(&repo);
    let name = format!("{}.summary.json", summary["run"].as_str().unwrap());
    let mut evil = summary.clone();
    evil["complete"] = Value::Bool(false);
    // From prompts/04-evals/summarize/, four levels up is the repository's parent folder.
    let escape = format!(
        "escape-{}",
        repo.path().file_name().unwrap().to_string_lossy()
    );
    let outside = repo.path().parent().unwrap().join(&escape);
    evil["run"] = Value::from(format!("../../../../{escape}/pwn"));
    evil["log"] = Value::from(format!("../../../../{escape}/pwn.jsonl"));
    repo.write(
        &format!("{EVALS}/{name}"),
        &serde_json::to_string(&evil).unwrap(),
    );
    let before = repo.tree();
    let output = eval(&repo, &["--resume"]);
    // The forged summary is not a run to resume: a new run starts, inside the folder.
    assert_eq!(output.code, 0, "{output:?}");
    assert!(!outside.exists(), "{} was written", outside.display());
    assert!(
        repo.tree().len() > before.len(),
        "a new run was written instead"
    );

    // In `eval merge`, a shard summary's `task` and `log` are checked.
    let artifacts = tempfile::tempdir().unwrap();
    let mut shard = summary.clone();
    shard["shard"] = serde_json::json!({"index": 1, "count": 1});
    shard["task"] = Value::from("../../../outside");
    std::fs::write(
        artifacts.path().join("a.summary.json"),
        serde_json::to_string(&shard).unwrap(),
    )
    .unwrap();
    let output = repo.run(&["eval", "merge", artifacts.path().to_str().unwrap()]);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(output.stderr.contains("is not a task id"), "{output:?}");
}

/// Regression (defect 15): logs were appended to through a symbolic link, and a linked
/// `04-evals` folder was written through.
#[test]
fn nothing_is_written_through_a_symbolic_link() {
    let server = LlmServer::start(always_right);
    let repo = repo(&server, 3, "");
    assert_eq!(eval(&repo, &[]).code, 0);
    let summary = only_summary(&repo);
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("victim.txt");
    std::fs::write(&target, "precious\n").unwrap();
    let log = repo
        .path()
        .join(EVALS)
        .join(summary["log"].as_str().unwrap());
    std::fs::remove_file(&log).unwrap();
    std::os::unix::fs::symlink(&target, &log).unwrap();
    let mut interrupted = summary.clone();
    interrupted["complete"] = Value::Bool(false);
    let name = format!("{}.summary.json", summary["run"].as_str().unwrap());
    repo.write(
        &format!("{EVALS}/{name}"),
        &serde_json::to_string(&interrupted).unwrap(),
    );
    let output = eval(&repo, &["--resume"]);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(output.stderr.contains("symbolic link"), "{output:?}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");

    // A 04-evals folder that links outside the repository is refused, not written through.
    let repo = TestRepo::sample();
    let server = LlmServer::start(always_right);
    let repo2 = crate::eval::repo(&server, 2, "");
    drop(repo);
    std::os::unix::fs::symlink(outside.path(), repo2.path().join("prompts/04-evals")).unwrap();
    let output = eval(&repo2, &[]);
    assert_eq!(output.code, 2, "{output:?}");
    assert_eq!(
        std::fs::read_dir(outside.path()).unwrap().count(),
        1,
        "only the victim"
    );

    // A cache folder that links outside is not written through either: the answers are not
    // stored (a warning says so), the eval itself goes on.
    let server = LlmServer::start(always_right);
    let repo3 = crate::eval::repo(&server, 2, "");
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(repo3.path().join(".promptops")).unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), repo3.path().join(".promptops/cache")).unwrap();
    let output = eval(&repo3, &[]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stderr.contains("symbolic link"), "{output:?}");
    assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
}

/// Regression (defect 28): `MIT OR Apache-2.0` was declared without the license texts.
#[test]
fn the_declared_licenses_are_shipped() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("license = \"MIT OR Apache-2.0\""));
    let mit = std::fs::read_to_string(root.join("LICENSE-MIT")).unwrap();
    assert!(mit.contains("Permission is hereby granted, free of charge"));
    let apache = std::fs::read_to_string(root.join("LICENSE-APACHE")).unwrap();
    assert!(apache.contains("Apache License") && apache.contains("Version 2.0, January 2004"));
}

/// Regression (defect 11): every written file became 0600, and a killed write left a temp file
/// that showed in `git status`.
#[test]
fn written_files_keep_their_mode_and_temp_files_stay_hidden() {
    let server = LlmServer::start(always_right);
    let repo = repo(&server, 2, "");
    let registry = repo.path().join("prompt_registry.yaml");
    std::fs::set_permissions(&registry, std::fs::Permissions::from_mode(0o640)).unwrap();
    // A temp file left over by a killed run, an hour and more ago.
    let stale = repo.path().join(".promptops-Ab12Cd");
    std::fs::write(&stale, "half").unwrap();
    let old = std::process::Command::new("touch")
        .args(["-d", "2 hours ago"])
        .arg(&stale)
        .status()
        .unwrap();
    assert!(old.success());
    assert_eq!(eval(&repo, &[]).code, 0);
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&registry), 0o640, "an existing file keeps its mode");
    let summary = only_summary(&repo);
    let name = format!("{}.summary.json", summary["run"].as_str().unwrap());
    // New files: 0666 under the test process's umask (022 here, so 0644), never 0600.
    assert_ne!(mode(&repo.path().join(EVALS).join(name)) & 0o044, 0);
    assert!(!stale.exists(), "the stale temp file was removed");
    let status = std::process::Command::new("git")
        .args(["status", "--porcelain", "--ignored=no"])
        .current_dir(repo.path())
        .output()
        .unwrap();
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(!status.contains(".promptops-"), "{status}");
    assert!(!status.contains("tmp"), "{status}");
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

/// Runs the binary with a deadline: a hang fails the test instead of stalling it.
fn run_with_deadline(repo: &TestRepo, args: &[&str], seconds: u64) -> (Option<i32>, String) {
    let mut child = repo
        .command(args, &[])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(seconds);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
            return (status.code(), stderr);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "`promptops {}` did not finish within {seconds} s",
                args.join(" ")
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Regression (defect 2): a link to /dev/zero made the human report read without end, and a
/// FIFO (or a link inside the repository to one) blocked the scan in every command.
#[test]
fn only_regular_files_are_ever_opened() {
    let repo = TestRepo::sample();
    std::fs::create_dir_all(repo.path().join("prompts/00-templates")).unwrap();
    std::os::unix::fs::symlink(
        "/dev/zero",
        repo.path().join("prompts/00-templates/zero.yaml"),
    )
    .unwrap();
    let fifo = repo.path().join("prompts/00-templates/pipe.yaml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    std::os::unix::fs::symlink(&fifo, repo.path().join("prompts/00-templates/to-pipe.yaml"))
        .unwrap();
    for args in [&["validate"][..], &["status"], &["registry", "--check"]] {
        let (code, stderr) = run_with_deadline(&repo, args, 20);
        // It finishes (no hang, no crash), with an ordinary exit status.
        assert!(
            code.is_some_and(|code| code <= 2),
            "{args:?}: {code:?} {stderr}"
        );
        if args[0] == "validate" {
            assert_eq!(code, Some(1), "{stderr}");
            for (said, file) in [
                ("outside the repository; not followed", "zero.yaml"),
                ("cannot read the file: not a regular file", "pipe.yaml"),
                (
                    "a link to something that is not a regular file",
                    "to-pipe.yaml",
                ),
            ] {
                let finding = format!("{said}\n --> prompts/00-templates/{file}:1:1");
                assert!(stderr.contains(&finding), "{finding}: {stderr}");
            }
        }
    }
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
