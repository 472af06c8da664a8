//! `promptops report pr --base REF`: what a pull request changes, for its reviewer. For each
//! changed task: production and candidate scores, the paired difference with its interval,
//! each promotion gate (the same gates `promote` applies), the examples that got worst, and
//! what merging will promote and deploy.

use std::collections::HashMap;

use crate::adapters::{self, eval_store};
use crate::cli::{Bump, ChangeFlags, PromoteArgs, ReportPrArgs, RunOptions, TableFormat};
use crate::domain::eval::record::{RunSummary, Variant};
use crate::domain::lifecycle::gate::GateOutcome;
use crate::domain::outcome::{PrReport, PrTask, WorstExample};
use crate::report::{self, Printer};
use crate::settings::Settings;

use super::Outcome;

// Long on purpose: the report's evidence gathered task by task (the evals as they stand,
// the gates, the worst examples), each a call into the verbs that own it.
pub fn pr(
    settings: &Settings,
    args: &ReportPrArgs,
    printer: &mut Printer<'_>,
) -> anyhow::Result<Outcome> {
    let root = super::repository::root(settings)?;
    let (_, analysis) = super::repository::scan(&root, false)?;
    let changed = super::repository::changed_tasks(&root, &analysis, "--base", &args.base)?;
    let mut report = PrReport {
        base: args.base.clone(),
        deploy: analysis
            .config
            .deploy
            .as_ref()
            .and_then(|d| Some(format!("{}/{}", d.cluster.as_ref()?, d.service.as_ref()?))),
        ..PrReport::default()
    };
    for task in &changed {
        let Some(files) = analysis.tasks.get(task) else {
            continue;
        };
        let mut line = PrTask {
            task: task.clone(),
            change: match (&files.candidate, &files.production) {
                (Some(candidate), _) => format!("candidate {}", candidate.version().unwrap_or("?")),
                (None, Some(_)) => "production".to_owned(),
                (None, None) => "metadata or examples".to_owned(),
            },
            ..PrTask::default()
        };
        // Figures as measured: each summary checked against its log; one that disagrees is
        // not shown as a score.
        let examples = files
            .examples
            .as_ref()
            .map(|entry| (entry.path.as_str(), entry.sha256.as_str()));
        let found =
            super::evidence::checked_runs(&root, task, examples, |summary| summary.complete)?;
        let newest = |variant: Variant, sha256: &str| {
            found.iter().map(|found| &found.run).find(|run| {
                run.problems.is_empty()
                    && run.summary.variant == variant
                    && run.summary.prompt.sha256 == sha256
            })
        };
        let production = files
            .production
            .as_ref()
            .and_then(|p| newest(Variant::Production, &p.sha256))
            .map(|run| &run.summary);
        if let Some(summary) = production {
            line.production = Some((summary.prompt.version.clone(), summary.score));
            line.threshold = Some(summary.threshold);
        }
        if let Some(candidate_file) = &files.candidate {
            let candidate = newest(Variant::Candidate, &candidate_file.sha256);
            if let Some(run) = candidate {
                let summary = &run.summary;
                line.candidate = Some((summary.prompt.version.clone(), summary.score));
                line.threshold = Some(summary.threshold);
                if let Some(comparison) = &summary.comparison {
                    line.delta = Some((
                        comparison.mean_difference,
                        comparison.interval_95,
                        comparison.n,
                    ));
                }
                if let Some(baseline) = &run.baseline {
                    line.worst = worst(&root, summary, baseline, args.examples)?;
                }
            }
            let promoted = super::promote::execute(
                settings,
                &PromoteArgs {
                    task: Some(task.clone()),
                    changed_since: None,
                    force: false,
                    reason: None,
                    bump: None::<Bump>,
                    eval: false,
                    evidence: Vec::new(),
                    run: RunOptions {
                        offline: false,
                        no_cache: false,
                        concurrency: None,
                        cache_dir: None,
                    },
                    change: ChangeFlags {
                        dry_run: true,
                        no_commit: true,
                        allow_dirty: true,
                        lock_timeout: "30s".to_owned(),
                        format: TableFormat::Table,
                    },
                },
                task,
            );
            // An error asking the gates is the report's error, as it is `promote`'s: a row
            // without its gates would hide it.
            let outcome = promoted?;
            line.promotes = outcome.gates.iter().all(|g| g.outcome != GateOutcome::Fail);
            line.gates = outcome
                .gates
                .iter()
                .map(|gate| {
                    let passed = match gate.outcome {
                        GateOutcome::Pass => Some(true),
                        GateOutcome::Fail => Some(false),
                        GateOutcome::NotApplicable => None,
                    };
                    (gate.gate.as_str().to_owned(), passed, gate.evidence.clone())
                })
                .collect();
        }
        report.tasks.push(line);
    }
    let text = report::pr::markdown(&report);
    if let Some(out) = &args.out {
        adapters::fs::Repository::new(&root)
            .write_atomic(&settings.current_dir.join(out), text.as_bytes())?;
    } else if let Some(summary) = &settings.github_step_summary {
        adapters::fs::append(summary, text.as_bytes())?;
    } else {
        write!(printer.out, "{text}")?;
    }
    Ok(Outcome::Report(report))
}

/// The examples where the candidate lost most against production, with their input, expected
/// answer and both answers.
fn worst(
    root: &std::path::Path,
    candidate: &RunSummary,
    baseline: &RunSummary,
    count: usize,
) -> anyhow::Result<Vec<WorstExample>> {
    let ours = eval_store::read_records(root, candidate)?;
    let theirs: HashMap<String, _> = eval_store::read_records(root, baseline)?
        .into_iter()
        .map(|record| (record.id.clone(), record))
        .collect();
    let examples_path = root.join(&candidate.examples.path);
    let lines: Vec<String> =
        adapters::fs::read_regular(&examples_path, crate::domain::layout::JSONL_SIZE_LIMIT)
            .map(|bytes| {
                String::from_utf8_lossy(&bytes)
                    .lines()
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
    let mut pairs: Vec<(f64, WorstExample)> = ours
        .iter()
        .filter_map(|record| {
            let base = theirs.get(&record.id)?;
            let delta = record.score - base.score;
            (delta < 0.0).then(|| {
                let example: serde_json::Value = lines
                    .get(record.line.saturating_sub(1))
                    .and_then(|line| serde_json::from_str(line).ok())
                    .unwrap_or_default();
                (
                    delta,
                    WorstExample {
                        id: record.id.clone(),
                        input: example["vars"].to_string(),
                        expected: match &example["expected"] {
                            serde_json::Value::String(text) => text.clone(),
                            other => other.to_string(),
                        },
                        candidate: record
                            .output
                            .clone()
                            .unwrap_or_else(|| "(no answer)".to_owned()),
                        production: base
                            .output
                            .clone()
                            .unwrap_or_else(|| "(no answer)".to_owned()),
                        delta,
                    },
                )
            })
        })
        .collect();
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)));
    Ok(pairs
        .into_iter()
        .take(count)
        .map(|(_, example)| example)
        .collect())
}
