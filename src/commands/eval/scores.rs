//! Recording scores: the registry's `latest_eval` of each evaluated production prompt.

use std::path::Path;

use crate::adapters;
use crate::domain::analysis::{Analysis, RegistryState};
use crate::domain::eval::evidence;
use crate::domain::eval::record::{RunSummary, Variant};
use crate::domain::model::{LatestEval, Registry};
use crate::domain::{layout, registry};

/// The registry that new scores are recorded in: the committed one, with only the evaluated
/// tasks' entries brought up to date from the files. Another task's entry is never touched,
/// even when its files have errors (the registry it calls for would drop it). `None` when the
/// committed registry cannot be read (its history would be lost).
pub(crate) fn registry_for_scores(analysis: Analysis, evaluated: &[String]) -> Option<Registry> {
    let Analysis {
        registry,
        expected_registry: mut expected,
        ..
    } = analysis;
    match registry {
        RegistryState::Broken => None,
        RegistryState::Missing => Some(expected),
        RegistryState::Parsed { registry, .. } => {
            let mut committed = *registry;
            for task in evaluated {
                if let Some(entry) = expected.tasks.remove(task) {
                    committed.tasks.insert(task.clone(), entry);
                }
            }
            Some(committed)
        }
    }
}

/// How long an eval waits for another promptops command's change before recording its scores.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_mins(1);

/// Points `latest_eval` of each task at its new summary: production runs whose every example
/// was scored, of the production prompt the registry lists. The registry is read, changed and
/// written under the repository lock, as it is at that moment (a promotion may have committed
/// while the eval ran): only the evaluated tasks' entries change. Returns a warning to show
/// when the scores could not be recorded.
pub(crate) fn record_latest<'a>(
    root: &Path,
    evaluated: &[String],
    runs: impl IntoIterator<Item = (&'a RunSummary, &'a str)>,
) -> anyhow::Result<Option<String>> {
    let scored: Vec<(&RunSummary, &str)> = runs
        .into_iter()
        .filter(|(summary, _)| {
            // Runs just made: they agree with their logs, and are not from the future.
            summary.variant == Variant::Production
                && !summary.is_baseline_half()
                && evidence::why_not(summary, &[], None, i64::MAX).is_none()
        })
        .collect();
    if scored.is_empty() {
        return Ok(None);
    }
    let _lock = adapters::journal::lock(root, LOCK_WAIT, "eval: recording scores")?;
    // An interrupted change is finished by `promptops repair`, whose registry step must find
    // the registry as it left it: the scores wait for the next eval.
    if adapters::journal::present(root) {
        return Ok(Some(
            "warning: an interrupted change is pending, so the new scores were not recorded in \
             the registry; run `promptops repair`, then evaluate again"
                .to_owned(),
        ));
    }
    let registry = registry_for_scores(super::super::repository::load(root, false)?, evaluated);
    let Some(mut expected) = registry else {
        return Ok(Some(format!(
            "warning: {} cannot be read, so the new scores were not recorded in it",
            layout::REGISTRY_FILE
        )));
    };
    for (summary, path) in scored {
        if let Some(entry) = expected.tasks.get_mut(&summary.task)
            && entry.production.as_ref().map(|p| &p.sha256) == Some(&summary.prompt.sha256)
        {
            entry.latest_eval = Some(LatestEval {
                score: summary.score,
                passed: summary.passed,
                at: summary.finished_at.clone(),
                summary: path.to_owned(),
            });
        }
    }
    let text = registry::render(&expected);
    adapters::fs::Repository::new(root)
        .write_atomic(&root.join(layout::REGISTRY_FILE), text.as_bytes())?;
    Ok(None)
}
