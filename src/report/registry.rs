//! What `registry` found and did.

use crate::domain::layout::REGISTRY_FILE as FILE;
use crate::domain::outcome::RegistryOutcome;

use super::{Printer, human};

pub fn render(outcome: &RegistryOutcome, printer: &mut Printer<'_>) -> std::io::Result<()> {
    match outcome {
        RegistryOutcome::Unreadable { shown } => {
            super::findings(printer, shown)?;
            super::error(
                printer.err,
                &format!("{FILE} cannot be read, so the history it holds cannot be kept"),
                Some(&format!(
                    "fix {FILE} as shown above (or restore it from git); delete it only to start a new, empty history"
                )),
            )
        }
        RegistryOutcome::Blocked { shown, check } => {
            super::findings(printer, shown)?;
            super::error(
                printer.err,
                &format!(
                    "{} in the prompt files; {FILE} was not {}",
                    human::count_phrase(shown.findings.len(), 0),
                    if *check { "checked" } else { "written" }
                ),
                Some("fix the errors above (`promptops validate` lists them), then run this again"),
            )
        }
        RegistryOutcome::DryRun { text } => printer.out.write_all(text.as_bytes()),
        RegistryOutcome::UpToDate { tasks, check } => writeln!(
            printer.err,
            "{FILE} is {}up to date ({})",
            if *check { "" } else { "already " },
            human::plural(*tasks, "task")
        ),
        RegistryOutcome::Stale { diff, missing } => {
            printer.out.write_all(diff.as_bytes())?;
            super::error(
                printer.err,
                &format!("{FILE} is {}", if *missing { "missing" } else { "stale" }),
                Some("run `promptops registry` and commit the result"),
            )
        }
        RegistryOutcome::Written { tasks } => writeln!(
            printer.err,
            "wrote {FILE} ({})",
            human::plural(*tasks, "task")
        ),
    }
}
