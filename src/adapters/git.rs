//! Git: finding the repository, and when files last changed.

use crate::domain::plan::Identity;
use crate::domain::trailers::{self, Trailer};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::domain::layout;

/// A git operation that failed.
#[derive(Debug, thiserror::Error)]
#[error("git: {}", .0.message())]
pub struct GitError(#[from] git2::Error);

/// The root of the prompt repository that contains `start`: the nearest folder at or above
/// `start` (not above the git work tree) holding `prompt_registry.yaml`, `promptops.yaml` or
/// `prompts/`; else the git work tree itself.
pub fn find_root(start: &Path) -> Option<PathBuf> {
    let start = fs_err::canonicalize(start).ok()?;
    let work_tree = git2::Repository::discover(&start)
        .ok()
        .and_then(|repository| repository.workdir().map(Path::to_path_buf))
        .and_then(|path| fs_err::canonicalize(path).ok());
    for folder in start.ancestors() {
        let marked = [
            layout::REGISTRY_FILE,
            layout::CONFIG_FILE,
            layout::PROMPTS_DIR,
        ]
        .iter()
        .any(|name| folder.join(name).exists());
        if marked {
            return Some(folder.to_path_buf());
        }
        if Some(folder) == work_tree.as_deref() {
            break;
        }
    }
    work_tree
}

/// A commit that last touched a path.
#[derive(Clone, Debug)]
pub struct LastChange {
    /// Seconds since the Unix epoch (committer time).
    pub time: i64,
    pub summary: String,
    pub short_id: String,
}

/// For each path (relative to `root`), the newest commit reachable from HEAD that changed it.
/// Walks at most `limit` commits; paths not found there are absent from the answer, and so
/// is everything outside a git repository or before its first commit.
// Long on purpose: one history walk whose early exits (no repository, no commit yet) and loop
// share the repository handle.
pub fn last_changes(
    root: &Path,
    paths: &[String],
    limit: usize,
) -> Result<HashMap<String, LastChange>, GitError> {
    let mut found = HashMap::new();
    let Ok(repository) = git2::Repository::discover(root) else {
        return Ok(found);
    };
    let (Some(work_tree), Ok(root)) = (
        repository
            .workdir()
            .and_then(|p| fs_err::canonicalize(p).ok()),
        fs_err::canonicalize(root),
    ) else {
        // A bare repository, or a folder that went away: no history to show.
        return Ok(found);
    };
    let prefix = crate::adapters::fs::relative_path(&work_tree, &root);
    // Paths as git names them (from the work tree's top) -> as the caller named them.
    let mut wanted: HashMap<String, &String> = paths
        .iter()
        .map(|path| {
            (
                if prefix.is_empty() {
                    path.clone()
                } else {
                    format!("{prefix}/{path}")
                },
                path,
            )
        })
        .collect();
    if repository.head().is_err() {
        // No commit yet (an unborn branch): nothing has a last change.
        return Ok(found);
    }
    let mut walk = repository.revwalk()?;
    walk.push_head()?;
    // Children before parents even when commits share a timestamp (scripts commit fast).
    walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::TIME)?;
    for oid in walk.take(limit) {
        if wanted.is_empty() {
            break;
        }
        let oid = oid?;
        let commit = repository.find_commit(oid)?;
        let tree = commit.tree()?;
        let parent_tree = match commit.parent(0) {
            Ok(parent) => Some(parent.tree()?),
            Err(_) => None,
        };
        // A tree diff descends only into folders whose ids differ, so a commit costs what it
        // changed, not what the repository holds.
        let diff = repository.diff_tree_to_tree(parent_tree.as_ref(), Some(&tree), None)?;
        for delta in diff.deltas() {
            if delta.status() == git2::Delta::Deleted {
                continue;
            }
            let Some(path) = delta.new_file().path().and_then(Path::to_str) else {
                continue;
            };
            if let Some(original) = wanted.remove(path) {
                found.insert(
                    original.clone(),
                    LastChange {
                        time: commit.time().seconds(),
                        summary: commit
                            .summary()
                            .ok()
                            .flatten()
                            .unwrap_or_default()
                            .to_owned(),
                        short_id: oid.to_string()[..8].to_owned(),
                    },
                );
            }
        }
    }
    Ok(found)
}

/// Creates a git repository at `path` unless it is already inside one.
pub fn ensure_repository(path: &Path) -> Result<bool, GitError> {
    if git2::Repository::discover(path).is_ok() {
        return Ok(false);
    }
    git2::Repository::init(path)?;
    Ok(true)
}

/// Process-wide libgit2 settings; call once, first thing in `main`, before any thread starts.
pub fn configure() {
    // libgit2 caches no tree over 4 KiB by default, so walking history re-reads and re-hashes
    // a layer folder's tree (~40 bytes per file) for every commit. Cache trees up to 64 MiB;
    // the cache as a whole stays within libgit2's 256 MiB budget.
    // SAFETY: called from `main` before any thread is spawned, as the function requires.
    let _ = unsafe { git2::opts::set_cache_object_limit(git2::ObjectType::Tree, 64 * 1024 * 1024) };
}

/// The commit `HEAD` points at, when there is one.
pub fn head_commit(root: &Path) -> Option<String> {
    let repository = git2::Repository::discover(root).ok()?;
    let head = repository.head().ok()?.peel_to_commit().ok()?;
    Some(head.id().to_string())
}

/// Who commits: the git identity (`user.name`, `user.email`), else `actor` (`GITHUB_ACTOR`
/// under GitHub Actions) with its no-reply address; `None` when neither is known.
pub fn identity(root: &Path, actor: Option<&str>) -> Option<Identity> {
    let from_config = git2::Repository::discover(root)
        .ok()
        .and_then(|repository| repository.signature().ok())
        .and_then(|signature| {
            Some(Identity {
                name: signature.name().ok()?.to_owned(),
                email: signature.email().ok()?.to_owned(),
            })
        });
    from_config.or_else(|| {
        actor.map(|actor| Identity {
            name: actor.to_owned(),
            email: format!("{actor}@users.noreply.github.com"),
        })
    })
}

/// The work tree's top and the prefix of `root` inside it (empty at the top).
fn open_at(root: &Path) -> Result<(git2::Repository, String), GitError> {
    let repository = git2::Repository::discover(root)?;
    let work_tree = repository
        .workdir()
        .map(Path::to_path_buf)
        .ok_or_else(|| git2::Error::from_str("a bare repository has no work tree"))?;
    let work_tree = fs_err::canonicalize(work_tree)
        .map_err(|error| git2::Error::from_str(&error.to_string()))?;
    let root =
        fs_err::canonicalize(root).map_err(|error| git2::Error::from_str(&error.to_string()))?;
    let prefix = crate::adapters::fs::relative_path(&work_tree, &root);
    Ok((repository, prefix))
}

fn in_work_tree(prefix: &str, path: &str) -> String {
    if prefix.is_empty() {
        path.to_owned()
    } else {
        format!("{prefix}/{path}")
    }
}

/// Paths (relative to `root`) staged in the index and not in `except`: a commit made now
/// would take them in.
pub fn staged_besides(root: &Path, except: &[String]) -> Result<Vec<String>, GitError> {
    let (repository, prefix) = open_at(root)?;
    let except: Vec<String> = except
        .iter()
        .map(|path| in_work_tree(&prefix, path))
        .collect();
    let mut options = git2::StatusOptions::new();
    options.include_untracked(false);
    let statuses = repository.statuses(Some(&mut options))?;
    let staged = git2::Status::INDEX_NEW
        | git2::Status::INDEX_MODIFIED
        | git2::Status::INDEX_DELETED
        | git2::Status::INDEX_RENAMED
        | git2::Status::INDEX_TYPECHANGE;
    Ok(statuses
        .iter()
        .filter(|entry| entry.status().intersects(staged))
        .filter_map(|entry| entry.path().ok().map(str::to_owned))
        .filter(|path| !except.contains(path))
        .collect())
}

/// promptops's own runtime files (the repository lock, the journal of a change in progress,
/// the temp files of atomic writes): never part of a commit, never a reason to refuse one.
pub const OWN_FILES: [&str; 3] = [
    ".promptops/lock",
    ".promptops/journal.json",
    ".promptops/tmp/",
];

fn is_own_file(path: &str) -> bool {
    OWN_FILES
        .iter()
        .any(|own| path == *own || (own.ends_with('/') && path.starts_with(own)))
}

/// Takes promptops's own runtime files out of the index when a `git add -A` put them there
/// (a repository whose `.gitignore` predates them): they must not block or join a commit.
pub fn unstage_own_files(root: &Path) -> Result<Vec<String>, GitError> {
    let (repository, prefix) = open_at(root)?;
    let mut options = git2::StatusOptions::new();
    options.include_untracked(false);
    let statuses = repository.statuses(Some(&mut options))?;
    let own: Vec<String> = statuses
        .iter()
        .filter(|entry| {
            entry
                .status()
                .intersects(git2::Status::INDEX_NEW | git2::Status::INDEX_MODIFIED)
        })
        .filter_map(|entry| entry.path().ok().map(str::to_owned))
        .filter_map(|path| {
            let relative = if prefix.is_empty() {
                Some(path.as_str())
            } else {
                path.strip_prefix(&format!("{prefix}/"))
            }?;
            is_own_file(relative).then(|| relative.to_owned())
        })
        .collect();
    if !own.is_empty() {
        unstage(root, &own)?;
    }
    Ok(own)
}

/// Whether `root` lies in a git repository with a work tree.
pub fn is_repository(root: &Path) -> bool {
    open_at(root).is_ok()
}

/// Removes the lock files a killed git operation may have left on what a promptops commit
/// touches (the index, HEAD, its branch, the packed refs and the tag `tag`), each only when
/// no live process has it open: git and libgit2 keep a lock file open while they hold it.
pub fn remove_stale_locks(root: &Path, tag: Option<&str>) -> Result<Vec<PathBuf>, GitError> {
    let (repository, _) = open_at(root)?;
    let git_dir = repository.path().to_path_buf();
    let mut locks = vec![
        git_dir.join("index.lock"),
        git_dir.join("HEAD.lock"),
        git_dir.join("packed-refs.lock"),
    ];
    if let Ok(head) = repository.find_reference("HEAD")
        && let Ok(Some(branch)) = head.symbolic_target()
        && branch.starts_with("refs/heads/")
    {
        locks.push(git_dir.join(format!("{branch}.lock")));
    }
    if let Some(tag) = tag.filter(|tag| is_valid_tag_name(tag)) {
        locks.push(git_dir.join(format!("refs/tags/{tag}.lock")));
    }
    let mut removed = Vec::new();
    for lock in locks {
        if lock.symlink_metadata().is_ok_and(|meta| meta.is_file()) && !held_open(&lock) {
            fs_err::remove_file(&lock)
                .map_err(|error| git2::Error::from_str(&error.to_string()))?;
            tracing::warn!(
                "removed {}, which a killed git operation left behind",
                lock.display()
            );
            removed.push(lock);
        }
    }
    Ok(removed)
}

/// Whether any process has `path` open (Linux: its `/proc/*/fd` links). Where that cannot be
/// read, a lock file younger than a minute counts as held.
fn held_open(path: &Path) -> bool {
    let Ok(target) = fs_err::canonicalize(path) else {
        return true;
    };
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return path
            .metadata()
            .and_then(|meta| meta.modified())
            .ok()
            .and_then(|modified| modified.elapsed().ok())
            .is_none_or(|age| age < std::time::Duration::from_mins(1));
    };
    for process in processes.flatten() {
        let Ok(descriptors) = std::fs::read_dir(process.path().join("fd")) else {
            continue;
        };
        for descriptor in descriptors.flatten() {
            if std::fs::read_link(descriptor.path()).is_ok_and(|link| link == target) {
                return true;
            }
        }
    }
    false
}

/// Whether git accepts `tag` as a tag name.
pub fn is_valid_tag_name(tag: &str) -> bool {
    git2::Reference::is_valid_name(&format!("refs/tags/{tag}"))
}

/// Whether the tag exists.
pub fn tag_exists(root: &Path, tag: &str) -> Result<bool, GitError> {
    let (repository, _) = open_at(root)?;
    Ok(repository
        .find_reference(&format!("refs/tags/{tag}"))
        .is_ok())
}

/// The tags whose names start with `prefix`.
pub fn tags_with_prefix(root: &Path, prefix: &str) -> Result<Vec<String>, GitError> {
    let (repository, _) = open_at(root)?;
    let names = repository.tag_names(Some(&format!("{prefix}*")))?;
    Ok(names
        .iter()
        .filter_map(|name| name.ok().flatten().map(str::to_owned))
        .collect())
}

/// Stages `paths` (relative to `root`): each as it is in the work tree, removed when gone.
pub fn stage(root: &Path, paths: &[String]) -> Result<(), GitError> {
    let (repository, prefix) = open_at(root)?;
    let mut index = repository.index()?;
    for path in paths {
        let in_tree = in_work_tree(&prefix, path);
        if root.join(path).exists() {
            index.add_path(Path::new(&in_tree))?;
        } else {
            // Gone from the work tree: gone from the index (a file never tracked is no error).
            let _ = index.remove_path(Path::new(&in_tree));
        }
    }
    index.write()?;
    Ok(())
}

/// Commits the index with `message` as `author` (name, email) at `time` (seconds), and makes
/// the annotated `tag` on the commit; returns the commit's id.
pub fn commit_and_tag(
    root: &Path,
    author: &Identity,
    time: i64,
    message: &str,
    tag: Option<(&str, &str)>,
) -> Result<String, GitError> {
    let (repository, _) = open_at(root)?;
    let signature = git2::Signature::new(&author.name, &author.email, &git2::Time::new(time, 0))?;
    let mut index = repository.index()?;
    let tree = repository.find_tree(index.write_tree()?)?;
    let parent = match repository.head() {
        Ok(head) => Some(head.peel_to_commit()?),
        Err(_) => None,
    };
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    let id = repository.commit(
        Some("HEAD"),
        &signature,
        &signature,
        message,
        &tree,
        &parents,
    )?;
    if let Some((name, text)) = tag {
        let object = repository.find_object(id, Some(git2::ObjectType::Commit))?;
        repository.tag(name, &object, &signature, text, false)?;
    }
    Ok(id.to_string())
}

/// A commit that carried out a plan.
#[derive(Clone, Debug)]
pub struct PlanCommit {
    pub id: String,
    pub time: i64,
    pub summary: String,
}

/// The commits reachable from HEAD that carry a `Promptops-Plan` trailer, by plan id (at most
/// `limit` commits are read). Outside a repository, or before its first commit, there are none.
pub fn plan_commits(root: &Path, limit: usize) -> Result<HashMap<String, PlanCommit>, GitError> {
    let mut found = HashMap::new();
    let Ok((repository, _)) = open_at(root) else {
        return Ok(found);
    };
    if repository.head().is_err() {
        return Ok(found);
    }
    let mut walk = repository.revwalk()?;
    walk.push_head()?;
    for oid in walk.take(limit) {
        let commit = repository.find_commit(oid?)?;
        let message = String::from_utf8_lossy(commit.message_bytes()).into_owned();
        {
            if let Some(plan) = trailers::value(&message, Trailer::Plan) {
                found
                    .entry(plan.trim().to_owned())
                    .or_insert_with(|| PlanCommit {
                        id: commit.id().to_string(),
                        time: commit.time().seconds(),
                        summary: String::from_utf8_lossy(
                            commit.summary_bytes().unwrap_or_default(),
                        )
                        .into_owned(),
                    });
            }
        }
    }
    Ok(found)
}

/// HEAD's id when its message carries the trailer `key: value`.
pub fn head_with_trailer(
    root: &Path,
    trailer: Trailer,
    value: &str,
) -> Result<Option<String>, GitError> {
    let (repository, _) = open_at(root)?;
    let Ok(head) = repository.head() else {
        return Ok(None);
    };
    let commit = head.peel_to_commit()?;
    let message = String::from_utf8_lossy(commit.message_bytes()).into_owned();
    Ok((trailers::value(&message, trailer) == Some(value)).then(|| commit.id().to_string()))
}

/// Makes the annotated `tag` on the commit `id`.
pub fn tag_commit(
    root: &Path,
    id: &str,
    tag: &str,
    author: &Identity,
    time: i64,
    message: &str,
) -> Result<(), GitError> {
    let (repository, _) = open_at(root)?;
    let signature = git2::Signature::new(&author.name, &author.email, &git2::Time::new(time, 0))?;
    let object =
        repository.find_object(git2::Oid::from_str(id)?, Some(git2::ObjectType::Commit))?;
    repository.tag(tag, &object, &signature, message, false)?;
    Ok(())
}

/// The files (relative to `root`) that differ between the revision `since` and the work tree:
/// changed, added (untracked included), removed or renamed.
pub fn changed_since(
    root: &Path,
    since: &str,
) -> Result<std::collections::BTreeSet<String>, GitError> {
    let (repository, prefix) = open_at(root)?;
    let tree = repository.revparse_single(since)?.peel_to_tree()?;
    let mut options = git2::DiffOptions::new();
    options.include_untracked(true).recurse_untracked_dirs(true);
    let diff = repository.diff_tree_to_workdir_with_index(Some(&tree), Some(&mut options))?;
    let mut changed = std::collections::BTreeSet::new();
    for delta in diff.deltas() {
        for file in [delta.old_file(), delta.new_file()] {
            let Some(path) = file.path().and_then(Path::to_str) else {
                continue;
            };
            let relative = if prefix.is_empty() {
                Some(path)
            } else {
                path.strip_prefix(&format!("{prefix}/"))
            };
            if let Some(relative) = relative {
                changed.insert(relative.to_owned());
            }
        }
    }
    Ok(changed)
}

/// Which of `paths` (relative to `root`) differ from HEAD: modified, staged, new or deleted.
pub fn dirty(root: &Path, paths: &[String]) -> Result<Vec<String>, GitError> {
    let (repository, prefix) = open_at(root)?;
    let mut found = Vec::new();
    for path in paths {
        let in_tree = in_work_tree(&prefix, path);
        let status = match repository.status_file(Path::new(&in_tree)) {
            Ok(status) => status,
            // Neither in HEAD, the index nor the work tree: nothing to lose.
            Err(error) if error.code() == git2::ErrorCode::NotFound => continue,
            Err(error) => return Err(error.into()),
        };
        if !status.is_empty() && !status.contains(git2::Status::IGNORED) {
            found.push(path.clone());
        }
    }
    Ok(found)
}

/// Puts the index entries of `paths` (relative to `root`) back to HEAD's (`git reset -- PATH`).
pub fn unstage(root: &Path, paths: &[String]) -> Result<(), GitError> {
    let (repository, prefix) = open_at(root)?;
    let in_tree: Vec<String> = paths
        .iter()
        .map(|path| in_work_tree(&prefix, path))
        .collect();
    if let Ok(head) = repository.head() {
        let target = head.peel(git2::ObjectType::Commit)?;
        repository.reset_default(Some(&target), in_tree.iter())?;
    } else {
        let mut index = repository.index()?;
        for path in &in_tree {
            // A path that was never in the index is no error.
            let _ = index.remove_path(Path::new(path));
        }
        index.write()?;
    }
    Ok(())
}

/// Whether git tracks `path` (relative to `root`): in HEAD or in the index.
pub fn is_tracked(root: &Path, path: &str) -> Result<bool, GitError> {
    let Ok((repository, prefix)) = open_at(root) else {
        return Ok(false);
    };
    let in_tree = in_work_tree(&prefix, path);
    let index = repository.index()?;
    if index.get_path(Path::new(&in_tree), 0).is_some() {
        return Ok(true);
    }
    let Ok(head) = repository.head() else {
        return Ok(false);
    };
    let tree = head.peel_to_tree()?;
    Ok(tree.get_path(Path::new(&in_tree)).is_ok())
}

#[cfg(test)]
mod tests {
    /// The plan's own check agrees with git's rules and with `validate`'s.
    #[test]
    fn a_tag_git_refuses_is_known_before_a_plan_is_applied() {
        for (version, fits) in [
            ("1.1.0", true),
            ("1.1.0-rc.1+build.7", true),
            ("1.1.0-x.lock", false),
            ("1.1.0+b.lock", false),
        ] {
            assert_eq!(
                super::is_valid_tag_name(&format!("prompt/task/v{version}")),
                fits,
                "{version}"
            );
            assert_eq!(
                crate::domain::model::version_fits_a_tag(version),
                fits,
                "{version}"
            );
        }
    }
}
