//! `bundle`: the release id on stdout (for scripts), the files on stderr.

use super::{Printer, TableFormat};
use crate::domain::outcome::BundleOutcome;

/// `bundle`: the release id on stdout (for scripts), the files on stderr.
pub fn render(
    outcome: &BundleOutcome,
    format: TableFormat,
    printer: &mut Printer<'_>,
) -> std::io::Result<()> {
    if format == TableFormat::Json {
        return super::json(printer, &outcome);
    }
    writeln!(printer.out, "{}", outcome.release_id)?;
    writeln!(
        printer.err,
        "wrote the release bundle to {} ({} files)",
        outcome.dir,
        outcome.files.len()
    )?;
    for (path, sha256) in &outcome.files {
        writeln!(printer.err, "  {path}  {}", &sha256[..12])?;
    }
    Ok(())
}
