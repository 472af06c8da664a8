//! A change a killed command left half done (its journal): read-only commands only say so;
//! the commands that change the repository check it against its plan and finish it; a lock
//! file a killed git operation left is handled; outside a git repository nothing is left
//! pending.

use serde_json::Value;

use crate::promote::{paired_eval, promotable, run};

const NOW: &str = "2026-12-02T10:00:00Z";

fn killed_at(repo: &crate::support::TestRepo, point: &str) {
    let killed = repo.run_env(
        &["promote", "summarize"],
        &[("PROMPTOPS_NOW", NOW), ("PROMPTOPS_FAIL_AT", point)],
    );
    assert_ne!(killed.code, 0, "{killed:?}");
    assert!(repo.path().join(".promptops/journal.json").is_file());
}

/// Regression: validate (the pre-commit hook), status and history ran journal recovery, which
/// writes, stages, commits and tags.
#[test]
fn read_only_commands_name_an_interrupted_change_and_write_nothing() {
    let (_server, repo) = promotable(12, false);
    paired_eval(&repo);
    killed_at(&repo, "step-2");
    let before = repo.tree();
    let head = git2::Repository::open(repo.path())
        .unwrap()
        .head()
        .unwrap()
        .target();
    for command in [
        &["validate"][..],
        &["status"],
        &["history", "summarize"],
        &["promote", "summarize", "--dry-run"],
        &["registry", "--check"],
    ] {
        let output = run(&repo, command);
        assert!(
            output.stderr.contains("`promptops repair` finishes it"),
            "{command:?}: {output:?}"
        );
        assert_eq!(repo.tree(), before, "{command:?} wrote");
    }
    let repository = git2::Repository::open(repo.path()).unwrap();
    assert_eq!(repository.head().unwrap().target(), head);
    assert_eq!(repository.tag_names(None).unwrap().len(), 0);
    let output = run(&repo, &["repair"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(!repo.path().join(".promptops/journal.json").exists());
}

/// Regression: recovery applied a tampered journal as written and committed a production
/// prompt that fails `validate`. It now recomputes the plan id from the journal's steps and
/// re-runs the plan's check first.
#[test]
fn a_tampered_journal_is_not_finished() {
    let (_server, repo) = promotable(12, false);
    paired_eval(&repo);
    killed_at(&repo, "journal");
    let path = repo.path().join(".promptops/journal.json");
    let original: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let bad = b"id: summarize\nversion: 9.9.9\nmessages: [\n";
    let encoded = base64_encode(bad);
    let sha256 = promptops::domain::source::sha256_hex(bad);

    // The bytes changed (with their sha256): the plan id no longer matches.
    let mut tampered = original.clone();
    let step = tampered["steps"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|step| step["path"] == "prompts/02-production/summarize.yaml")
        .unwrap();
    step["new"] = encoded.clone().into();
    step["new_sha256"] = sha256.clone().into();
    std::fs::write(&path, tampered.to_string()).unwrap();
    let output = run(&repo, &["repair"]);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(
        output.stderr.contains("does not match its plan id"),
        "{output:?}"
    );

    // The plan id recomputed too: the plan's check refuses what it would leave.
    let steps = tampered["steps"].as_array().unwrap();
    let mut writes = Vec::new();
    let mut removals = Vec::new();
    for step in steps {
        let step_path = step["path"].as_str().unwrap();
        if step_path == "prompt_registry.yaml" {
            continue;
        }
        match step["new_sha256"].as_str() {
            Some(sha) => writes.push(promptops::domain::plan::FileWrite {
                path: step_path.to_owned(),
                bytes: Vec::new(),
                sha256: sha.to_owned(),
            }),
            None => removals.push(promptops::domain::plan::FileRemoval {
                path: step_path.to_owned(),
                sha256: String::new(),
            }),
        }
    }
    let basis = tampered["id_basis"].as_str().unwrap().to_owned();
    let id = promptops::domain::plan::plan_id(&writes, &removals, &basis);
    let old_id = tampered["plan"].as_str().unwrap().to_owned();
    tampered["plan"] = id.clone().into();
    let message = tampered["commit"]["message"]
        .as_str()
        .unwrap()
        .replace(&old_id, &id);
    tampered["commit"]["message"] = message.into();
    std::fs::write(&path, tampered.to_string()).unwrap();
    let output = run(&repo, &["repair"]);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(output.stderr.contains("would have"), "{output:?}");
    assert!(
        !repo
            .read("prompts/02-production/summarize.yaml")
            .contains("9.9.9")
    );
    // The journal as promptops wrote it is finished.
    std::fs::write(&path, original.to_string()).unwrap();
    let output = run(&repo, &["repair"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert_eq!(run(&repo, &["validate", "--strict"]).code, 0);
}

/// Regression: a kill while libgit2 held `refs/tags/…lock` left it behind, and recovery then
/// failed in every command with a raw `code=Locked`.
#[test]
fn a_stale_git_lock_file_does_not_block_recovery() {
    let (_server, repo) = promotable(12, false);
    paired_eval(&repo);
    killed_at(&repo, "commit");
    let lock = repo
        .path()
        .join(".git/refs/tags/prompt/summarize/v1.1.0.lock");
    std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
    std::fs::write(&lock, "").unwrap();
    std::fs::write(repo.path().join(".git/index.lock"), "").unwrap();
    let output = run(&repo, &["repair"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(!lock.exists());
    let repository = git2::Repository::open(repo.path()).unwrap();
    assert!(
        repository
            .find_reference("refs/tags/prompt/summarize/v1.1.0")
            .is_ok()
    );
}

/// Regression: `promote --no-commit --allow-dirty` outside a git repository wrote every file,
/// then left a journal that made every later command exit 2.
#[test]
fn outside_a_git_repository_a_change_without_a_commit_finishes() {
    let (_server, repo) = promotable(12, false);
    paired_eval(&repo);
    std::fs::remove_dir_all(repo.path().join(".git")).unwrap();
    let output = run(
        &repo,
        &[
            "--repo",
            ".",
            "promote",
            "summarize",
            "--no-commit",
            "--allow-dirty",
        ],
    );
    assert_eq!(output.code, 0, "{output:?}");
    assert!(!repo.path().join(".promptops/journal.json").exists());
    assert!(
        repo.read("prompts/02-production/summarize.yaml")
            .contains("version: 1.1.0")
    );
    let status = run(&repo, &["--repo", ".", "status"]);
    assert_eq!(status.code, 0, "{status:?}");
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
