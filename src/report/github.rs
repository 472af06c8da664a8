//! GitHub Actions workflow commands: `::error file=…,line=…,col=…,title=…::message`.

use std::fmt::Write;

use crate::domain::diagnostic::Diagnostic;

fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// One annotation line per finding.
pub fn render(findings: &[Diagnostic]) -> String {
    let mut out = String::new();
    for finding in findings {
        let level = finding.severity.as_str();
        let mut message = finding.message.clone();
        if let Some(hint) = &finding.hint {
            let _ = write!(message, "\nhint: {hint}");
        }
        let line = format!(
            "::{level} file={},line={},col={},title={}::{}",
            escape_property(&finding.file),
            finding.line,
            finding.column,
            escape_property(finding.code),
            escape_data(&message)
        );
        let _ = writeln!(out, "{}", super::actions::command(&line));
    }
    out
}

/// The most findings listed in a step summary; the annotations carry all of them.
const SUMMARY_ROWS: usize = 100;

/// A Markdown job summary (for `$GITHUB_STEP_SUMMARY`): the headline and a table of findings.
pub fn step_summary(title: &str, headline: &str, findings: &[Diagnostic]) -> String {
    let mut out = format!("### {title}\n\n{headline}\n");
    if findings.is_empty() {
        return out;
    }
    out.push_str("\n| | code | where | message |\n|---|---|---|---|\n");
    let cell = |text: &str| text.replace('|', "\\|").replace('\n', " ");
    for finding in findings.iter().take(SUMMARY_ROWS) {
        let mark = finding.severity.as_str();
        let _ = writeln!(
            out,
            "| {mark} | `{}` | `{}:{}:{}` | {} |",
            finding.code,
            cell(&finding.file),
            finding.line,
            finding.column,
            cell(&finding.message)
        );
    }
    if findings.len() > SUMMARY_ROWS {
        let _ = writeln!(
            out,
            "\n…and {} more (see the annotations).",
            findings.len() - SUMMARY_ROWS
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::diagnostic::{Code, Position};

    #[test]
    fn annotations_escape_their_parts() {
        let finding = Diagnostic::error(
            Code::YamlSyntax,
            "a,b.yaml",
            Position::new(3, 4),
            "50% bad\nline",
        )
        .with_hint("fix: it");
        // (Marked as promptops's own command when another test turned the guard on.)
        assert_eq!(
            render(&[finding]),
            super::super::actions::command(
                &"::error file=a%2Cb.yaml,line=3,col=4,title=yaml-syntax::50%25 bad%0Alinehint: fix: it\n"
                    .replace("linehint", "line%0Ahint")
            )
        );
    }
}
