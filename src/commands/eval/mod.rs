//! `promptops eval`: run each selected task's examples through its prompt, score the
//! answers, log every result under `prompts/04-evals/<task>/`, and gate on the threshold.
//!
//! `prepare` selects the tasks and readies their prompts, scorers and examples; `task` and
//! `execute` run them (the engine); `scores` records the scores in the registry; the eval
//! store (`adapters::eval_store`) holds the logs and summaries.

pub mod execute;
pub mod merge;
pub mod prepare;
pub mod progress;
pub mod scores;
pub mod task;

use std::sync::Arc;

use crate::adapters::{self, cache::Cache, eval_store, llm};
use crate::cli::{EvalArgs, EvalCommand, EvalReports};
use crate::domain::diagnostic::Shown;
use crate::domain::eval::outcome::{EvalOutcome, TaskOutcome};
use crate::domain::eval::record::Variant;
use crate::domain::eval::shard::Shard;
use crate::exit::{ExitStatus, UserError};
use crate::report::{self, Printer};
use crate::settings::Settings;

use super::Outcome;
use execute::Engine;
use task::RunContext;

pub fn run(
    settings: &Settings,
    args: EvalArgs,
    printer: &mut Printer<'_>,
) -> anyhow::Result<Outcome> {
    if let Some(EvalCommand::Merge(merge_args)) = &args.command {
        let (root, outcome) = merge::execute(settings, merge_args)?;
        render(&root, &outcome, &merge_args.reports, printer)?;
        return Ok(Outcome::Eval(outcome));
    }
    let root = super::repository::root(settings)?;
    let outcome = execute(settings, &root, &args)?;
    if let Some(path) = &args.record_runs {
        // One line per task: `task<TAB>variant<TAB>run` (the pipeline's record of its evals).
        let mut lines = String::new();
        for task in outcome
            .tasks
            .iter()
            .filter(|task| !task.summary_path.is_empty())
        {
            lines.push_str(&format!(
                "{}\t{}\t{}\n",
                task.summary.task,
                task.summary.variant.as_str(),
                task.summary.run
            ));
        }
        adapters::fs::append(&settings.current_dir.join(path), lines.as_bytes())?;
    }
    render(&root, &outcome, &args.reports, printer)?;
    Ok(Outcome::Eval(outcome))
}

/// Prints the outcome and writes the report files asked for.
pub(super) fn render(
    root: &std::path::Path,
    outcome: &EvalOutcome,
    options: &EvalReports,
    printer: &mut Printer<'_>,
) -> anyhow::Result<()> {
    let format = super::flags::table_format(options.format);
    report::eval::render(outcome, format, printer)?;
    if outcome.blocked.is_some() {
        return Ok(());
    }
    let ran = outcome.ran();
    if let Some(path) = &options.junit {
        let records = ran
            .iter()
            .map(|task| eval_store::read_records(root, &task.summary))
            .collect::<Result<Vec<_>, _>>()?;
        let xml = report::eval::junit(&ran, &records, options.junit_examples_fail)?;
        adapters::fs::Repository::new(root).write_atomic(path, &xml)?;
    }
    if let Some(path) = &options.summary_md {
        adapters::fs::Repository::new(root).write_atomic(
            path,
            report::eval::markdown(&ran, &outcome.notes).as_bytes(),
        )?;
    }
    Ok(())
}

/// Runs the selected tasks' evals and records their scores.
// Long on purpose: the eval from selection to recorded scores; each step is a call, and the
// runtime's lifetime spans them.
pub fn execute(
    settings: &Settings,
    root: &std::path::Path,
    args: &EvalArgs,
) -> anyhow::Result<EvalOutcome> {
    let shard = args
        .shard
        .as_deref()
        .map(Shard::parse)
        .transpose()
        .map_err(|error| UserError::new(ExitStatus::Error, format!("--shard {error}")))?;
    let variant = if args.candidate {
        Variant::Candidate
    } else {
        Variant::Production
    };
    let baseline = args.baseline.is_some();
    let analysis = super::repository::load(root, false)?;
    let mut selected = prepare::select_tasks(&analysis, &args.tasks, variant)?;
    if let Some(since) = &args.changed_since {
        let changed = super::repository::changed_tasks(root, &analysis, "--changed-since", since)?;
        selected.retain(|task| changed.contains(task));
        if selected.is_empty() {
            return Ok(EvalOutcome {
                notes: vec![format!(
                    "no task with a {} changed since {since}; nothing to evaluate",
                    if args.candidate {
                        "candidate"
                    } else {
                        "production prompt"
                    }
                )],
                ..EvalOutcome::default()
            });
        }
    }
    let blocking = prepare::blocking_findings(&analysis, &selected, variant, baseline);
    if !blocking.is_empty() {
        return Ok(EvalOutcome {
            blocked: Some(Shown::new(blocking, &analysis.sources)),
            ..EvalOutcome::default()
        });
    }
    let prepared = selected
        .iter()
        .map(|id| prepare::prepare(root, &analysis, id, variant, baseline, shard))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let config = analysis.config.clone();
    // The parsed examples are freed before the run, which streams them from the file instead;
    // the registry is read again when the scores are recorded.
    drop(analysis);
    let (tasks, mut notes) =
        run_prepared(settings, root, &config, prepared, &args.run, args.resume)?;
    notes.extend(scores::record_latest(
        root,
        &selected,
        tasks
            .iter()
            .filter(|task| task.ran)
            .map(|task| (&task.summary, task.summary_path.as_str())),
    )?);
    Ok(EvalOutcome {
        tasks,
        blocked: None,
        notes,
    })
}

/// Runs prepared tasks through one engine, in order, until one is interrupted; returns their
/// outcomes and the notes about how they went.
fn run_prepared(
    settings: &Settings,
    root: &std::path::Path,
    config: &crate::domain::model::ProjectConfig,
    prepared: Vec<execute::Prepared>,
    run: &crate::cli::RunOptions,
    resume: bool,
) -> anyhow::Result<(Vec<TaskOutcome>, Vec<String>)> {
    let concurrency = Settings::concurrency(run.concurrency, config.defaults.concurrency);
    let client = llm::Client::new(
        config,
        llm::Settings {
            delay_scale: settings.retry_delay_scale,
            concurrency,
            root: root.to_path_buf(),
        },
        &|name| settings.environment.get(name),
    )?;
    let engine = Arc::new(Engine {
        client,
        cache: (!run.no_cache)
            .then(|| Cache::new(settings.cache_dir(run.cache_dir.as_deref(), root), root)),
        offline: run.offline,
        concurrency,
        validators: crate::domain::schema::Validators::new(),
        watchdog: execute::Watchdog::new(),
    });
    let commit = adapters::git::head_commit(root);
    let mut context = RunContext {
        root,
        repository: Arc::new(adapters::fs::Repository::new(root)),
        engine: &engine,
        resume,
        commit: commit.as_deref(),
        clock: settings.clock,
        progress_bars: settings.progress_bars(),
        notes: Vec::new(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(super::runtime::threads().clamp(1, 4))
        .enable_all()
        .build()?;
    let mut tasks = Vec::new();
    runtime.block_on(async {
        let mut stop_signal = Box::pin(stop_signal());
        for prepared in prepared {
            let outcome = task::run_task(&mut context, prepared, &mut stop_signal).await?;
            let interrupted = outcome.interrupted;
            tasks.push(outcome);
            if interrupted {
                break;
            }
        }
        anyhow::Ok(())
    })?;
    runtime.shutdown_background();
    Ok((tasks, context.notes))
}

/// Evaluates an archived version of a task on today's examples (a rollback target, checked
/// before a rollback on a score regression). The run is logged as a candidate run of that
/// file; no score is recorded in the registry.
pub fn evaluate_archived(
    settings: &Settings,
    root: &std::path::Path,
    task: &str,
    version: &str,
    run: &crate::cli::RunOptions,
) -> anyhow::Result<TaskOutcome> {
    let analysis = super::repository::load(root, false)?;
    let entry = analysis
        .tasks
        .get(task)
        .and_then(|entry| {
            entry
                .archived
                .iter()
                .find(|file| file.version() == Some(version))
        })
        .ok_or_else(|| {
            UserError::new(
                ExitStatus::Error,
                format!("`{task}` has no archived version {version}"),
            )
        })?;
    let prepared = prepare::prepare_entry(
        root,
        &analysis,
        task,
        entry,
        Variant::Candidate,
        false,
        None,
    )?;
    let config = analysis.config.clone();
    let (mut tasks, _) = run_prepared(settings, root, &config, vec![prepared], run, false)?;
    tasks
        .pop()
        .ok_or_else(|| anyhow::anyhow!("the eval of {task} {version} did not run"))
}

/// Resolves when SIGINT or SIGTERM arrives.
async fn stop_signal() {
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let term = async {
            match terminate.as_mut() {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = term => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
