//! The repository a command works on: finding it, reading and analysing it, what it holds
//! (a file's bytes, its release), who changes it, and which tasks changed since a revision.
//! Shared by the verbs; the router in `mod.rs` holds none of it.

use std::path::{Path, PathBuf};

use crate::adapters;
use crate::domain::analysis::{self, Analysis, Options, RegistryState};
use crate::domain::bundle::{self, Bundle, ProductionTask};
use crate::domain::diagnostic::Severity;
use crate::domain::layout;
use crate::domain::source::InputFile;
use crate::exit::{ExitStatus, UserError};
use crate::settings::Settings;

use super::runtime::threads;

/// A file's bytes as the scan read them, else from disk (a file the scan does not keep).
pub(crate) fn file_bytes(
    root: &Path,
    inputs: &[crate::domain::source::InputFile],
    path: &str,
) -> anyhow::Result<Vec<u8>> {
    match inputs
        .iter()
        .find(|input| input.path == path)
        .map(|input| &input.content)
    {
        Some(crate::domain::source::FileContent::Bytes(bytes)) => Ok(bytes.clone()),
        _ => Ok(adapters::fs::read_regular(
            &root.join(path),
            crate::domain::layout::YAML_SIZE_LIMIT,
        )?),
    }
}

/// Who a change is recorded as: the git identity (else `GITHUB_ACTOR` under Actions), and
/// its `name <email>` text (a placeholder when there is none, for a dry run's plan).
pub(crate) fn who(
    root: &Path,
    settings: &Settings,
) -> (Option<crate::domain::plan::Identity>, String) {
    let identity = adapters::git::identity(root, settings.github_actor().as_deref());
    let by = identity
        .as_ref()
        .map_or_else(|| "(no git identity)".to_owned(), ToString::to_string);
    (identity, by)
}

/// The error for a task the repository does not have, listing the ones it has.
pub(crate) fn unknown_task<'a>(id: &str, known: impl Iterator<Item = &'a String>) -> anyhow::Error {
    let known: Vec<&str> = known.map(String::as_str).collect();
    UserError::new(ExitStatus::Error, format!("no task `{id}`"))
        .hint(format!("the tasks are: {}", known.join(", ")))
        .into()
}

/// The prompt repository's root (`--repo`, or found from the current folder) for a command
/// that only reads: a change a killed command left half done is named, never finished here
/// (finishing writes, stages and commits).
pub fn root(settings: &Settings) -> anyhow::Result<PathBuf> {
    let root = root_as_is(settings)?;
    match adapters::journal::pending(&root) {
        Ok(Some(what)) => tracing::warn!(
            "an interrupted {what} is pending, so some files may be half changed; `promptops \
             repair` finishes it (`promptops repair --undo` puts it back)"
        ),
        Ok(None) => {}
        Err(error) => tracing::warn!("{error}"),
    }
    Ok(root)
}

/// The root for a command that changes the repository: a change a killed command left half
/// done is checked and finished first (`lifecycle::finish_interrupted`).
pub fn root_for_change(settings: &Settings) -> anyhow::Result<PathBuf> {
    let root = root_as_is(settings)?;
    if let Some(note) = super::lifecycle::finish_interrupted(&root)? {
        tracing::warn!("{note}");
    }
    Ok(root)
}

/// The root, with an interrupted plan left as it is (for `repair`).
pub fn root_as_is(settings: &Settings) -> anyhow::Result<PathBuf> {
    find_root(settings)
}

fn find_root(settings: &Settings) -> anyhow::Result<PathBuf> {
    if let Some(repo) = &settings.repo {
        let repo = settings.current_dir.join(repo);
        if !repo.is_dir() {
            return Err(UserError::new(
                ExitStatus::Error,
                format!("--repo {}: no such folder", repo.display()),
            )
            .into());
        }
        return Ok(fs_err::canonicalize(repo)?);
    }
    let here = &settings.current_dir;
    let found = adapters::git::find_root(here).ok_or_else(|| {
        UserError::new(
            ExitStatus::Error,
            format!(
                "{} is not inside a prompt repository or a git repository",
                here.display()
            ),
        )
        .hint("run it inside the repository, pass --repo DIR, or create one with `promptops init`")
    })?;
    Ok(fs_err::canonicalize(found)?)
}

/// Reads and analyses the repository at `root`.
pub fn load(root: &Path, strict: bool) -> anyhow::Result<Analysis> {
    Ok(scan(root, strict)?.1)
}

/// Reads and analyses the repository at `root`, keeping what was read (a change plans from
/// the files' bytes and checks itself against them).
pub fn scan(
    root: &Path,
    strict: bool,
) -> anyhow::Result<(Vec<crate::domain::source::InputFile>, Analysis)> {
    let threads = threads();
    let inputs = adapters::fs::scan(root, threads)?;
    let analysis = analysis::analyze(
        &inputs,
        Options {
            strict,
            threads,
            spawn: &adapters::threads::Threads,
        },
    );
    Ok((inputs, analysis))
}

/// `--changed-since REF` (or `report pr --base REF`, named by `flag`): the tasks with a file
/// (template, production, metadata, examples or archive) that differs between REF and the work
/// tree; every task when `promptops.yaml` changed (providers and defaults apply to all). Eval
/// logs do not count: they are outputs.
pub fn changed_tasks(
    root: &Path,
    analysis: &Analysis,
    flag: &str,
    since: &str,
) -> anyhow::Result<std::collections::BTreeSet<String>> {
    let changed = adapters::git::changed_since(root, since).map_err(|error| {
        UserError::new(ExitStatus::Error, format!("{flag} {since}: {error}"))
        .hint("give a revision git knows, e.g. origin/main or HEAD~1 (fetch it first in CI: actions/checkout with fetch-depth: 0)")
    })?;
    let everything = changed.contains(crate::domain::layout::CONFIG_FILE);
    Ok(analysis
        .tasks
        .iter()
        .filter(|(_, task)| everything || task.paths().any(|path| changed.contains(path)))
        .map(|(id, _)| id.clone())
        .collect())
}

/// The bundle of a repository that validates clean (its registry current).
pub fn release(
    root: &std::path::Path,
    inputs: &[InputFile],
    analysis: &Analysis,
) -> anyhow::Result<Bundle> {
    let errors = analysis
        .findings
        .iter()
        .filter(|finding| finding.severity == Severity::Error)
        .count();
    if errors > 0 {
        return Err(UserError::new(
            ExitStatus::Error,
            format!("the repository has {errors} error(s); a release is built only from one that validates clean"),
        )
        .hint("`promptops validate` lists them (a stale registry: `promptops registry`)")
        .into());
    }
    let RegistryState::Parsed { registry, .. } = &analysis.registry else {
        return Err(UserError::new(
            ExitStatus::Error,
            format!(
                "{} is missing; a release records what it holds",
                layout::REGISTRY_FILE
            ),
        )
        .hint("run `promptops registry` and commit it")
        .into());
    };
    let mut owned = Vec::new();
    for (id, task) in &analysis.tasks {
        if let (Some(production), Some(metadata)) = (&task.production, &task.metadata) {
            owned.push((
                id.clone(),
                file_bytes(root, inputs, &production.path)?,
                file_bytes(root, inputs, &metadata.path)?,
            ));
        }
    }
    let tasks: Vec<ProductionTask<'_>> = owned
        .iter()
        .map(|(task, prompt, metadata)| ProductionTask {
            task,
            prompt,
            metadata,
        })
        .collect();
    Ok(bundle::build(&tasks, registry))
}
