//! Commands that change the repository at the same time: each plans from what it read, so a
//! plan is re-checked under the repository lock and made again when another command changed
//! the files meanwhile; no update is lost and the registry stays valid.

use std::io::Write;

use crate::support::{TestRepo, committed_example};

/// A candidate of `task` one minor version above its production prompt, committed.
fn bump(repo: &TestRepo, task: &str, from: &str, to: &str) {
    let production = repo.read(&format!("prompts/02-production/{task}.yaml"));
    repo.write(
        &format!("prompts/00-templates/{task}.yaml"),
        &production.replace(&format!("version: {from}"), &format!("version: {to}")),
    );
}

/// The repository's lock file, opened (not yet locked), as another promptops would hold it.
fn lock_file(repo: &TestRepo) -> std::fs::File {
    let lock_path = repo.path().join(".promptops/lock");
    std::fs::create_dir_all(lock_path.parent().unwrap()).unwrap();
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .unwrap()
}

/// Regression: two concurrent promotions of different tasks both exited 0, the committed
/// registry failed `validate`, and one history event was lost: each planned before taking the
/// lock, from the registry as it was before the other's commit.
#[test]
fn two_concurrent_promotions_of_different_tasks_both_land() {
    let repo = committed_example();
    bump(&repo, "classify-product-category", "1.1.0", "1.2.0");
    bump(&repo, "extract-product-attributes", "1.0.0", "1.1.0");
    assert_eq!(repo.run(&["registry"]).code, 0);
    repo.commit("two candidates", 1_795_437_400);
    // Hold the repository lock, so both promotions plan and then wait for it.
    let lock = lock_file(&repo);
    lock.lock().unwrap();
    let children: Vec<_> = ["classify-product-category", "extract-product-attributes"]
        .into_iter()
        .map(|task| {
            repo.command(
                &[
                    "promote",
                    task,
                    "--force",
                    "--reason",
                    "tested by hand",
                    "--lock-timeout",
                    "60",
                ],
                &[],
            )
            .spawn()
            .unwrap()
        })
        .collect();
    // Both have planned (it takes milliseconds) and wait.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    (&lock).flush().unwrap();
    lock.unlock().unwrap();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let validate = repo.run(&["validate", "--strict"]);
    assert_eq!(validate.code, 0, "{validate:?}");
    let registry = repo.read("prompt_registry.yaml");
    assert_eq!(registry.matches("event: override").count(), 2, "{registry}");
    let repository = git2::Repository::open(repo.path()).unwrap();
    let head = repository.head().unwrap().peel_to_commit().unwrap();
    let parent = head.parent(0).unwrap();
    assert!(
        parent.message().unwrap().starts_with("promote ")
            && head.message().unwrap().starts_with("promote "),
        "two promotion commits, one after the other"
    );
    assert_eq!(repository.tag_names(None).unwrap().len(), 2);
}

/// Regression: `registry` and an eval's score recording rewrote the registry from a snapshot
/// taken before they waited, without the lock; now they wait for a change in progress.
#[test]
fn registry_waits_for_the_repository_lock() {
    let repo = committed_example();
    // A registry to write.
    repo.remove("prompt_registry.yaml");
    let lock = lock_file(&repo);
    lock.lock().unwrap();
    let child = repo.command(&["registry"], &[]).spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    let mut child = child;
    assert!(
        child.try_wait().unwrap().is_none(),
        "registry must wait for the lock"
    );
    lock.unlock().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(repo.path().join("prompt_registry.yaml").is_file());
    // A check writes nothing, and so takes no lock.
    lock.lock().unwrap();
    let check = repo.run(&["registry", "--check"]);
    assert_eq!(check.code, 0, "{check:?}");
}

/// Regression: two evals of one task started in the same second took the same run name (it
/// comes from the time) and wrote into one log, which then held every example twice. The name
/// is taken by creating the log exclusively, so each run keeps its own.
#[test]
fn two_evals_started_in_the_same_second_keep_their_own_runs() {
    use crate::eval::{KEY, always_right, repo as eval_repo};
    use crate::support::llm_server::LlmServer;
    let server = LlmServer::start(always_right);
    server.latency(std::time::Duration::from_millis(20));
    let repo = eval_repo(&server, 20, "");
    let environment = [
        ("TEST_LLM_KEY", KEY),
        ("PROMPTOPS_NOW", "2026-12-02T10:00:00Z"),
        ("PROMPTOPS_RETRY_DELAY_SCALE", "0"),
    ];
    let children: Vec<_> = (0..2)
        .map(|_| {
            repo.command(&["eval", "--no-cache"], &environment)
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let summaries = crate::eval::summaries(&repo);
    assert_eq!(summaries.len(), 2, "{:?}", summaries.keys());
    for summary in summaries.values() {
        assert_eq!(summary["n"], 20, "{summary}");
    }
    let validate = repo.run(&["validate"]);
    assert_eq!(
        validate.code, 0,
        "both runs agree with their logs: {validate:?}"
    );
}
