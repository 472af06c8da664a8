//! Rendering outcomes for people and machines: human text, JSON, GitHub annotations, JUnit,
//! Markdown. Every function here writes to the writer it is given; none touches a file or
//! the environment.

// Printing, files and the environment belong to the edges (clippy.toml names them).
#![deny(clippy::disallowed_methods, clippy::disallowed_macros)]

pub mod deploy;
pub mod eval;
pub mod github;
pub mod history;
pub mod human;
pub mod init;
pub mod outputs;
pub mod pipeline;
pub mod pr;
pub mod promote;
pub mod registry;
pub mod status;
pub mod validate;

use std::io::Write;

/// Where a command's output goes: data on `out` (stdout), messages on `err` (stderr).
pub struct Printer<'a> {
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
    /// Colour on `err`.
    pub color: bool,
}

/// A value as one pretty JSON document on stdout.
pub fn json(printer: &mut Printer<'_>, value: &impl serde::Serialize) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
    writeln!(printer.out, "{text}")
}

/// Findings as people read them, with their source lines, on stderr.
pub fn findings(
    printer: &mut Printer<'_>,
    shown: &crate::domain::diagnostic::Shown,
) -> std::io::Result<()> {
    write!(
        printer.err,
        "{}",
        human::render(&shown.findings, &shown.sources, printer.color)
    )
}

/// `error: ...` and `hint: ...` lines, as the binary prints a fatal error.
pub fn error(err: &mut dyn Write, message: &str, hint: Option<&str>) -> std::io::Result<()> {
    writeln!(err, "error: {message}")?;
    if let Some(hint) = hint {
        writeln!(err, "hint: {hint}")?;
    }
    Ok(())
}

/// How a table is printed (`status --format`, `eval --format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableFormat {
    Table,
    Json,
}
