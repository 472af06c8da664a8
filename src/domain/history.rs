//! A task's story as `history` tells it: every recorded decision, with the commit that carried
//! it out, and the versions archived before promptops recorded decisions.

use std::collections::HashMap;

use super::model::{EventKind, RegistryTask};
use super::outcome::{HistoryRow, HistoryRowKind};

/// The rows, oldest first. `commits` maps a plan id to the commit that carries its
/// `Promptops-Plan` trailer (found in git); an event without one shows the commit it recorded.
pub fn rows(entry: &RegistryTask, commits: &HashMap<String, String>) -> Vec<HistoryRow> {
    let mut rows: Vec<HistoryRow> = entry
        .history
        .iter()
        .map(|event| HistoryRow {
            version: event.version.clone(),
            event: HistoryRowKind::Event(event.event),
            at: event.at.clone(),
            by: Some(event.by.clone()),
            from: event.from.clone(),
            score: event.evidence.as_ref().map(|evidence| evidence.score),
            reason: event.reason.clone(),
            commit: event
                .plan
                .as_ref()
                .and_then(|plan| commits.get(plan))
                .map(|commit| commit[..12.min(commit.len())].to_owned())
                .or_else(|| event.commit.clone()),
        })
        .collect();
    // Versions archived before promptops recorded decisions still belong to the story.
    for archived in &entry.archived {
        let recorded = rows.iter().any(|row| {
            row.from.as_deref() == Some(archived.version.as_str())
                || (row.event == HistoryRowKind::Event(EventKind::Archive)
                    && row.version == archived.version)
        });
        if !recorded {
            rows.push(HistoryRow {
                version: archived.version.clone(),
                event: HistoryRowKind::Archived,
                at: archived.at.clone(),
                by: None,
                from: None,
                score: None,
                reason: Some(archived.reason.clone()),
                commit: None,
            });
        }
    }
    rows.sort_by(|a, b| a.at.cmp(&b.at));
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::{ArchivedVersion, HistoryEvent};

    fn event(kind: EventKind, version: &str, at: &str, from: Option<&str>) -> HistoryEvent {
        HistoryEvent {
            from: from.map(str::to_owned),
            plan: Some(format!("plan-{version}")),
            ..HistoryEvent::new(kind, version.into(), at.into(), "pat".into())
        }
    }

    fn archived(version: &str, at: &str) -> ArchivedVersion {
        ArchivedVersion {
            version: version.into(),
            path: format!("prompts/99-archive/t/{version}.yaml"),
            sha256: "s".into(),
            reason: "old".into(),
            at: at.into(),
        }
    }

    #[test]
    fn decisions_and_unrecorded_archives_make_one_story_oldest_first() {
        let entry: RegistryTask = RegistryTask {
            history: vec![
                event(EventKind::Promote, "1.2.0", "2026-03-01", Some("1.1.0")),
                event(EventKind::Archive, "0.9.0", "2026-02-01", None),
            ],
            archived: vec![
                // Replaced by a recorded promotion: its row is that promotion.
                archived("1.1.0", "2026-03-01"),
                // Archived by a recorded `archive`: that row.
                archived("0.9.0", "2026-02-01"),
                // Archived before promptops recorded decisions: a row of its own.
                archived("1.0.0", "2026-01-01"),
            ],
            ..RegistryTask::default()
        };
        let commits = HashMap::from([("plan-1.2.0".to_owned(), "0123456789abcdef".to_owned())]);
        let rows = rows(&entry, &commits);
        let told: Vec<(&str, &str, Option<&str>)> = rows
            .iter()
            .map(|row| {
                (
                    row.version.as_str(),
                    row.event.as_str(),
                    row.commit.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            told,
            [
                ("1.0.0", "archived", None),
                ("0.9.0", "archive", None),
                ("1.2.0", "promote", Some("0123456789ab")),
            ]
        );
    }
}
