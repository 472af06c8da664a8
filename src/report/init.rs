//! What `init` created, and what to do next.

use std::io::Write;

use crate::domain::outcome::InitOutcome;

use super::Printer;

pub fn render(outcome: &InitOutcome, printer: &mut Printer<'_>) -> std::io::Result<()> {
    let err = &mut printer.err;
    writeln!(err, "created a prompt repository in {}", outcome.dir)?;
    if outcome.git_initialised {
        writeln!(err, "  initialised a git repository")?;
    }
    for path in &outcome.files {
        writeln!(err, "  {path}")?;
    }
    if outcome.gitignore_updated {
        writeln!(err, "  .gitignore (what of .promptops/ stays out of git)")?;
    }
    writeln!(
        err,
        "next: `promptops validate`, then `promptops status`; `pre-commit install` runs validate on every commit"
    )
}
