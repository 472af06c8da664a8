//! `promptops history TASK`: the registry's record of a task's versions, joined with the git
//! commits that carried each decision out.

use crate::adapters::git;
use crate::cli::HistoryArgs;
use crate::domain::analysis::RegistryState;
use crate::domain::layout;
use crate::domain::outcome::HistoryOutcome;
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
    let commits: std::collections::HashMap<String, String> = commits
        .into_iter()
        .map(|(plan, commit)| (plan, commit.id))
        .collect();
    let rows = crate::domain::history::rows(entry, &commits);
    Ok(HistoryOutcome {
        task: args.task.clone(),
        rows,
    })
}
