//! A deploy recorded in the registry (every production task's version and score) through the
//! lifecycle's checked plan, journal and commit.

use crate::cli::{ChangeFlags, DeployTarget};
use crate::domain::analysis::Analysis;
use crate::domain::deploy::TaskScore;
use crate::domain::model::{DeploymentRecord, EventKind, HistoryEvent, Registry};
use crate::domain::outcome::{ChangeResult, DeployOutcome, DeployResult};
use crate::domain::plan::plan_id;
use crate::domain::source::InputFile;
use crate::domain::time;
use crate::settings::Settings;

use crate::commands::lifecycle;

/// Each production task of the release with its latest eval, threshold and tolerance.
pub(super) fn task_scores(analysis: &Analysis, registry: &Registry) -> Vec<TaskScore> {
    registry
        .tasks
        .iter()
        .filter_map(|(task, entry)| {
            let production = entry.production.as_ref()?;
            let tolerance = analysis
                .tasks
                .get(task)
                .and_then(|t| t.metadata.as_ref())
                .and_then(|m| m.parsed.as_ref())
                .map_or(0.0, |m| m.metadata.regression_tolerance);
            Some(TaskScore {
                task: task.clone(),
                version: production.version.clone(),
                score: entry.latest_eval.as_ref().map(|e| e.score),
                threshold: entry.threshold,
                passed: entry.latest_eval.as_ref().map(|e| e.passed),
                tolerance,
            })
        })
        .collect()
}

/// What a record needs to know.
pub(super) struct Recording<'a> {
    pub(super) root: &'a std::path::Path,
    pub(super) settings: &'a Settings,
    pub(super) inputs: &'a [InputFile],
    pub(super) target: &'a DeployTarget,
    pub(super) record: DeploymentRecord,
    pub(super) event: EventKind,
    pub(super) reason: Option<String>,
    pub(super) tag: Option<String>,
    pub(super) message: String,
}

/// Records the event for every production task (its version and score) in the registry,
/// through the lifecycle's checked plan, journal and commit (and the auto-tag).
pub(super) fn record_event(
    recording: Recording<'_>,
    scores: &[TaskScore],
) -> anyhow::Result<(Option<String>, Option<String>)> {
    // The first attempt plans from the files the deploy read; when another command changed
    // them meanwhile, each next attempt reads them again (the deploy itself is not repeated).
    let mut fresh: Option<Vec<InputFile>> = None;
    lifecycle::retrying(|| {
        let inputs = match fresh.take() {
            Some(inputs) => inputs,
            None => recording.inputs.to_vec(),
        };
        let result = record_once(&recording, &inputs, scores);
        if matches!(&result, Err(error) if error.downcast_ref::<lifecycle::StalePlan>().is_some()) {
            fresh = Some(crate::commands::repository::scan(recording.root, false)?.0);
        }
        result
    })
}

/// A deploy that did not reach its goal: the event recorded, and the outcome says so.
pub(super) fn record_failure(
    outcome: &mut DeployOutcome,
    recording: Recording<'_>,
    scores: &[TaskScore],
    result: DeployResult,
) -> anyhow::Result<()> {
    let reason = recording.reason.clone();
    let (commit, _) = record_event(recording, scores)?;
    outcome.commit = commit;
    outcome.reason = reason;
    outcome.result = result;
    outcome.ok = false;
    Ok(())
}

fn record_once(
    recording: &Recording<'_>,
    inputs: &[InputFile],
    scores: &[TaskScore],
) -> anyhow::Result<(Option<String>, Option<String>)> {
    let (identity, by) = crate::commands::repository::who(recording.root, recording.settings);
    let at = time::rfc3339(recording.settings.clock.now());
    let id_basis = format!(
        "{}{}{at}",
        recording.message, recording.record.task_definition
    );
    let id = plan_id(&[], &[], &id_basis);
    let events: Vec<(String, HistoryEvent)> = scores
        .iter()
        .map(|task| {
            (
                task.task.clone(),
                HistoryEvent {
                    reason: recording.reason.clone(),
                    plan: Some(id.clone()),
                    deployment: Some(DeploymentRecord {
                        score: task.score,
                        ..recording.record.clone()
                    }),
                    ..HistoryEvent::new(
                        recording.event,
                        task.version.clone(),
                        at.clone(),
                        by.clone(),
                    )
                },
            )
        })
        .collect();
    let registry = lifecycle::checked_registry(
        inputs,
        &[],
        &[],
        crate::commands::runtime::threads(),
        "recording the deploy",
        |registry| {
            for (task, event) in events {
                if let Some(entry) = registry.tasks.get_mut(&task) {
                    entry.history.push(event);
                }
            }
        },
    )?;
    let flags = ChangeFlags {
        dry_run: false,
        no_commit: recording.target.no_commit,
        // Only the registry changes, and it is rewritten whole.
        allow_dirty: true,
        lock_timeout: recording.target.lock_timeout.clone(),
        format: recording.target.format,
    };
    let (_, result) = lifecycle::finish(
        recording.root,
        recording.settings,
        &flags,
        lifecycle::Change {
            read: inputs,
            evidence: &[],
            writes: Vec::new(),
            removals: Vec::new(),
            registry,
            message: recording.message.clone(),
            id_basis,
            tag: recording.tag.clone(),
            what: format!("{} {}", recording.event, recording.record.service),
            identity,
        },
    )?;
    Ok(match result {
        ChangeResult::Applied { commit, tag } => (commit, tag),
        ChangeResult::DryRun | ChangeResult::Refused => (None, None),
    })
}
