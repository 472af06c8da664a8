//! The repository lock and the journal of a plan being applied (`LIFECYCLE.md` §2).
//!
//! A mutating command holds `.promptops/lock` (an OS file lock: the OS releases it when the
//! process dies) and writes `.promptops/journal.json` (every file step with its new bytes, and
//! the commit to make) before its first change. A run killed part way leaves the journal; the
//! next command that changes the repository (or `promptops repair`) checks it and finishes it,
//! so the repository is only ever in the old state or the new one. Read-only commands only
//! say that one is pending ([`pending`]).

use crate::domain::trailers::Trailer;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::fs::{self as adapters_fs, FsError};
use super::git::{self, GitError};

const LOCK_FILE: &str = ".promptops/lock";
const JOURNAL_FILE: &str = ".promptops/journal.json";

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Git(#[from] GitError),
    #[error("another promptops command holds the repository lock ({holder}); waited {seconds} s")]
    Busy { holder: String, seconds: u64 },
    #[error("{} cannot be read: {reason}", path.display())]
    Unreadable { path: PathBuf, reason: String },
    #[error("the interrupted {what} (plan {plan}) was already committed; it cannot be undone here")]
    Committed { what: String, plan: String },
    #[error(
        "an interrupted {what} (plan {plan}) cannot be finished or undone: {path} has changed since"
    )]
    Diverged {
        what: String,
        plan: String,
        path: String,
    },
}

impl JournalError {
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            JournalError::Busy { .. } => {
                Some("wait for it to finish, or pass a longer --lock-timeout")
            }
            JournalError::Diverged { .. } | JournalError::Unreadable { .. } => Some(
                "restore the files from git (`git status` shows them) and delete .promptops/journal.json, then run the command again",
            ),
            JournalError::Committed { .. } => Some("undo a commit with `git revert`"),
            JournalError::Fs(error) => error.hint(),
            _ => None,
        }
    }
}

/// The repository lock, held until dropped.
pub struct RepoLock {
    _file: std::fs::File,
}

fn open_lock(root: &Path) -> Result<std::fs::File, JournalError> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = root.join(LOCK_FILE);
    adapters_fs::Repository::new(root).create_dir(path.parent().unwrap_or(root))?;
    Ok(std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .custom_flags(libc::O_NOFOLLOW)
        .mode(0o666)
        .open(&path)?)
}

/// Takes the lock, waiting up to `timeout`; says who holds it when the wait runs out.
pub fn lock(root: &Path, timeout: Duration, what: &str) -> Result<RepoLock, JournalError> {
    let mut file = open_lock(root)?;
    let started = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) => {
                if started.elapsed() >= timeout {
                    let mut holder = String::new();
                    let _ = file.read_to_string(&mut holder);
                    return Err(JournalError::Busy {
                        holder: holder.trim().to_owned(),
                        seconds: timeout.as_secs(),
                    });
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(std::fs::TryLockError::Error(error)) => return Err(error.into()),
        }
    }
    file.set_len(0)?;
    file.rewind()?;
    writeln!(file, "pid {}: {what}", std::process::id())?;
    Ok(RepoLock { _file: file })
}

/// One file step: the new bytes to write, or `None` to remove the file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Step {
    pub path: String,
    /// Base64 of the new bytes; absent for a removal.
    pub new: Option<String>,
    pub new_sha256: Option<String>,
    /// The sha256 the file had before (absent when it did not exist).
    pub old_sha256: Option<String>,
    /// Base64 of the bytes the file had before, for `repair --undo`.
    #[serde(default)]
    pub old: Option<String>,
}

/// The commit (and tag) that ends the plan.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PendingCommit {
    pub message: String,
    pub tag: Option<String>,
    pub tag_message: String,
    pub author: crate::domain::plan::Identity,
    pub time: i64,
    pub stage: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Journal {
    pub plan: String,
    /// What the plan id hashes besides the files (`plan_id`): with the steps, recovery
    /// recomputes the id and refuses a journal that does not match it.
    #[serde(default)]
    pub id_basis: String,
    /// What the plan does (`promote summarize 1.1.0`), for messages.
    pub what: String,
    pub steps: Vec<Step>,
    /// Paths to stage when there is no commit (`--no-commit`).
    pub stage: Vec<String>,
    pub commit: Option<PendingCommit>,
}

impl Step {
    /// The new bytes, decoded (`None` for a removal).
    pub fn new_bytes(&self) -> Result<Option<Vec<u8>>, base64::DecodeError> {
        self.new
            .as_deref()
            .map(|encoded| base64::engine::general_purpose::STANDARD.decode(encoded))
            .transpose()
    }

    pub fn write(path: &str, bytes: &[u8], old: Option<&[u8]>) -> Step {
        Step {
            path: path.to_owned(),
            new: Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
            new_sha256: Some(crate::domain::source::sha256_hex(bytes)),
            old_sha256: old.map(crate::domain::source::sha256_hex),
            old: old.map(|old| base64::engine::general_purpose::STANDARD.encode(old)),
        }
    }

    pub fn remove(path: &str, old: &[u8]) -> Step {
        Step {
            path: path.to_owned(),
            new: None,
            new_sha256: None,
            old_sha256: Some(crate::domain::source::sha256_hex(old)),
            old: Some(base64::engine::general_purpose::STANDARD.encode(old)),
        }
    }
}

/// Writes the journal (before the first change).
pub fn begin(root: &Path, journal: &Journal) -> Result<(), JournalError> {
    let bytes = serde_json::to_vec(journal).map_err(std::io::Error::other)?;
    adapters_fs::Repository::new(root).write_atomic(&root.join(JOURNAL_FILE), &bytes)?;
    Ok(())
}

/// Removes the journal (after the last step).
pub fn end(root: &Path) -> Result<(), JournalError> {
    match std::fs::remove_file(root.join(JOURNAL_FILE)) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error.into()),
        _ => Ok(()),
    }
}

/// Carries out the journal's steps, each one skipped when it is already done, then its
/// commit and tag (skipped when HEAD already carries the plan). `fail` is a test switch:
/// the process aborts at the named point.
pub fn carry_out(
    root: &Path,
    journal: &Journal,
    fail: &dyn Fn(&str),
) -> Result<Option<String>, JournalError> {
    // One handle for every step: its folder checks and temp-file setup are done once.
    let repository = adapters_fs::Repository::new(root);
    for (index, step) in journal.steps.iter().enumerate() {
        let path = root.join(&step.path);
        let current = match adapters_fs::read_regular(&path, 1 << 30) {
            Ok(bytes) => Some(crate::domain::source::sha256_hex(&bytes)),
            Err(FsError::Context { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                None
            }
            Err(error) => return Err(error.into()),
        };
        if current == step.new_sha256 {
            continue;
        }
        if current != step.old_sha256 {
            return Err(JournalError::Diverged {
                what: journal.what.clone(),
                plan: journal.plan.clone(),
                path: step.path.clone(),
            });
        }
        put(&repository, &path, step.new.as_deref())?;
        fail(&format!("step-{}", index + 1));
    }
    let Some(commit) = &journal.commit else {
        // Outside a git repository (`--no-commit`) there is no index to stage in.
        if git::is_repository(root) {
            git::remove_stale_locks(root, None)?;
            git::stage(root, &journal.stage)?;
        }
        return Ok(None);
    };
    // A lock file that a killed git operation left (no live process holds it) would stop
    // every commit; it is removed, as git's own message advises, once nothing holds it.
    git::remove_stale_locks(root, commit.tag.as_deref())?;
    git::stage(root, &commit.stage)?;
    let id = if let Some(id) = git::head_with_trailer(root, Trailer::Plan, &journal.plan)? {
        id
    } else {
        let id = git::commit_and_tag(root, &commit.author, commit.time, &commit.message, None)?;
        fail("commit");
        id
    };
    if let Some(tag) = &commit.tag
        && !git::tag_exists(root, tag)?
    {
        git::tag_commit(
            root,
            &id,
            tag,
            &commit.author,
            commit.time,
            &commit.tag_message,
        )?;
    }
    Ok(Some(id))
}

/// Gives the file at `path` the journal's bytes (base64), or removes it when there are none.
fn put(
    repository: &adapters_fs::Repository,
    path: &Path,
    encoded: Option<&str>,
) -> Result<(), JournalError> {
    let Some(encoded) = encoded else {
        std::fs::remove_file(path)?;
        return Ok(());
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|error| JournalError::Unreadable {
            path: repository.root().join(JOURNAL_FILE),
            reason: error.to_string(),
        })?;
    repository.write_atomic(path, &bytes)?;
    Ok(())
}

fn current_sha(path: &Path) -> Result<Option<String>, JournalError> {
    match adapters_fs::read_regular(path, 1 << 30) {
        Ok(bytes) => Ok(Some(crate::domain::source::sha256_hex(&bytes))),
        Err(FsError::Context { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(None)
        }
        Err(error) => Err(error.into()),
    }
}

fn read_journal(root: &Path) -> Result<Option<Journal>, JournalError> {
    let path = root.join(JOURNAL_FILE);
    if adapters_fs::is_symlink(&path) || !path.is_file() {
        return Ok(None);
    }
    // A journal is written by promptops on this machine and never committed: one that git
    // tracks came with the repository, and its steps are data from elsewhere.
    if git::is_tracked(root, JOURNAL_FILE)? {
        return Err(JournalError::Unreadable {
            path,
            reason: "it is tracked by git, so it was not left by a promptops command here; remove it from git".to_owned(),
        });
    }
    let bytes = adapters_fs::read_regular(&path, 1 << 30)?;
    let journal: Journal =
        serde_json::from_slice(&bytes).map_err(|error| JournalError::Unreadable {
            path: path.clone(),
            reason: error.to_string(),
        })?;
    // Its paths are data: each must name a file promptops changes, inside the repository.
    let paths = journal
        .steps
        .iter()
        .map(|step| &step.path)
        .chain(&journal.stage)
        .chain(journal.commit.iter().flat_map(|commit| &commit.stage));
    for step_path in paths {
        if !is_plan_path(step_path) {
            return Err(JournalError::Unreadable {
                path,
                reason: format!("`{step_path}` is not a file a promptops change writes"),
            });
        }
    }
    Ok(Some(journal))
}

/// A path a plan may touch: the registry, or a plain relative path under `prompts/`.
fn is_plan_path(path: &str) -> bool {
    if path == crate::domain::layout::REGISTRY_FILE {
        return true;
    }
    let relative = Path::new(path);
    path.starts_with("prompts/")
        && relative
            .components()
            .all(|component| matches!(component, std::path::Component::Normal(_)))
}

/// Puts back what a killed command's plan changed (files it wrote or removed get their old
/// bytes again; the index entries go back to HEAD's) and removes the journal. A plan whose
/// commit was made is not undone here.
pub fn undo(root: &Path) -> Result<Option<String>, JournalError> {
    let Some(journal) = read_journal(root)? else {
        return Ok(None);
    };
    let lock = lock(root, Duration::from_secs(0), "repair --undo")?;
    if git::head_with_trailer(root, Trailer::Plan, &journal.plan)?.is_some() {
        return Err(JournalError::Committed {
            what: journal.what,
            plan: journal.plan,
        });
    }
    // Check every step before changing any file.
    for step in &journal.steps {
        let current = current_sha(&root.join(&step.path))?;
        if current != step.new_sha256 && current != step.old_sha256 {
            return Err(JournalError::Diverged {
                what: journal.what.clone(),
                plan: journal.plan.clone(),
                path: step.path.clone(),
            });
        }
    }
    let repository = adapters_fs::Repository::new(root);
    for step in journal.steps.iter().rev() {
        let path = root.join(&step.path);
        if current_sha(&path)? == step.old_sha256 {
            continue;
        }
        put(&repository, &path, step.old.as_deref())?;
    }
    git::unstage(root, &journal.stage)?;
    end(root)?;
    drop(lock);
    Ok(Some(format!(
        "undid the interrupted {} (plan {})",
        journal.what,
        journal.plan.get(..12).unwrap_or(&journal.plan)
    )))
}

/// Whether a journal is there (a change in progress, or one a killed command left).
pub fn present(root: &Path) -> bool {
    let path = root.join(JOURNAL_FILE);
    path.is_file() || adapters_fs::is_symlink(&path)
}

/// The interrupted change a killed command left, if any, as `what (plan id)`; it only reads
/// (the lock is tried, not taken, and no file is created), for read-only commands to say so.
pub fn pending(root: &Path) -> Result<Option<String>, JournalError> {
    let path = root.join(JOURNAL_FILE);
    if adapters_fs::is_symlink(&path) || !path.is_file() {
        return Ok(None);
    }
    let lock_path = root.join(LOCK_FILE);
    if lock_path.is_file() && !adapters_fs::is_symlink(&lock_path) {
        let file = std::fs::File::open(&lock_path)?;
        if file.try_lock_shared().is_err() {
            // A running command holds it: its journal is not interrupted.
            return Ok(None);
        }
    }
    Ok(read_journal(root)?.map(|journal| describe(&journal)))
}

fn describe(journal: &Journal) -> String {
    format!(
        "{} (plan {})",
        journal.what,
        journal.plan.get(..12).unwrap_or(&journal.plan)
    )
}

/// The journal a killed command left, with the repository lock now held, unless another
/// command holds the lock (it is running).
pub fn interrupted(root: &Path) -> Result<Option<(Journal, RepoLock)>, JournalError> {
    let path = root.join(JOURNAL_FILE);
    if adapters_fs::is_symlink(&path) || !path.is_file() {
        return Ok(None);
    }
    let file = open_lock(root)?;
    if file.try_lock().is_err() {
        return Ok(None);
    }
    let Some(journal) = read_journal(root)? else {
        return Ok(None);
    };
    Ok(Some((journal, RepoLock { _file: file })))
}

/// Finishes a checked interrupted journal under its lock; returns what was finished.
pub fn complete(root: &Path, journal: &Journal, lock: RepoLock) -> Result<String, JournalError> {
    carry_out(root, journal, &|_| {})?;
    end(root)?;
    drop(lock);
    Ok(format!("finished an interrupted {}", describe(journal)))
}
