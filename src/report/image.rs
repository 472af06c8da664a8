//! `image`: the pushed reference with its digest on stdout (for scripts), what moved on
//! stderr.

use super::{Printer, TableFormat};

/// `image`: the pushed reference with its digest on stdout (for scripts), what moved on stderr.
pub fn render(
    outcome: &crate::domain::outcome::ImageOutcome,
    format: TableFormat,
    printer: &mut Printer<'_>,
) -> std::io::Result<()> {
    if format == TableFormat::Json {
        return super::json(printer, &outcome);
    }
    writeln!(printer.out, "{}", outcome.reference)?;
    let release = crate::domain::bundle::short_release(&outcome.release_id);
    if outcome.oci_layout {
        return writeln!(
            printer.err,
            "release {release} on {} written as an OCI layout, tag {}: layer {}",
            outcome.base, outcome.tag, outcome.layer_digest
        );
    }
    writeln!(
        printer.err,
        "release {release} on {} as tag {}: layer {}, {} byte(s) in {} blob(s) uploaded, {} mounted, {} already there{}",
        outcome.base,
        outcome.tag,
        outcome.layer_digest,
        outcome.bytes_uploaded,
        outcome.blobs_uploaded,
        outcome.blobs_mounted,
        outcome.blobs_present,
        if outcome.manifest_pushed {
            ""
        } else {
            "; the tag already named this image"
        }
    )
}
