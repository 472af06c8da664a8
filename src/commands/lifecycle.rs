//! What the lifecycle's mutating commands (`promote`, `archive`) share: checking a plan by
//! analysing the repository as it would be after it, and carrying it out.

use std::path::Path;

use crate::adapters::journal::{self, Journal, PendingCommit, Step};
use crate::adapters::{self, git};
use crate::domain::analysis::{self, Options};
use crate::domain::diagnostic::Severity;
use crate::domain::layout;
use crate::domain::model::Registry;
use crate::domain::plan::{FileRemoval, FileWrite, Identity, Plan};
use crate::domain::registry;
use crate::domain::source::{FileContent, InputFile};
use crate::domain::trailers::{self, Trailer};
use crate::exit::{ExitStatus, UserError};

/// The registry after the plan (the files' registry, changed by `edit`), checked: the
/// repository with the plan and this registry applied must have no error. `what` names the
/// change in the message.
pub(super) fn checked_registry(
    inputs: &[InputFile],
    writes: &[FileWrite],
    removals: &[FileRemoval],
    threads: usize,
    what: &str,
    edit: impl FnOnce(&mut Registry),
) -> anyhow::Result<FileWrite> {
    // An archived version is history: no plan writes over one.
    let archive = format!("{}/{}/", layout::PROMPTS_DIR, layout::ARCHIVE);
    if let Some(existing) = writes.iter().find(|write| {
        write.path.starts_with(&archive) && inputs.iter().any(|input| input.path == write.path)
    }) {
        return Err(UserError::new(
            ExitStatus::Error,
            format!(
                "{} already exists; an archived version is never replaced",
                existing.path
            ),
        )
        .hint("raise the version of the prompt that would be archived there")
        .into());
    }
    let options = Options {
        strict: false,
        threads,
        spawn: &crate::adapters::threads::Threads,
    };
    let first = analysis::analyze(
        &crate::domain::plan::overlay(inputs, writes, removals, None),
        options,
    );
    let mut registry = first.expected_registry;
    edit(&mut registry);
    let text = registry::render(&registry);
    let registry_write = FileWrite {
        path: layout::REGISTRY_FILE.to_owned(),
        sha256: crate::domain::source::sha256_hex(text.as_bytes()),
        bytes: text.into_bytes(),
    };
    let after = analysis::analyze(
        &crate::domain::plan::overlay(inputs, writes, removals, Some(&registry_write)),
        options,
    );
    if let Some((count, listed)) = errors_listed(&after) {
        return Err(UserError::new(
            ExitStatus::Error,
            format!(
                "the repository would have {count} error(s) after {what}; nothing was changed:\n  {listed}"
            ),
        )
        .hint("fix them first (`promptops validate` lists every problem)")
        .into());
    }
    Ok(registry_write)
}

/// The repository changed between the scan a plan was made from and the lock: the plan is
/// stale. Nothing was written; the command plans again (`retrying`).
#[derive(Debug, thiserror::Error)]
#[error(
    "the repository changed while the {what} was planned (another promptops command changed {}); nothing was changed",
    changed.join(", ")
)]
pub(super) struct StalePlan {
    what: String,
    changed: Vec<String>,
}

/// Runs `attempt` (plan, check, apply) again while its plan turns out stale under the lock,
/// a few times: each attempt reads the repository as the other command left it.
pub(super) fn retrying<T>(mut attempt: impl FnMut() -> anyhow::Result<T>) -> anyhow::Result<T> {
    for _ in 0..4 {
        match attempt() {
            Err(error) if error.downcast_ref::<StalePlan>().is_some() => {
                tracing::info!("{error}; planning again");
            }
            other => return other,
        }
    }
    attempt()
}

/// The files whose content differs now from what `read` holds (eval logs aside: they are
/// outputs, and an eval may write one at any time).
fn changed_since_read(root: &Path, read: &[InputFile]) -> anyhow::Result<Vec<String>> {
    let now = adapters::fs::scan(root, super::runtime::threads())?;
    let before = fingerprint(read)?;
    let after = fingerprint(&now)?;
    let mut changed: Vec<String> = before
        .iter()
        .filter(|(path, sha256)| after.get(*path) != Some(sha256))
        .map(|(path, _)| path.clone())
        .chain(
            after
                .keys()
                .filter(|path| !before.contains_key(*path))
                .cloned(),
        )
        .collect();
    changed.sort();
    changed.dedup();
    Ok(changed)
}

/// Each file's content as a sha256 (or what stood in its place: a link, a refusal).
fn fingerprint(files: &[InputFile]) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    let evals = format!("{}/{}/", layout::PROMPTS_DIR, layout::EVALS);
    let mut prints = std::collections::BTreeMap::new();
    for file in files.iter().filter(|file| !file.path.starts_with(&evals)) {
        let print = match &file.content {
            FileContent::Bytes(bytes) => crate::domain::source::sha256_hex(bytes),
            FileContent::Stream(_) => {
                let mut reader = file
                    .content
                    .reader()
                    .transpose()?
                    .ok_or_else(|| anyhow::anyhow!("{} cannot be read again", file.path))?;
                crate::domain::source::sha256_hex_of_reader(&mut reader)?
            }
            other => format!("{other:?}"),
        };
        prints.insert(file.path.clone(), print);
    }
    Ok(prints)
}

/// Writes the plan (registry last), stages it and, with an identity, commits and tags it.
/// Who commits: the identity, none with `--no-commit`, else an error naming both ways.
pub(super) fn committer(
    identity: Option<Identity>,
    no_commit: bool,
    what: &str,
) -> anyhow::Result<Option<Identity>> {
    match identity {
        _ if no_commit => Ok(None),
        Some(identity) => Ok(Some(identity)),
        None => Err(UserError::new(
            ExitStatus::Error,
            format!("no git identity to commit the {what} as"),
        )
        .hint("set `git config user.name` and `user.email`, or run under GitHub Actions (GITHUB_ACTOR); or pass --no-commit")
        .into()),
    }
}

/// A change (archive, rollback, a deploy's record) in its checked parts, ready to become a
/// plan and be carried out by [`finish`].
pub(super) struct Change<'a> {
    /// The files the plan was made from: under the lock they must still be these.
    pub read: &'a [InputFile],
    /// Eval files the commit carries besides the plan's writes (a rollback's evidence).
    pub evidence: &'a [String],
    pub writes: Vec<FileWrite>,
    pub removals: Vec<FileRemoval>,
    pub registry: FileWrite,
    pub message: String,
    /// What the plan id hashes besides the files (the commit message, or a deploy's record).
    pub id_basis: String,
    /// The annotated tag on the commit, when the change has one.
    pub tag: Option<String>,
    /// Names the change in messages and the journal (`archive TASK VERSION`).
    pub what: String,
    pub identity: Option<Identity>,
}

/// A change from its checked parts: the plan, then, unless a dry run, the dirty-files check
/// and its application. Returns the plan and what was done.
pub(super) fn finish(
    root: &Path,
    settings: &crate::settings::Settings,
    flags: &crate::cli::ChangeFlags,
    change: Change<'_>,
) -> anyhow::Result<(Plan, crate::domain::outcome::ChangeResult)> {
    use crate::domain::outcome::ChangeResult;
    let Change {
        read,
        evidence,
        writes,
        removals,
        registry,
        message,
        id_basis,
        tag,
        what,
        identity,
    } = change;
    let paths: Vec<String> = writes
        .iter()
        .map(|write| write.path.clone())
        .chain(removals.iter().map(|removal| removal.path.clone()))
        .collect();
    let id = crate::domain::plan::plan_id(&writes, &removals, &id_basis);
    let plan = Plan {
        commit_message: format!("{message}{}", trailers::block(&[(Trailer::Plan, &id)])),
        id,
        id_basis,
        writes,
        removals,
        registry,
        tag_message: tag.as_ref().map_or_else(String::new, |_| {
            message.lines().next().unwrap_or_default().to_owned()
        }),
        tag,
    };
    if flags.dry_run {
        return Ok((plan, ChangeResult::DryRun));
    }
    refuse_dirty(root, &paths, flags.allow_dirty)?;
    let kind = what.split(' ').next().unwrap_or("change").to_owned();
    let identity = committer(identity, flags.no_commit, &kind)?;
    let commit = apply(
        root,
        &plan,
        evidence,
        &Apply {
            read,
            identity: identity.as_ref(),
            now: settings.clock.now(),
            what,
            lock_timeout: super::flags::wait(&flags.lock_timeout, "lock-timeout")?,
            fail_at: settings.fail_at.as_deref(),
        },
    )?;
    let tag = commit.as_ref().and(plan.tag.clone());
    Ok((plan, ChangeResult::Applied { commit, tag }))
}

/// Refuses to change files that hold uncommitted work, unless `--allow-dirty`.
pub(super) fn refuse_dirty(root: &Path, paths: &[String], allow: bool) -> anyhow::Result<()> {
    if allow {
        return Ok(());
    }
    refuse_dirty_list(&git::dirty(root, paths)?)
}

/// The refusal for files found dirty (none: no refusal).
pub(super) fn refuse_dirty_list(dirty: &[String]) -> anyhow::Result<()> {
    if dirty.is_empty() {
        return Ok(());
    }
    Err(UserError::new(
        ExitStatus::Error,
        format!(
            "uncommitted changes in the files this would change: {}",
            dirty.join(", ")
        ),
    )
    .hint("commit them first (the change is then one reviewable commit), or pass --allow-dirty")
    .into())
}

/// How a plan is carried out: who commits (none: `--no-commit`), when, how long to wait for
/// the repository lock, and the test switch that aborts at a named step.
pub(super) struct Apply<'a> {
    /// The files the plan was made from: under the lock they must still be these.
    pub read: &'a [InputFile],
    pub identity: Option<&'a Identity>,
    pub now: i64,
    pub what: String,
    pub lock_timeout: std::time::Duration,
    pub fail_at: Option<&'a str>,
}

/// Carries out the plan under the repository lock: the journal first, then every file (the
/// registry last), then the commit and tag; the journal goes last. A run killed part way is
/// finished by the next promptops command (`journal::recover`).
// Long on purpose: the journal's protocol in its order (check, journal, files, registry last,
// commit, tag, journal gone); the order is the guarantee, so it reads top to bottom.
pub(super) fn apply(
    root: &Path,
    plan: &Plan,
    evidence_files: &[String],
    how: &Apply<'_>,
) -> anyhow::Result<Option<String>> {
    // What the plan will create is checked before anything is written: a tag git refuses
    // would leave a commit without its tag.
    if let Some(tag) = &plan.tag
        && !git::is_valid_tag_name(tag)
    {
        return Err(UserError::new(
            ExitStatus::Error,
            format!("git cannot name a tag `{tag}`; nothing was changed"),
        )
        .hint(
            "choose a version git can tag (not ending in `.lock`); `promptops validate` checks it",
        )
        .into());
    }
    let _lock = journal::lock(root, how.lock_timeout, &how.what)?;
    // The plan was made before the lock was taken: another command may have changed what it
    // read since (two promotions at once). Re-checked here, under the lock, by sha256.
    let changed = changed_since_read(root, how.read)?;
    if !changed.is_empty() {
        return Err(StalePlan {
            what: how.what.clone(),
            changed,
        }
        .into());
    }
    let mut touched: Vec<String> = plan
        .writes
        .iter()
        .map(|write| write.path.clone())
        .chain(plan.removals.iter().map(|removal| removal.path.clone()))
        .chain([plan.registry.path.clone()])
        .collect();
    touched.extend(evidence_files.iter().cloned());
    if how.identity.is_some() {
        // promptops's own files never block its commit, nor join it.
        for path in git::unstage_own_files(root)? {
            tracing::info!("unstaged {path}: it is promptops's own runtime file");
        }
        let staged = git::staged_besides(root, &touched)?;
        if !staged.is_empty() {
            return Err(UserError::new(
                ExitStatus::Error,
                format!(
                    "other changes are staged ({}); the commit would take them in",
                    staged.join(", ")
                ),
            )
            .hint("commit or unstage them first (`git restore --staged PATH`), or pass --no-commit")
            .into());
        }
        if let Some(tag) = &plan.tag
            && git::tag_exists(root, tag)?
        {
            return Err(
                UserError::new(ExitStatus::Error, format!("the tag {tag} already exists"))
                    .hint("a version is promoted once: raise the candidate's version")
                    .into(),
            );
        }
    }
    let mut steps = Vec::new();
    for write in plan.writes.iter().chain(std::iter::once(&plan.registry)) {
        let path = root.join(&write.path);
        let old = if path.exists() {
            Some(adapters::fs::read_regular(&path, 1 << 30)?)
        } else {
            None
        };
        steps.push(Step::write(&write.path, &write.bytes, old.as_deref()));
    }
    for removal in &plan.removals {
        let bytes = adapters::fs::read_regular(&root.join(&removal.path), layout::YAML_SIZE_LIMIT)?;
        if crate::domain::source::sha256_hex(&bytes) != removal.sha256 {
            return Err(UserError::new(
                ExitStatus::Error,
                format!(
                    "{} changed while the change was planned; nothing was changed",
                    removal.path
                ),
            )
            .into());
        }
        // Removals before the registry: the registry is the last file step.
        steps.insert(steps.len() - 1, Step::remove(&removal.path, &bytes));
    }
    let journal = Journal {
        plan: plan.id.clone(),
        id_basis: plan.id_basis.clone(),
        what: how.what.clone(),
        steps,
        stage: touched.clone(),
        commit: how.identity.map(|identity| PendingCommit {
            message: plan.commit_message.clone(),
            tag: plan.tag.clone(),
            tag_message: plan.tag_message.clone(),
            author: identity.clone(),
            time: how.now,
            stage: touched.clone(),
        }),
    };
    let fail = |point: &str| {
        if how.fail_at == Some(point) {
            // A test switch (debug builds only): die here as a killed process would.
            std::process::abort();
        }
    };
    journal::begin(root, &journal)?;
    fail("journal");
    let commit = journal::carry_out(root, &journal, &fail)?;
    journal::end(root)?;
    Ok(commit)
}

/// Finishes the change a killed command left (its journal), after checking it: the journal
/// must match its plan id (recomputed from its steps) and the repository as it would leave it
/// must have no error, the check the plan passed before it was applied. Returns what was
/// finished.
pub(super) fn finish_interrupted(root: &Path) -> anyhow::Result<Option<String>> {
    let Some((journal, lock)) = journal::interrupted(root)? else {
        return Ok(None);
    };
    check_journal(root, &journal)?;
    Ok(Some(journal::complete(root, &journal, lock)?))
}

fn check_journal(root: &Path, journal: &Journal) -> anyhow::Result<()> {
    let refuse = |why: String| -> anyhow::Error {
        UserError::new(
            ExitStatus::Error,
            format!(
                "the interrupted {} (plan {}) in {} is not finished: {why}",
                journal.what,
                journal.plan.get(..12).unwrap_or(&journal.plan),
                ".promptops/journal.json"
            ),
        )
        .hint("`promptops repair --undo` puts back what it changed; or restore the files from git and delete .promptops/journal.json")
        .into()
    };
    let mut writes = Vec::new();
    let mut removals = Vec::new();
    let mut registry = None;
    for step in &journal.steps {
        match step.new_bytes() {
            Err(_) => {
                return Err(refuse(format!(
                    "the bytes for {} cannot be decoded",
                    step.path
                )));
            }
            Ok(Some(bytes)) => {
                let write = FileWrite::new(step.path.clone(), bytes);
                if step.new_sha256.as_deref() != Some(write.sha256.as_str()) {
                    return Err(refuse(format!(
                        "the bytes for {} are not the ones it records",
                        step.path
                    )));
                }
                if step.path == layout::REGISTRY_FILE {
                    registry = Some(write);
                } else {
                    writes.push(write);
                }
            }
            Ok(None) => removals.push(FileRemoval {
                path: step.path.clone(),
                sha256: step.old_sha256.clone().unwrap_or_default(),
            }),
        }
    }
    let recomputed = crate::domain::plan::plan_id(&writes, &removals, &journal.id_basis);
    if recomputed != journal.plan
        || journal.commit.as_ref().is_some_and(|commit| {
            trailers::value(&commit.message, Trailer::Plan) != Some(journal.plan.as_str())
        })
    {
        return Err(refuse(
            "it does not match its plan id, so it was changed after promptops wrote it".to_owned(),
        ));
    }
    let threads = super::runtime::threads();
    let inputs = adapters::fs::scan(root, threads)?;
    let after = analysis::analyze(
        &crate::domain::plan::overlay(&inputs, &writes, &removals, registry.as_ref()),
        Options {
            strict: false,
            threads,
            spawn: &crate::adapters::threads::Threads,
        },
    );
    if let Some((count, listed)) = errors_listed(&after) {
        return Err(refuse(format!(
            "the repository would have {count} error(s) after it:\n  {listed}"
        )));
    }
    Ok(())
}

/// How many errors an analysis has, and the first ten as `file:line: message [code]`, one a
/// line; `None` when there are none.
fn errors_listed(after: &crate::domain::analysis::Analysis) -> Option<(usize, String)> {
    let problems: Vec<String> = after
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| format!("{}:{}: {} [{}]", f.file, f.line, f.message, f.code))
        .collect();
    (!problems.is_empty()).then(|| {
        (
            problems.len(),
            problems
                .iter()
                .take(10)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n  "),
        )
    })
}
