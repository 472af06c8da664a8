//! `promptops history TASK`: the registry's record of a task's versions, joined with the git
//! commits that carried each decision out.

use crate::adapters::git;
use crate::cli::HistoryArgs;
use crate::domain::analysis::RegistryState;
use crate::domain::layout;
use crate::domain::model::EventKind;
use crate::domain::outcome::{HistoryOutcome, HistoryRow, HistoryRowKind};
use crate::exit::{ExitStatus, UserError};
use crate::report::{self, Printer};
use crate::settings::Settings;

use super::Outcome;

pub fn run(
    settings: &Settings,
    args: &HistoryArgs,
    printer: &mut Printer<'_>,
) -> anyhow::Result<Outcome> {
    let outcome = execute(settings, args)?;
    let format = super::flags::table_format(args.format);
    report::history::render(&outcome, format, printer)?;
    Ok(Outcome::History(outcome))
}

pub fn execute(settings: &Settings, args: &HistoryArgs) -> anyhow::Result<HistoryOutcome> {
    let root = super::repository::root(settings)?;
    let analysis = super::repository::load(&root, false)?;
    let RegistryState::Parsed { registry, .. } = &analysis.registry else {
        return Err(UserError::new(
            ExitStatus::Error,
            format!(
                "{} is missing or cannot be read: it holds the history",
                layout::REGISTRY_FILE
            ),
        )
        .hint("`promptops validate` says what is wrong with it; `git log` still has the commits")
        .into());
    };
    let Some(entry) = registry.tasks.get(&args.task) else {
        let known: Vec<&str> = registry.tasks.keys().map(String::as_str).collect();
        return Err(UserError::new(
            ExitStatus::Error,
            format!("the registry has no task `{}`", args.task),
        )
        .hint(format!("the tasks are: {}", known.join(", ")))
        .into());
    };
    // The history is a convenience over git: a history git cannot read is logged.
    let commits = git::plan_commits(&root, 100_000).unwrap_or_else(|error| {
        tracing::warn!("cannot read the commits of the history: {error}");
        std::collections::HashMap::new()
    });
    let mut rows: Vec<HistoryRow> = entry
        .history
        .iter()
        .map(|event| HistoryRow {
            version: event.version.clone(),
            event: HistoryRowKind::Event(event.event),
            at: event.at.clone(),
            by: Some(event.by.clone()),
            from: event.from.clone(),
            score: event.evidence.as_ref().map(|evidence| evidence.score),
            reason: event.reason.clone(),
            commit: event
                .plan
                .as_ref()
                .and_then(|plan| commits.get(plan))
                .map(|commit| commit.id[..12.min(commit.id.len())].to_owned())
                .or_else(|| event.commit.clone()),
        })
        .collect();
    // Versions archived before promptops recorded decisions still belong to the story.
    for archived in &entry.archived {
        let recorded = rows.iter().any(|row| {
            row.from.as_deref() == Some(archived.version.as_str())
                || (row.event == HistoryRowKind::Event(EventKind::Archive)
                    && row.version == archived.version)
        });
        if !recorded {
            rows.push(HistoryRow {
                version: archived.version.clone(),
                event: HistoryRowKind::Archived,
                at: archived.at.clone(),
                by: None,
                from: None,
                score: None,
                reason: Some(archived.reason.clone()),
                commit: None,
            });
        }
    }
    rows.sort_by(|a, b| a.at.cmp(&b.at));
    Ok(HistoryOutcome {
        task: args.task.clone(),
        rows,
    })
}
