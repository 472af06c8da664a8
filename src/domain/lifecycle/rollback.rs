//! Rollback as a plan: an archived version goes back to production, and the current
//! production is archived with the reason. Which version: `--to`, else the newest archived
//! version whose recorded eval passed.

use super::promote::{FileRemoval, FileWrite};
use crate::domain::model::{HistoryEvent, LatestEval, RegistryTask};

/// The archived file without its `archived:` note: the prompt as it was in production.
pub fn restored(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "the archived prompt is not UTF-8")?;
    let mut out = String::with_capacity(text.len());
    let mut in_note = false;
    let mut found = false;
    for line in text.split_inclusive('\n') {
        if line.starts_with("archived:") {
            in_note = true;
            found = true;
            continue;
        }
        if in_note && (line.starts_with(' ') || line.starts_with('\t') || line.trim().is_empty()) {
            continue;
        }
        in_note = false;
        out.push_str(line);
    }
    if found {
        Ok(out.into_bytes())
    } else {
        Err("the archived prompt has no `archived:` note".to_owned())
    }
}

/// The newest archived version whose recorded eval passed (the evidence of the event that
/// made it production), when there is one.
pub fn default_target(entry: &RegistryTask) -> Option<String> {
    let mut versions: Vec<(semver::Version, String)> = entry
        .archived
        .iter()
        .filter(|archived| {
            entry.history.iter().any(|event| {
                event.version == archived.version
                    && matches!(event.event.as_str(), "promote" | "override" | "rollback")
                    && event
                        .evidence
                        .as_ref()
                        .is_some_and(|evidence| evidence.score + 1e-12 >= evidence.threshold)
            })
        })
        .filter_map(|archived| {
            semver::Version::parse(&archived.version)
                .ok()
                .map(|parsed| (parsed, archived.version.clone()))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, version)| version)
}

/// The eval recorded for `version` when it was made production (its newest decision with
/// evidence), as the registry's latest eval.
pub fn recorded_eval(history: &[HistoryEvent], version: &str) -> Option<LatestEval> {
    history
        .iter()
        .rev()
        .filter(|event| event.version == version)
        .find_map(|event| {
            let evidence = event.evidence.as_ref()?;
            Some(LatestEval {
                score: evidence.score,
                passed: evidence.score + 1e-12 >= evidence.threshold,
                at: event.at.clone(),
                summary: evidence.summary.clone(),
            })
        })
}

/// What the rollback moves.
pub struct Rollback<'a> {
    pub task: &'a str,
    pub production_path: &'a str,
    pub production_bytes: &'a [u8],
    pub production_version: &'a str,
    pub target_path: &'a str,
    pub target_bytes: &'a [u8],
    pub target_sha256: &'a str,
    pub target_version: &'a str,
    pub metadata_path: &'a str,
    pub metadata_text: &'a str,
}

/// The file changes: target → production, production → archive with its note, metadata
/// version follows.
pub fn plan_files(
    rollback: &Rollback<'_>,
    reason: &str,
    at: &str,
    by: &str,
) -> Result<(Vec<FileWrite>, Vec<FileRemoval>), String> {
    let archived = super::archived_copy(
        rollback.production_bytes,
        &format!("rolled back: {reason}"),
        at,
        by,
    )?;
    Ok((
        vec![
            FileWrite::new(
                rollback.production_path.to_owned(),
                restored(rollback.target_bytes)?,
            ),
            FileWrite::new(
                super::archive_path(rollback.task, rollback.production_version),
                archived,
            ),
            FileWrite::new(
                rollback.metadata_path.to_owned(),
                super::promote::set_version(rollback.metadata_text, rollback.target_version)?
                    .into_bytes(),
            ),
        ],
        vec![FileRemoval {
            path: rollback.target_path.to_owned(),
            sha256: rollback.target_sha256.to_owned(),
        }],
    ))
}

pub fn commit_message(rollback: &Rollback<'_>, reason: &str) -> String {
    let reason = reason.replace(['\n', '\r'], " ");
    format!(
        "rollback {} {} -> {}\n\n{reason}\n\nPromptops-Task: {}\nPromptops-From: {}\nPromptops-To: {}\nPromptops-Decision: rollback\n",
        rollback.task,
        rollback.production_version,
        rollback.target_version,
        rollback.task,
        rollback.production_version,
        rollback.target_version
    )
}

pub fn event(
    rollback: &Rollback<'_>,
    reason: &str,
    at: &str,
    by: &str,
    plan: &str,
) -> HistoryEvent {
    HistoryEvent {
        event: "rollback".to_owned(),
        version: rollback.target_version.to_owned(),
        at: at.to_owned(),
        by: by.to_owned(),
        reason: Some(reason.to_owned()),
        commit: None,
        from: Some(rollback.production_version.to_owned()),
        evidence: None,
        plan: Some(plan.to_owned()),
        deployment: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_note_is_removed_and_the_rest_kept() {
        let archived = b"id: t\nversion: 1.0.0\narchived:\n  reason: r\n  at: \"x\"\noutput:\n  format: text\n";
        assert_eq!(
            restored(archived).unwrap(),
            b"id: t\nversion: 1.0.0\noutput:\n  format: text\n"
        );
        assert!(restored(b"id: t\n").is_err());
    }
}
