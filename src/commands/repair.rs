//! `promptops repair [--undo]`: finish, or undo, a change that a killed promptops command left
//! half done (its journal is `.promptops/journal.json`).

use crate::adapters::journal;
use crate::cli::RepairArgs;
use crate::report::Printer;
use crate::settings::Settings;

use super::Outcome;

pub fn run(
    settings: &Settings,
    args: &RepairArgs,
    printer: &mut Printer<'_>,
) -> anyhow::Result<Outcome> {
    let root = super::repository::root_as_is(settings)?;
    let done = if args.undo {
        journal::undo(&root)?
    } else {
        super::lifecycle::finish_interrupted(&root)?
    };
    crate::report::repair::render(done.as_deref(), printer)?;
    Ok(Outcome::Repaired(done))
}
