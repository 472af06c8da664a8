//! What the lifecycle's mutating commands (`promote`, `archive`) share: checking a plan by
//! analysing the repository as it would be after it, and carrying it out.

use std::path::Path;

use crate::adapters::{self, git};
use crate::domain::analysis::{self, Options};
use crate::domain::diagnostic::Severity;
use crate::domain::layout;
use crate::domain::lifecycle::promote::{FileRemoval, FileWrite, Plan};
use crate::domain::model::Registry;
use crate::domain::registry;
use crate::domain::source::{FileContent, InputFile};
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
    let options = Options {
        strict: false,
        threads,
    };
    let first = analysis::analyze(&overlay(inputs, writes, removals, None), options);
    let mut registry = first.expected_registry;
    edit(&mut registry);
    let text = registry::render(&registry);
    let registry_write = FileWrite {
        path: layout::REGISTRY_FILE.to_owned(),
        sha256: crate::domain::source::sha256_hex(text.as_bytes()),
        bytes: text.into_bytes(),
    };
    let after = analysis::analyze(
        &overlay(inputs, writes, removals, Some(&registry_write)),
        options,
    );
    let problems: Vec<String> = after
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| format!("{}:{}: {} [{}]", f.file, f.line, f.message, f.code))
        .collect();
    if !problems.is_empty() {
        return Err(UserError::new(
            ExitStatus::Error,
            format!(
                "the repository would have {} error(s) after {what}; nothing was changed:\n  {}",
                problems.len(),
                problems
                    .iter()
                    .take(10)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("\n  ")
            ),
        )
        .hint("fix them first (`promptops validate` lists every problem)")
        .into());
    }
    Ok(registry_write)
}

/// The scanned files with the plan applied, for the check.
fn overlay(
    inputs: &[InputFile],
    writes: &[FileWrite],
    removals: &[FileRemoval],
    registry: Option<&FileWrite>,
) -> Vec<InputFile> {
    let replaced: Vec<&str> = writes
        .iter()
        .chain(registry)
        .map(|write| write.path.as_str())
        .chain(removals.iter().map(|removal| removal.path.as_str()))
        .collect();
    let mut files: Vec<InputFile> = inputs
        .iter()
        .filter(|input| !replaced.contains(&input.path.as_str()))
        .cloned()
        .collect();
    files.extend(writes.iter().chain(registry).map(|write| InputFile {
        path: write.path.clone(),
        content: FileContent::Bytes(write.bytes.clone()),
    }));
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

/// Writes the plan (registry last), stages it and, with an identity, commits and tags it.
pub(super) fn apply(
    root: &Path,
    plan: &Plan,
    evidence_files: &[String],
    identity: Option<&(String, String)>,
    now: i64,
) -> anyhow::Result<Option<String>> {
    let mut touched: Vec<String> = plan
        .writes
        .iter()
        .map(|write| write.path.clone())
        .chain(plan.removals.iter().map(|removal| removal.path.clone()))
        .chain([plan.registry.path.clone()])
        .collect();
    touched.extend(evidence_files.iter().cloned());
    if identity.is_some() {
        let staged = git::staged_besides(root, &touched)?;
        if !staged.is_empty() {
            return Err(UserError::new(
                ExitStatus::Error,
                format!(
                    "other changes are staged ({}); the promotion's commit would take them in",
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
    for removal in &plan.removals {
        let bytes = adapters::fs::read_regular(&root.join(&removal.path), layout::YAML_SIZE_LIMIT)?;
        if crate::domain::source::sha256_hex(&bytes) != removal.sha256 {
            return Err(UserError::new(
                ExitStatus::Error,
                format!(
                    "{} changed while the promotion was planned; nothing was changed",
                    removal.path
                ),
            )
            .into());
        }
    }
    for write in &plan.writes {
        adapters::fs::write_atomic(&root.join(&write.path), &write.bytes)?;
    }
    for removal in &plan.removals {
        fs_err::remove_file(root.join(&removal.path))?;
    }
    adapters::fs::write_atomic(&root.join(&plan.registry.path), &plan.registry.bytes)?;
    git::stage(root, &touched)?;
    let Some(identity) = identity else {
        return Ok(None);
    };
    let commit = git::commit_and_tag(
        root,
        identity,
        now,
        &plan.commit_message,
        plan.tag
            .as_deref()
            .map(|tag| (tag, plan.tag_message.as_str())),
    )?;
    Ok(Some(commit))
}
