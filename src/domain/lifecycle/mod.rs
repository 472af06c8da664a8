//! The prompt lifecycle's decisions, as pure functions of values: which eval is evidence for a
//! candidate, which promotion gates pass (`LIFECYCLE.md` §1), and the plans of `promote` and
//! `archive`.
//!
pub mod archive;
pub mod gate;
pub mod promote;
pub mod regression;
pub mod rollback;

use crate::domain::layout;

/// Where an archived version lives: `prompts/99-archive/<task>/<version>.yaml`.
pub fn archive_path(task: &str, version: &str) -> String {
    format!(
        "{}/{}/{task}/{version}.yaml",
        layout::PROMPTS_DIR,
        layout::ARCHIVE
    )
}

/// A prompt file's bytes with the `archived:` note (why, when, who) appended; its content is
/// otherwise kept byte for byte.
pub fn archived_copy(bytes: &[u8], reason: &str, at: &str, by: &str) -> Result<Vec<u8>, String> {
    let mut archived =
        String::from_utf8(bytes.to_vec()).map_err(|_| "the prompt is not UTF-8".to_owned())?;
    if archived.lines().any(|line| line.starts_with("archived:")) {
        return Err("the prompt already has an `archived:` note".to_owned());
    }
    if !archived.ends_with('\n') {
        archived.push('\n');
    }
    archived.push_str(&format!(
        "archived:\n  reason: {}\n  at: {}\n  by: {}\n",
        crate::domain::yaml_write::string(reason),
        crate::domain::yaml_write::string(at),
        crate::domain::yaml_write::string(by),
    ));
    Ok(archived.into_bytes())
}
