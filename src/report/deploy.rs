//! `deploy`: what happened, in words on stderr, the outcome's key line on stdout.

use crate::domain::outcome::{DeployAction, DeployOutcome, DeployResult};

use super::{Printer, TableFormat};

// Long on purpose: one text per verb and result, side by side, so they read alike.
pub fn render(
    outcome: &DeployOutcome,
    format: TableFormat,
    printer: &mut Printer<'_>,
) -> std::io::Result<()> {
    if format == TableFormat::Json {
        return super::json(printer, outcome);
    }
    let short = |arn: &Option<String>| {
        arn.as_deref()
            .map_or("-", |arn| arn.rsplit('/').next().unwrap_or(arn))
            .to_owned()
    };
    let release = outcome
        .release_id
        .as_deref()
        .map_or("-", crate::domain::bundle::short_release);
    let place = format!("{}/{}", outcome.cluster, outcome.service);
    if outcome.action == DeployAction::Status {
        writeln!(
            printer.out,
            "{place}: service runs {}",
            short(&outcome.task_definition)
        )?;
        for line in &outcome.deployments {
            let versions: Vec<String> = line
                .versions
                .iter()
                .map(|(t, v)| format!("{t} {v}"))
                .collect();
            writeln!(
                printer.out,
                "  {:8} {:22} {:12} {}/{} running  release {}  {}",
                line.status,
                line.task_definition
                    .rsplit('/')
                    .next()
                    .unwrap_or(&line.task_definition),
                line.rollout_state.as_deref().unwrap_or("-"),
                line.running,
                line.desired,
                line.release_id
                    .as_deref()
                    .map_or("-", crate::domain::bundle::short_release),
                if versions.is_empty() {
                    "(no deploy recorded)".to_owned()
                } else {
                    versions.join(", ")
                }
            )?;
        }
        return Ok(());
    }
    if let Some(image) = &outcome.image {
        writeln!(printer.err, "image {image}")?;
    }
    if let Some(diff) = &outcome.diff {
        write!(printer.err, "{diff}")?;
    }
    for call in &outcome.calls {
        writeln!(printer.err, "  would: {call}")?;
    }
    for score in &outcome.scores {
        writeln!(
            printer.err,
            "  {} {}",
            if score.ok { "ok  " } else { "FAIL" },
            score.reason
        )?;
    }
    let line = match outcome.result {
        DeployResult::NoOp => format!(
            "{place}: release {release} already runs ({}); nothing to do",
            short(&outcome.task_definition)
        ),
        DeployResult::DryRun => format!(
            "{place}: dry run; would deploy release {release} (from {})",
            short(&outcome.previous_task_definition)
        ),
        DeployResult::Started => format!(
            "{place}: deploying {} (not waited for: nothing verified or recorded)",
            short(&outcome.task_definition)
        ),
        DeployResult::Succeeded => format!(
            "{place}: deployed release {release} as {}{}",
            short(&outcome.task_definition),
            outcome
                .tag
                .as_ref()
                .map_or(String::new(), |tag| format!(", tagged {tag}"))
        ),
        DeployResult::RolledBack if outcome.action == DeployAction::Rollback => format!(
            "{place}: rolled back to {} (from {})",
            short(&outcome.task_definition),
            short(&outcome.previous_task_definition)
        ),
        DeployResult::RolledBack
        | DeployResult::Unknown
        | DeployResult::Failed
        | DeployResult::Shown => format!(
            "{place}: release {release} rolled back to {}: {}",
            short(&outcome.previous_task_definition),
            outcome.reason.as_deref().unwrap_or("failed")
        ),
    };
    writeln!(printer.out, "{line}")
}
