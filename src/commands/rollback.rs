//! `promptops rollback TASK [--to VERSION] --reason "..."`: an archived version goes back to
//! production and the current production is archived; the restored prompt must validate
//! against today's metadata and examples.

use crate::adapters::eval_store;
use crate::cli::RollbackArgs;
use crate::domain::analysis::RegistryState;
use crate::domain::eval::evidence::CheckedRun;
use crate::domain::eval::record::{Pair, RunSummary};
use crate::domain::layout;
use crate::domain::lifecycle::regression::{self, Action, Measured, RegressionFacts};
use crate::domain::lifecycle::rollback::{self, Rollback};
use crate::domain::model::LatestEval;
use crate::domain::outcome::{ChangeOutcome, RegressionDecision, RegressionOutcome};
use crate::domain::plan::plan_id;
use crate::domain::time;
use crate::exit::{ExitStatus, UserError};
use crate::report::{self, Printer};
use crate::settings::Settings;

use super::Outcome;

pub fn run(
    settings: &Settings,
    args: &RollbackArgs,
    printer: &mut Printer<'_>,
) -> anyhow::Result<Outcome> {
    if args.on_regression {
        let outcome = on_regression(settings, args)?;
        report::promote::render_regression(
            &outcome,
            super::flags::table_format(args.change.format),
            printer,
        )?;
        return Ok(Outcome::Regression(outcome));
    }
    let [task] = args.tasks.as_slice() else {
        return Err(UserError::new(ExitStatus::Error, "rollback takes one task")
            .hint("name one task, or check several with --on-regression")
            .into());
    };
    let reason = args.reason.as_deref().unwrap_or_default();
    let outcome = execute(settings, args, task, reason, args.to.clone())?;
    let format = super::flags::table_format(args.change.format);
    report::promote::render_archive(&outcome, format, printer)?;
    Ok(Outcome::Archive(Box::new(outcome)))
}

/// Rolls back, planning again when another command changed the repository meanwhile.
pub fn execute(
    settings: &Settings,
    args: &RollbackArgs,
    task_id: &str,
    reason: &str,
    to: Option<String>,
) -> anyhow::Result<ChangeOutcome> {
    super::lifecycle::retrying(|| execute_once(settings, args, task_id, reason, to.clone()))
}

/// One attempt: find the target, plan, check, apply.
// Long on purpose: one attempt reads, chooses the target, plans, checks and applies, as
// promote and archive do; each step is a call, the rest hands values from one to the next.
fn execute_once(
    settings: &Settings,
    args: &RollbackArgs,
    task_id: &str,
    reason: &str,
    to: Option<String>,
) -> anyhow::Result<ChangeOutcome> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(UserError::new(ExitStatus::Error, "--reason must say why").into());
    }
    let root = if args.change.dry_run {
        super::repository::root(settings)?
    } else {
        super::repository::root_for_change(settings)?
    };
    let threads = super::runtime::threads();
    let (inputs, analysis) = super::repository::scan(&root, false)?;
    let Some(task) = analysis.tasks.get(task_id) else {
        return Err(super::repository::unknown_task(
            task_id,
            analysis.tasks.keys(),
        ));
    };
    let (Some(production), Some(metadata)) = (&task.production, &task.metadata) else {
        return Err(UserError::new(
            ExitStatus::Error,
            format!("task `{task_id}` has no production prompt (and metadata) to roll back"),
        )
        .into());
    };
    // The target's evidence is found in the eval logs of exactly that prompt (either half of
    // a run), recomputed from them; never taken from what the registry claims.
    let threshold = metadata
        .parsed
        .as_ref()
        .map_or(1.0, |parsed| parsed.metadata.threshold);
    let evidence = TaskEvidence::read(&root, &inputs, task_id, task)?;
    let now = settings.clock.now();
    let (target_version, target_evidence) = choose_target(&evidence, task_id, to, threshold, now)?;
    // The target's eval files (both halves of its run) go into the rollback's commit, as a
    // promotion's evidence goes into its own.
    let evidence_files: Vec<String> = target_evidence
        .map(|found| evidence.files_of(&root, found))
        .unwrap_or_default();
    let target_evidence = target_evidence.map(|found| evidence.recorded(found, threshold));
    let Some(target) = task
        .archived
        .iter()
        .find(|entry| entry.version() == Some(target_version.as_str()))
    else {
        return Err(UserError::new(
            ExitStatus::Error,
            format!("`{task_id}` has no archived version {target_version}"),
        )
        .into());
    };
    let production_bytes = super::repository::file_bytes(&root, &inputs, &production.path)?;
    let target_bytes = super::repository::file_bytes(&root, &inputs, &target.path)?;
    let metadata_text = String::from_utf8_lossy(&super::repository::file_bytes(
        &root,
        &inputs,
        &metadata.path,
    )?)
    .into_owned();
    let production_version = production.version().unwrap_or("0.0.0").to_owned();
    let plan_input = Rollback {
        task: task_id,
        production_path: &production.path,
        production_bytes: &production_bytes,
        production_version: &production_version,
        target_path: &target.path,
        target_bytes: &target_bytes,
        target_sha256: &target.sha256,
        target_version: &target_version,
        metadata_path: &metadata.path,
        metadata_text: &metadata_text,
    };
    let at = time::rfc3339(settings.clock.now());
    let (identity, by) = super::repository::who(&root, settings);
    let (writes, removals) =
        rollback::plan_files(&plan_input, reason, &at, &by).map_err(|problem| {
            UserError::new(
                ExitStatus::Error,
                format!("cannot plan the rollback: {problem}"),
            )
        })?;
    let message = rollback::commit_message(&plan_input, reason);
    let id = plan_id(&writes, &removals, &message);
    let registry = super::lifecycle::checked_registry(
        &inputs,
        &writes,
        &removals,
        threads,
        &format!("restoring {target_version} (it must still fit today's metadata and examples)"),
        |registry| {
            if let Some(entry) = registry.tasks.get_mut(task_id) {
                // The restored version's eval is its latest again: the one found in the logs,
                // else the one its history recorded.
                entry.latest_eval = target_evidence.as_ref().map_or_else(
                    || rollback::recorded_eval(&entry.history, &target_version),
                    |(_, latest)| Some(latest.clone()),
                );
                entry.history.push(rollback::event(
                    &plan_input,
                    reason,
                    (&at, &by),
                    target_evidence
                        .as_ref()
                        .map(|(evidence, _)| evidence.clone()),
                    &id,
                ));
            }
        },
    )?;
    let (plan, result) = super::lifecycle::finish(
        &root,
        settings,
        &args.change,
        super::lifecycle::Change {
            read: &inputs,
            evidence: &evidence_files,
            writes,
            removals,
            registry,
            message: message.clone(),
            id_basis: message,
            tag: None,
            what: format!("rollback {task_id} {target_version}"),
            identity,
        },
    )?;
    Ok(ChangeOutcome {
        task: task_id.to_owned(),
        version: target_version.clone(),
        which: format!("rollback from {production_version}"),
        result,
        plan: Some(plan),
    })
}

/// The version to roll back to, with its newest eval when it has one: `--to VERSION`, else
/// the newest archived version whose eval reaches the threshold.
fn choose_target<'a>(
    evidence: &'a TaskEvidence,
    task_id: &str,
    to: Option<String>,
    threshold: f64,
    now: i64,
) -> anyhow::Result<(String, Option<rollback::Found<'a>>)> {
    if let Some(version) = to {
        let found = evidence
            .archived
            .iter()
            .find(|prompt| prompt.version == version)
            .and_then(|prompt| rollback::newest_evidence(&evidence.runs, &prompt.sha256s, now));
        return Ok((version, found));
    }
    let (version, found) =
        rollback::default_target(&evidence.archived, &evidence.runs, threshold, now).ok_or_else(
            || {
                let archived: Vec<&str> = evidence
                    .archived
                    .iter()
                    .map(|prompt| prompt.version.as_str())
                    .collect();
                UserError::new(
                    ExitStatus::Error,
                    format!(
                        "no archived version of `{task_id}` has a complete eval of exactly \
                         that prompt in prompts/04-evals/ that reaches the threshold {threshold}"
                    ),
                )
                .hint(format!(
                    "name the version with --to (archived: {})",
                    if archived.is_empty() {
                        "none".to_owned()
                    } else {
                        archived.join(", ")
                    }
                ))
            },
        )?;
    Ok((version, Some(found)))
}

/// A task's eval runs (checked against their logs, newest first) and its archived prompts as
/// their evals name them.
struct TaskEvidence {
    found: Vec<super::evidence::FoundRun>,
    runs: Vec<CheckedRun>,
    archived: Vec<rollback::ArchivedPrompt>,
}

impl TaskEvidence {
    fn read(
        root: &std::path::Path,
        inputs: &[crate::domain::source::InputFile],
        id: &str,
        task: &crate::domain::task::Task,
    ) -> anyhow::Result<TaskEvidence> {
        let examples = task
            .examples
            .as_ref()
            .map(|entry| (entry.path.as_str(), entry.sha256.as_str()));
        let found = super::evidence::checked_runs(root, id, examples, |_| true)?;
        let runs = found.iter().map(|found| found.run.clone()).collect();
        let mut archived = Vec::new();
        for entry in &task.archived {
            let (Some(version), Ok(restored)) = (
                entry.version(),
                rollback::restored(&super::repository::file_bytes(root, inputs, &entry.path)?),
            ) else {
                continue;
            };
            archived.push(rollback::ArchivedPrompt {
                version: version.to_owned(),
                sha256s: vec![
                    crate::domain::source::sha256_hex(&restored),
                    entry.sha256.clone(),
                ],
            });
        }
        Ok(TaskEvidence {
            found,
            runs,
            archived,
        })
    }

    /// The eval files of the run that was found: both halves' summaries and logs that exist.
    fn files_of(&self, root: &std::path::Path, found: rollback::Found<'_>) -> Vec<String> {
        let path = self.path_of(found);
        let folder = path.rsplit_once('/').map_or("", |(folder, _)| folder);
        let mut files = Vec::new();
        for half in std::iter::once(&found.run.summary).chain(found.run.baseline.as_ref()) {
            files.push(format!(
                "{folder}/{}{}",
                half.run,
                eval_store::SUMMARY_SUFFIX
            ));
            files.push(format!("{folder}/{}", half.log));
        }
        files.retain(|file| root.join(file).is_file());
        files
    }

    /// What the rollback records of the run found: the event's evidence, and the registry's
    /// `latest_eval` for the restored version.
    fn recorded(
        &self,
        found: rollback::Found<'_>,
        threshold: f64,
    ) -> (crate::domain::model::PromotionEvidence, LatestEval) {
        let path = self.path_of(found);
        (
            rollback::evidence(found, threshold, &path),
            LatestEval {
                score: found.half.score,
                passed: crate::domain::eval::stats::reaches(found.half.score, threshold),
                at: found.half.finished_at.clone(),
                summary: path,
            },
        )
    }

    /// The repository-relative summary of the half that was found.
    fn path_of(&self, found: rollback::Found<'_>) -> String {
        let index = self
            .runs
            .iter()
            .position(|run| std::ptr::eq(run, found.run))
            .unwrap_or_default();
        let path = &self.found[index].path;
        let folder = path.rsplit_once('/').map_or("", |(folder, _)| folder);
        format!("{folder}/{}{}", found.half.run, eval_store::SUMMARY_SUFFIX)
    }
}

/// `--on-regression`: each task's newest complete production eval of its current version
/// against its threshold and the score recorded when it went to production; a regressed task
/// is rolled back only when its rollback target, evaluated now on today's examples, passes and
/// does better.
// Long on purpose: one decision per task, each step's figures go into its evidence.
fn on_regression(settings: &Settings, args: &RollbackArgs) -> anyhow::Result<RegressionOutcome> {
    let root = super::repository::root(settings)?;
    let (inputs, analysis) = super::repository::scan(&root, false)?;
    let RegistryState::Parsed { registry, .. } = &analysis.registry else {
        return Err(UserError::new(
            ExitStatus::Error,
            "the registry cannot be read, so no score is recorded to compare with",
        )
        .into());
    };
    let tasks: Vec<String> = if args.tasks.is_empty() {
        analysis
            .tasks
            .iter()
            .filter(|(_, task)| task.production.is_some())
            .map(|(id, _)| id.clone())
            .collect()
    } else {
        args.tasks.clone()
    };
    let now = settings.clock.now();
    let mut outcome = RegressionOutcome {
        decisions: Vec::new(),
        rollbacks: Vec::new(),
    };
    for id in tasks {
        let Some(task) = analysis.tasks.get(&id) else {
            return Err(UserError::new(ExitStatus::Error, format!("no task `{id}`")).into());
        };
        let (Some(production), Some(metadata)) = (
            &task.production,
            task.metadata.as_ref().and_then(|m| m.parsed.as_ref()),
        ) else {
            outcome.decisions.push(RegressionDecision {
                task: id,
                regressed: false,
                evidence: "no production prompt with metadata".to_owned(),
                action: "nothing to check".to_owned(),
            });
            continue;
        };
        let version = production.version().unwrap_or("0.0.0").to_owned();
        let evidence_runs = TaskEvidence::read(&root, &inputs, &id, task)?;
        let newest = regression::newest_run(&evidence_runs.runs, &production.sha256, now);
        let recorded = registry
            .tasks
            .get(&id)
            .and_then(|entry| rollback::recorded_eval(&entry.history, &version));
        let paired = newest
            .zip(recorded.as_ref())
            .and_then(|(newest, recorded)| paired_with_recorded(&root, newest, recorded));
        let threshold = metadata.metadata.threshold;
        let target =
            rollback::default_target(&evidence_runs.archived, &evidence_runs.runs, threshold, now)
                .map(|(target, _)| target);
        let facts = RegressionFacts {
            version: &version,
            threshold,
            tolerance: metadata.metadata.regression_tolerance,
            newest,
            recorded: recorded.as_ref(),
            paired: paired
                .as_ref()
                .map(|(before, pairs)| (before, pairs.as_slice())),
            target: target.as_deref(),
            offline: args.run.offline,
            measured: None,
        };
        let mut decision = regression::decide(&facts);
        if let Action::Measure { target, fresh } = &decision.action {
            // What can refuse the rollback is checked before the target's paid eval:
            // uncommitted work in the files it would change, who commits it, and the flags.
            if !args.change.dry_run {
                super::flags::wait(&args.change.lock_timeout, "lock-timeout")?;
                let paths = [
                    production.path.clone(),
                    format!("{}/{}/{id}.yaml", layout::PROMPTS_DIR, layout::METADATA),
                    crate::domain::lifecycle::archive_path(&id, &version),
                    crate::domain::lifecycle::archive_path(&id, target),
                ];
                super::lifecycle::refuse_dirty(&root, &paths, args.change.allow_dirty)?;
                let (identity, _) = super::repository::who(&root, settings);
                super::lifecycle::committer(identity, args.change.no_commit, "rollback")?;
            }
            let run_options = crate::cli::RunOptions {
                no_cache: args.run.no_cache || *fresh,
                ..args.run.clone()
            };
            let measured =
                super::eval::evaluate_archived(settings, &root, &id, target, &run_options)?;
            decision = regression::decide(&RegressionFacts {
                measured: Some(Measured {
                    ran: measured.ran,
                    summary: &measured.summary,
                }),
                ..facts.clone()
            });
        }
        if let Action::RollBack { target, reason } = &decision.action {
            let rolled = execute(settings, args, &id, reason, Some(target.clone()))?;
            outcome.rollbacks.push(rolled);
        }
        outcome.decisions.push(RegressionDecision {
            task: id,
            regressed: decision.regressed,
            evidence: decision.evidence,
            action: decision.action.describe(args.change.dry_run),
        });
    }
    Ok(outcome)
}

/// The newest run's examples paired with those of the run recorded when the version went to
/// production, when that run is on the same examples and both logs can be read.
fn paired_with_recorded(
    root: &std::path::Path,
    newest: &RunSummary,
    recorded: &LatestEval,
) -> Option<(RunSummary, Vec<Pair>)> {
    // The registry's path is data: only a plain path under prompts/04-evals/ is read.
    let inside = recorded.summary.starts_with("prompts/04-evals/")
        && std::path::Path::new(&recorded.summary)
            .components()
            .all(|component| matches!(component, std::path::Component::Normal(_)));
    if !inside {
        return None;
    }
    let before = eval_store::read_summary(&root.join(&recorded.summary)).ok()?;
    if before.examples.sha256 != newest.examples.sha256 {
        return None;
    }
    let then = eval_store::read_records(root, &before).ok()?;
    let now = eval_store::read_records(root, newest).ok()?;
    let by_id: std::collections::HashMap<&str, &crate::domain::eval::record::ExampleRecord> = then
        .iter()
        .map(|record| (record.id.as_str(), record))
        .collect();
    let pairs = now
        .iter()
        .filter_map(|record| {
            by_id
                .get(record.id.as_str())
                .map(|old| Pair::new((record.score, record.pass), (old.score, old.pass)))
        })
        .collect();
    Some((before, pairs))
}
