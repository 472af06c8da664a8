//! `validate`'s findings: as text with source lines (stderr), one JSON document, or GitHub
//! annotations (stdout).

use crate::domain::outcome::ValidateOutcome;

use super::{Printer, github, human};

/// How findings are printed (`validate --format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FindingsFormat {
    Human,
    Json,
    Github,
}

/// `validated N files (M tasks): ...`
pub fn headline(outcome: &ValidateOutcome) -> String {
    format!(
        "validated {} ({}): {}",
        human::plural(outcome.files, "file"),
        human::plural(outcome.tasks, "task"),
        human::count_phrase(outcome.errors(), outcome.warnings())
    )
}

pub fn render(
    outcome: &ValidateOutcome,
    format: FindingsFormat,
    printer: &mut Printer<'_>,
) -> std::io::Result<()> {
    let shown = &outcome.shown;
    match format {
        FindingsFormat::Human => {
            super::findings(printer, shown)?;
            writeln!(printer.err, "{}", headline(outcome))?;
        }
        FindingsFormat::Json => {
            let document = serde_json::json!({
                "findings": shown.findings,
                "summary": {
                    "errors": outcome.errors(),
                    "warnings": outcome.warnings(),
                    "files": outcome.files,
                    "tasks": outcome.tasks,
                },
            });
            super::json(printer, &document)?;
        }
        FindingsFormat::Github => {
            write!(printer.out, "{}", github::render(&shown.findings))?;
            writeln!(printer.err, "{}", headline(outcome))?;
        }
    }
    printer.out.flush()
}

/// The Markdown for `$GITHUB_STEP_SUMMARY`.
pub fn step_summary(outcome: &ValidateOutcome) -> String {
    github::step_summary(
        "promptops validate",
        &headline(outcome),
        &outcome.shown.findings,
    )
}
