//! `promptops status`: one line per task.

use std::collections::HashMap;

use crate::adapters::git;
use crate::cli::StatusArgs;
use crate::domain::analysis::{PromptEntry, RegistryState};
use crate::domain::diagnostic::Severity;
use crate::domain::outcome::{StatusOutcome, TaskStatus};
use crate::domain::time;
use crate::report::{self, Printer};
use crate::settings::Settings;

use super::Outcome;

pub fn run(
    settings: &Settings,
    args: &StatusArgs,
    printer: &mut Printer<'_>,
) -> anyhow::Result<Outcome> {
    let outcome = execute(settings, args.changed_since.as_deref())?;
    let format = super::flags::table_format(args.format);
    report::status::render(&outcome, format, printer)?;
    Ok(Outcome::Status(outcome))
}

/// One row per task: versions, threshold, latest score, checks and the last change.
// Long on purpose: gathers each task's row from four sources (files, registry, findings, git) in
// one pass.
/// With `changed_since`, only the tasks changed since that revision.
pub fn execute(settings: &Settings, changed_since: Option<&str>) -> anyhow::Result<StatusOutcome> {
    let root = super::repository::root(settings)?;
    let analysis = super::repository::load(&root, false)?;
    let registry = match &analysis.registry {
        RegistryState::Parsed { registry, .. } => Some(registry.as_ref()),
        _ => None,
    };
    let paths: Vec<String> = analysis
        .tasks
        .values()
        .flat_map(|task| {
            [
                task.production.as_ref().map(|e| e.path.clone()),
                task.candidate.as_ref().map(|e| e.path.clone()),
            ]
        })
        .flatten()
        .collect();
    // The last change is a convenience: a history git cannot read is said in the log, and
    // the registry's history still answers.
    let changes = git::last_changes(&root, &paths, 10_000).unwrap_or_else(|error| {
        tracing::warn!("cannot read when the prompts last changed: {error}");
        std::collections::HashMap::new()
    });
    let mut counts: HashMap<&str, (usize, usize)> = HashMap::new();
    for finding in &analysis.findings {
        if let Some(task) = finding.task.as_deref() {
            let (errors, warnings) = counts.entry(task).or_default();
            match finding.severity {
                Severity::Error => *errors += 1,
                Severity::Warning => *warnings += 1,
            }
        }
    }
    let rows: Vec<TaskStatus> = analysis
        .tasks
        .iter()
        .map(|(id, task)| {
            let entry = registry.and_then(|registry| registry.tasks.get(id));
            let version = |file: &Option<PromptEntry>| {
                file.as_ref()
                    .and_then(PromptEntry::version)
                    .map(str::to_owned)
            };
            let from_history = entry.and_then(|entry| entry.history.last()).map(|event| {
                format!(
                    "{} {} {}",
                    event.at.get(..10).unwrap_or(&event.at),
                    event.event,
                    event.version
                )
            });
            let from_git = [&task.production, &task.candidate]
                .into_iter()
                .flatten()
                .filter_map(|file| changes.get(&file.path))
                .max_by_key(|change| change.time)
                .map(|change| {
                    format!(
                        "{} {} {}",
                        time::date(change.time),
                        change.short_id,
                        change.summary
                    )
                });
            let (errors, warnings) = counts.get(id.as_str()).copied().unwrap_or_default();
            TaskStatus {
                task: id.clone(),
                production: version(&task.production),
                candidate: version(&task.candidate),
                threshold: task
                    .metadata
                    .as_ref()
                    .and_then(|m| m.parsed.as_ref())
                    .map(|m| m.metadata.threshold),
                latest_score: entry.and_then(|e| e.latest_eval.as_ref()).map(|e| e.score),
                latest_passed: entry.and_then(|e| e.latest_eval.as_ref()).map(|e| e.passed),
                last_change: from_history.or(from_git),
                errors,
                warnings,
                retired: task.production.is_none()
                    && task.candidate.is_none()
                    && !task.archived.is_empty(),
            }
        })
        .collect();
    let rows = match changed_since {
        None => rows,
        Some(since) => {
            let touched =
                super::repository::changed_tasks(&root, &analysis, "--changed-since", since)?;
            rows.into_iter()
                .filter(|row| touched.contains(&row.task))
                .collect()
        }
    };
    Ok(StatusOutcome { tasks: rows })
}
