//! `promptops archive TASK --reason "..."`: retire the production prompt (the task is then
//! retired) or, with `--candidate`, a failed candidate, to `99-archive/` with a note; planned,
//! checked, written, committed.

use crate::cli::ArchiveArgs;
use crate::domain::lifecycle::archive::{self, Archived};
use crate::domain::outcome::ChangeOutcome;
use crate::domain::plan::plan_id;
use crate::domain::time;
use crate::exit::{ExitStatus, UserError};
use crate::report::{self, Printer};
use crate::settings::Settings;

use super::Outcome;

pub fn run(
    settings: &Settings,
    args: &ArchiveArgs,
    printer: &mut Printer<'_>,
) -> anyhow::Result<Outcome> {
    let outcome = execute(settings, args)?;
    let format = super::flags::table_format(args.change.format);
    report::promote::render_archive(&outcome, format, printer)?;
    Ok(Outcome::Archive(Box::new(outcome)))
}

/// Plans, checks and applies the archive, planning again when another command changed the
/// repository while it was planned.
pub fn execute(settings: &Settings, args: &ArchiveArgs) -> anyhow::Result<ChangeOutcome> {
    super::lifecycle::retrying(|| execute_once(settings, args))
}

// Long on purpose: one attempt reads, plans, checks and applies, as promote and rollback do;
// each step is a call, the rest hands values from one to the next.
fn execute_once(settings: &Settings, args: &ArchiveArgs) -> anyhow::Result<ChangeOutcome> {
    let reason = args.reason.trim();
    if reason.is_empty() {
        return Err(UserError::new(
            ExitStatus::Error,
            "--reason must say why the prompt is archived",
        )
        .into());
    }
    let root = if args.change.dry_run {
        super::repository::root(settings)?
    } else {
        super::repository::root_for_change(settings)?
    };
    let threads = super::runtime::threads();
    let (inputs, analysis) = super::repository::scan(&root, false)?;
    let Some(task) = analysis.tasks.get(&args.task) else {
        return Err(super::repository::unknown_task(
            &args.task,
            analysis.tasks.keys(),
        ));
    };
    let which = if args.candidate {
        "candidate"
    } else {
        "production"
    };
    let entry = if args.candidate {
        task.candidate.as_ref()
    } else {
        task.production.as_ref()
    };
    let Some(entry) = entry else {
        return Err(UserError::new(
            ExitStatus::Error,
            format!("task `{}` has no {which} prompt to archive", args.task),
        )
        .into());
    };
    let Some(version) = entry.version() else {
        return Err(UserError::new(
            ExitStatus::Error,
            format!("{} cannot be read, so its version is unknown", entry.path),
        )
        .hint("fix it first (`promptops validate` says what is wrong)")
        .into());
    };
    let bytes = super::repository::file_bytes(&root, &inputs, &entry.path)?;
    let prompt = Archived {
        task: &args.task,
        path: &entry.path,
        bytes: &bytes,
        sha256: &entry.sha256,
        version,
        which,
    };
    let at = time::rfc3339(settings.clock.now());
    let (identity, by) = super::repository::who(&root, settings);
    let (writes, removals) = archive::plan_files(&prompt, reason, &at, &by).map_err(|problem| {
        UserError::new(
            ExitStatus::Error,
            format!("cannot archive {}: {problem}", entry.path),
        )
    })?;
    let message = archive::commit_message(&prompt, reason);
    let id = plan_id(&writes, &removals, &message);
    let registry = super::lifecycle::checked_registry(
        &inputs,
        &writes,
        &removals,
        threads,
        "archiving",
        |registry| {
            if let Some(entry) = registry.tasks.get_mut(&args.task) {
                entry
                    .history
                    .push(archive::event(&prompt, reason, &at, &by, &id));
            }
        },
    )?;
    let (plan, result) = super::lifecycle::finish(
        &root,
        settings,
        &args.change,
        super::lifecycle::Change {
            read: &inputs,
            evidence: &[],
            writes,
            removals,
            registry,
            message: message.clone(),
            id_basis: message,
            tag: None,
            what: format!("archive {} {}", args.task, version),
            identity,
        },
    )?;
    Ok(ChangeOutcome {
        task: args.task.clone(),
        version: version.to_owned(),
        which: which.to_owned(),
        result,
        plan: Some(plan),
    })
}
