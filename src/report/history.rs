//! `history`: one line per decision, oldest first, or JSON.

use crate::domain::outcome::HistoryOutcome;

use super::{Printer, TableFormat, human};

pub fn render(
    outcome: &HistoryOutcome,
    format: TableFormat,
    printer: &mut Printer<'_>,
) -> std::io::Result<()> {
    if format == TableFormat::Json {
        return super::json(printer, &outcome);
    }
    if outcome.rows.is_empty() {
        return writeln!(
            printer.err,
            "{}: no decisions recorded yet (promptops records promotions, overrides and archives)",
            outcome.task
        );
    }
    let dash = || "-".to_owned();
    let rows: Vec<Vec<String>> = outcome
        .rows
        .iter()
        .map(|row| {
            vec![
                row.at.get(..10).unwrap_or(&row.at).to_owned(),
                row.event.as_str().to_owned(),
                match &row.from {
                    Some(from) => format!("{from} -> {}", row.version),
                    None => row.version.clone(),
                },
                row.score.map_or_else(dash, |score| format!("{score:.3}")),
                row.by.clone().unwrap_or_else(dash),
                row.commit.clone().unwrap_or_else(dash),
                row.reason.clone().unwrap_or_else(dash),
            ]
        })
        .collect();
    write!(
        printer.out,
        "{}",
        human::table(
            &[
                "DATE", "EVENT", "VERSION", "SCORE", "BY", "COMMIT", "REASON"
            ],
            &rows
        )
    )
}
