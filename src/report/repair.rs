//! `repair`: what was finished or undone.

use super::Printer;

/// `repair`: what was finished or undone.
pub fn render(done: Option<&str>, printer: &mut Printer<'_>) -> std::io::Result<()> {
    match done {
        Some(what) => writeln!(printer.err, "{what}"),
        None => writeln!(printer.err, "nothing to repair: no change was interrupted"),
    }
}
