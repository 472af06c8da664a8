//! `status`: one line per task, as a table that fits 100 columns, or as JSON.

use crate::domain::outcome::StatusOutcome;

use super::{Printer, TableFormat, human};

/// The table's width; the last column (the change's subject) is cut to fit.
const WIDTH: usize = 100;
/// The last column keeps at least this much, however wide the others are.
const MIN_LAST: usize = 24;

pub fn render(
    outcome: &StatusOutcome,
    format: TableFormat,
    printer: &mut Printer<'_>,
) -> std::io::Result<()> {
    let rows = &outcome.tasks;
    if format == TableFormat::Json {
        return super::json(printer, &serde_json::json!({ "tasks": rows }));
    }
    if rows.is_empty() {
        return writeln!(
            printer.err,
            "no tasks yet: add prompts under prompts/ (see `promptops init`)"
        );
    }
    let dash = || "-".to_owned();
    let mut table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            vec![
                row.task.clone(),
                if row.retired {
                    "retired".to_owned()
                } else {
                    row.production.clone().unwrap_or_else(dash)
                },
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
    let header = [
        "TASK",
        "PRODUCTION",
        "CANDIDATE",
        "THRESHOLD",
        "SCORE",
        "CHECKS",
        "LAST CHANGE",
    ];
    let others: usize = (0..header.len() - 1)
        .map(|column| {
            table_rows
                .iter()
                .map(|row| row[column].chars().count())
                .chain([header[column].len()])
                .max()
                .unwrap_or(0)
                + 2
        })
        .sum();
    let room = WIDTH.saturating_sub(others).max(MIN_LAST);
    for row in &mut table_rows {
        if let Some(last) = row.last_mut() {
            *last = human::truncate(last, room);
        }
    }
    write!(printer.out, "{}", human::table(&header, &table_rows))
}
