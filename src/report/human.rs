//! Findings for people: codespan-style, with the source line and a caret.

use std::collections::HashMap;
use std::fmt::Write;

use crate::domain::diagnostic::{Diagnostic, Severity};

struct Style {
    color: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

/// Renders findings with the source line each one points at.
pub fn render(findings: &[Diagnostic], sources: &HashMap<String, String>, color: bool) -> String {
    let style = Style { color };
    let mut out = String::new();
    for finding in findings {
        let label = finding.severity.as_str();
        let paint = match finding.severity {
            Severity::Error => "1;31",
            Severity::Warning => "1;33",
        };
        let _ = writeln!(
            out,
            "{}{}",
            style.paint(paint, &format!("{label}[{}]", finding.code)),
            style.paint("1", &format!(": {}", finding.message))
        );
        let gutter = finding.line.to_string().len();
        let pad = " ".repeat(gutter);
        let _ = writeln!(
            out,
            "{pad}{} {}:{}:{}",
            style.paint("1;34", "-->"),
            finding.file,
            finding.line,
            finding.column
        );
        let line = sources
            .get(&finding.file)
            .and_then(|text| text.lines().nth(finding.line.saturating_sub(1)));
        if let Some(line) = line {
            let line = line.replace('\t', " ");
            let shown: String = line.chars().take(160).collect();
            let bar = style.paint("1;34", "|");
            let _ = writeln!(out, "{pad} {bar}");
            let _ = writeln!(
                out,
                "{} {bar} {shown}",
                style.paint("1;34", &finding.line.to_string())
            );
            let caret_at = finding.column.saturating_sub(1).min(shown.chars().count());
            let _ = writeln!(
                out,
                "{pad} {bar} {}{}",
                " ".repeat(caret_at),
                style.paint(paint, "^")
            );
        }
        if let Some(hint) = &finding.hint {
            let _ = writeln!(
                out,
                "{pad} {} {}",
                style.paint("1;34", "="),
                style.paint("1", &format!("hint: {hint}"))
            );
        }
        out.push('\n');
    }
    out
}

/// "1 task", "3 tasks".
pub fn plural(count: usize, word: &str) -> String {
    if count == 1 {
        format!("1 {word}")
    } else {
        format!("{count} {word}s")
    }
}

/// "2 errors and 1 warning", "1 error", "no problems".
pub fn count_phrase(errors: usize, warnings: usize) -> String {
    match (errors, warnings) {
        (0, 0) => "no problems".to_owned(),
        (e, 0) => plural(e, "error"),
        (0, w) => plural(w, "warning"),
        (e, w) => format!("{} and {}", plural(e, "error"), plural(w, "warning")),
    }
}

/// `text` cut to at most `width` characters, ending in `…` when cut.
pub fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    cut
}

/// A plain text table with left-aligned columns.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (index, cell) in row.iter().enumerate() {
            widths[index] = widths[index].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<String>| {
        let mut text = String::new();
        for (index, cell) in cells.iter().enumerate() {
            if index + 1 == cells.len() {
                text.push_str(cell);
            } else {
                let _ = write!(text, "{cell:<width$}  ", width = widths[index]);
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(header.iter().map(|h| (*h).to_owned()).collect());
    for row in rows {
        line(row.clone());
    }
    out
}
