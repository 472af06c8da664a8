//! Archiving as a plan: a production prompt (the task is then retired) or a candidate moves
//! to `99-archive/<task>/<version>.yaml` with its note, recorded as an `archive` event.

use crate::domain::model::{EventKind, HistoryEvent};
use crate::domain::plan::{FileRemoval, FileWrite};
use crate::domain::trailers::{self, Trailer};

/// The prompt to archive, as it is now.
pub struct Archived<'a> {
    pub task: &'a str,
    pub path: &'a str,
    pub bytes: &'a [u8],
    pub sha256: &'a str,
    pub version: &'a str,
    /// `production` or `candidate`.
    pub which: &'a str,
}

/// The archived copy written, the prompt removed.
pub fn plan_files(
    prompt: &Archived<'_>,
    reason: &str,
    at: &str,
    by: &str,
) -> Result<(Vec<FileWrite>, Vec<FileRemoval>), String> {
    let bytes = super::archived_copy(prompt.bytes, reason, at, by)?;
    Ok((
        vec![FileWrite::new(
            super::archive_path(prompt.task, prompt.version),
            bytes,
        )],
        vec![FileRemoval {
            path: prompt.path.to_owned(),
            sha256: prompt.sha256.to_owned(),
        }],
    ))
}

/// The commit message, with trailers.
pub fn commit_message(prompt: &Archived<'_>, reason: &str) -> String {
    format!(
        "archive {} {} ({})\n\n{}\n\n{}",
        prompt.task,
        prompt.version,
        prompt.which,
        trailers::one_line(reason),
        trailers::block(&[
            (Trailer::Task, prompt.task),
            (Trailer::From, prompt.version),
            (Trailer::Decision, &format!("archive-{}", prompt.which)),
        ])
    )
}

/// The history event.
pub fn event(prompt: &Archived<'_>, reason: &str, at: &str, by: &str, plan: &str) -> HistoryEvent {
    HistoryEvent {
        event: EventKind::Archive,
        version: prompt.version.to_owned(),
        at: at.to_owned(),
        by: by.to_owned(),
        reason: Some(format!("{} archived: {reason}", prompt.which)),
        commit: None,
        from: None,
        evidence: None,
        plan: Some(plan.to_owned()),
        deployment: None,
    }
}
