//! "Never a panic on any input, never damage": the bundled example's files, corrupted in many
//! seeded ways, go through the whole analysis and the registry rendering; deep nesting is a
//! finding; and what promptops reads and writes stays regular files in the repository (no link
//! followed, no FIFO opened, no data field taken as a path, modes kept, temp files hidden).

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use promptops::domain::analysis::{Options, analyze};
use promptops::domain::registry;
use promptops::domain::source::{FileContent, InputFile};
use serde_json::Value;

use crate::eval::{EVALS, always_right, eval, only_summary, repo};
use crate::support::llm_server::LlmServer;
use crate::support::{Random, TestRepo, expect_finding};

const SPLICES: &[&[u8]] = &[
    b": ",
    b"\n- ",
    b"{{",
    b"}}",
    b"{%",
    b"%}",
    b"&a ",
    b"*a",
    b"!!str ",
    b"!custom ",
    b"\t",
    b"\"",
    b"'",
    b"---\n",
    b"[",
    b"]",
    b"{",
    b"}",
    b"\xff",
    b"\xc3",
    b"\0",
    b"#",
    b"|",
    b">",
    b"?",
    b"~",
    b"1e999",
    b"\r\n",
    b"\xe2\x80\xa8",
];

fn mutate(bytes: &[u8], random: &mut Random) -> Vec<u8> {
    let mut bytes = bytes.to_vec();
    for _ in 0..=random.below(4) {
        let at = random.below(bytes.len() + 1);
        match random.below(6) {
            0 => bytes.truncate(at),
            5 => {
                // Deep nesting, the shape that once overflowed the stack: `- - - x`, `[[[`,
                // `{"a": {"a": …`.
                let depth = 100 + random.below(20_000);
                let unit: &[u8] = match random.below(3) {
                    0 => b"- ",
                    1 => b"[",
                    _ => b"{\"a\": ",
                };
                let nested: Vec<u8> = unit.repeat(depth);
                bytes.splice(at..at, nested);
            }
            1 => {
                let end = (at + random.below(80)).min(bytes.len());
                bytes.drain(at..end);
            }
            2 if !bytes.is_empty() => {
                let index = at.min(bytes.len() - 1);
                bytes[index] = u8::try_from(random.below(256)).unwrap();
            }
            _ => {
                let splice = SPLICES[random.below(SPLICES.len())];
                bytes.splice(at..at, splice.iter().copied());
            }
        }
    }
    bytes
}

/// The bundled example's files as committed (read from git's HEAD, not the work tree): the
/// README's main job writes eval logs and rewrites the registry in the checkout, and this test
/// must not depend on what ran before it (regression, defect 22).
fn bundled_files() -> Vec<InputFile> {
    crate::support::committed_files(|path| {
        path.starts_with("prompts/") || path == "prompt_registry.yaml" || path == "promptops.yaml"
    })
    .into_iter()
    .map(|(path, bytes)| InputFile {
        path,
        content: FileContent::Bytes(bytes),
    })
    .collect()
}

/// The corruption cases run in a child process: a stack overflow aborts the process, which
/// `catch_unwind` cannot see, but the parent sees the child die (regression, defect 1).
#[test]
fn corrupted_files_never_panic_the_analysis() {
    crate::support::run_worker_in_child("robustness::corrupted_files_worker");
}

#[test]
#[ignore = "run in a child process by corrupted_files_never_panic_the_analysis"]
fn corrupted_files_worker() {
    let original = bundled_files();
    let clean = analyze(&original, Options::default());
    assert_eq!(clean.findings, vec![], "the bundled example is clean");
    let mut corrupted_runs = 0;
    for seed in 1..=400_u64 {
        let mut random = Random(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut files = original.clone();
        for _ in 0..=random.below(3) {
            let index = random.below(files.len());
            if let FileContent::Bytes(bytes) = &files[index].content {
                files[index].content = FileContent::Bytes(mutate(bytes, &mut random));
            }
        }
        let analysis = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            analyze(
                &files,
                Options {
                    strict: seed % 2 == 0,
                    threads: 2,
                    spawn: &promptops::adapters::threads::Threads,
                },
            )
        }))
        .unwrap_or_else(|_| panic!("analysis panicked for seed {seed}"));
        for finding in &analysis.findings {
            assert!(
                finding.line >= 1 && finding.column >= 1,
                "seed {seed}: {finding:?}"
            );
            assert!(!finding.message.is_empty(), "seed {seed}: {finding:?}");
        }
        // Rendering whatever registry the broken files call for must not panic either.
        let _ = registry::render(&analysis.expected_registry);
        corrupted_runs += usize::from(!analysis.findings.is_empty());
    }
    // Most mutations must actually be caught, or this test would prove nothing.
    assert!(
        corrupted_runs > 300,
        "only {corrupted_runs} of 400 corruptions were reported"
    );
}

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
