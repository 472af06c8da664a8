//! `promptops status`: one line per task.

use std::collections::HashMap;
use std::io::Write;

use serde::Serialize;

use crate::adapters::git;
use crate::cli::{StatusArgs, TableFormat};
use crate::domain::analysis::{PromptEntry, RegistryState};
use crate::domain::diagnostic::Severity;
use crate::domain::time;
use crate::exit::ExitStatus;
use crate::report::human;

use super::Context;

#[derive(Debug, Serialize)]
struct TaskStatus {
    task: String,
    production: Option<String>,
    candidate: Option<String>,
    threshold: Option<f64>,
    latest_score: Option<f64>,
    latest_passed: Option<bool>,
    /// Date (UTC) and what happened, from the registry history or git.
    last_change: Option<String>,
    errors: usize,
    warnings: usize,
}

pub fn run(context: &Context, args: &StatusArgs) -> anyhow::Result<ExitStatus> {
    let root = context.root()?;
    let analysis = super::load(&root, false)?;
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
    let changes = git::last_changes(&root, &paths, 10_000);
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
            }
        })
        .collect();
    let mut stdout = std::io::stdout().lock();
    match args.format {
        TableFormat::Json => writeln!(
            stdout,
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "tasks": rows }))?
        )?,
        TableFormat::Table => {
            let dash = || "-".to_owned();
            let table_rows: Vec<Vec<String>> = rows
                .iter()
                .map(|row| {
                    vec![
                        row.task.clone(),
                        row.production.clone().unwrap_or_else(dash),
                        row.candidate.clone().unwrap_or_else(dash),
                        row.threshold.map_or_else(dash, |t| format!("{t:.2}")),
                        match (row.latest_score, row.latest_passed) {
                            (Some(score), Some(passed)) => {
                                format!("{score:.3} {}", if passed { "pass" } else { "FAIL" })
                            }
                            _ => dash(),
                        },
                        if row.errors + row.warnings == 0 {
                            "ok".to_owned()
                        } else {
                            human::count_phrase(row.errors, row.warnings)
                        },
                        row.last_change.clone().unwrap_or_else(dash),
                    ]
                })
                .collect();
            if rows.is_empty() {
                writeln!(
                    std::io::stderr(),
                    "no tasks yet: add prompts under prompts/ (see `promptops init`)"
                )?;
            } else {
                write!(
                    stdout,
                    "{}",
                    human::table(
                        &[
                            "TASK",
                            "PRODUCTION",
                            "CANDIDATE",
                            "THRESHOLD",
                            "SCORE",
                            "CHECKS",
                            "LAST CHANGE"
                        ],
                        &table_rows
                    )
                )?;
            }
        }
    }
    Ok(ExitStatus::Success)
}
