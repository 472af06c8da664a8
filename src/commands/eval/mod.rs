//! `promptops eval`: run each selected task's examples through its prompt, score the
//! answers, log every result under `prompts/04-evals/<task>/`, and gate on the threshold.

pub mod execute;
pub mod logs;
pub mod merge;
pub mod progress;

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::adapters::{self, cache::Cache, llm};
use crate::cli::{EvalArgs, EvalCommand};
use crate::domain::analysis::{Analysis, PromptEntry, RegistryState, Task};
use crate::domain::diagnostic::{Diagnostic, Severity};
use crate::domain::eval::record::{
    self, ExamplesRef, Gate, PromptRef, RunSummary, Totals, Variant,
};
use crate::domain::eval::render::Renderer;
use crate::domain::eval::scorers::{self, Scorer};
use crate::domain::eval::shard::Shard;
use crate::domain::model::{LatestEval, ProjectConfig, Registry};
use crate::domain::{layout, registry, time};
use crate::exit::{ExitStatus, UserError};
use crate::report::eval as report;

use super::Context;
use execute::{Engine, Finish, Prepared, Side, Sinks};

/// Bootstrap settings of the paired comparison: fixed, so a report can be reproduced.
pub(super) const BOOTSTRAP_RESAMPLES: u32 = 2000;
pub(super) const BOOTSTRAP_SEED: u64 = 0x5EED_2026;

pub fn run(context: &Context, args: EvalArgs) -> anyhow::Result<ExitStatus> {
    if let Some(EvalCommand::Merge(merge_args)) = &args.command {
        return merge::run(context, merge_args);
    }
    let root = context.root()?;
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
    let analysis = super::load(&root, false)?;
    let selected = select_tasks(&analysis, &args.tasks, variant)?;
    check_files(
        context,
        &analysis,
        &selected,
        variant,
        args.baseline.is_some(),
    )?;

    let baseline = args.baseline.is_some();
    let prepared = selected
        .iter()
        .map(|id| prepare(&root, &analysis, id, variant, baseline, shard))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let concurrency = args
        .concurrency
        .or(analysis.config.defaults.concurrency)
        .unwrap_or(8) as usize;
    let delay_scale = std::env::var("PROMPTOPS_RETRY_DELAY_SCALE")
        .ok()
        .and_then(|value| value.parse::<f64>().ok())
        .filter(|scale| scale.is_finite() && *scale >= 0.0)
        .unwrap_or(1.0);
    let client = llm::Client::new(
        &analysis.config,
        llm::Settings {
            delay_scale,
            concurrency,
            root: root.clone(),
        },
    )?;
    let cache_dir = if args.cache_dir.is_absolute() {
        args.cache_dir.clone()
    } else {
        root.join(&args.cache_dir)
    };
    let engine = Arc::new(Engine {
        client,
        cache: (!args.no_cache).then(|| Cache::new(cache_dir)),
        offline: args.offline,
        concurrency,
        validators: crate::domain::schema::Validators::new(),
    });
    // Only the registry to record scores in outlives the analysis: the parsed examples are
    // freed before the run, which streams them from the file instead.
    let registry = registry_for_scores(analysis, &selected);
    let resume = args.resume;
    let commit = adapters::git::head_commit(&root);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(super::threads().clamp(1, 4))
        .enable_all()
        .build()?;
    let mut reports = Vec::new();
    let mut status = ExitStatus::Success;
    runtime.block_on(async {
        let mut stop_signal = Box::pin(stop_signal());
        for prepared in prepared {
            let outcome = run_task(
                &root,
                &engine,
                prepared,
                resume,
                commit.as_deref(),
                &mut stop_signal,
            )
            .await?;
            let interrupted = outcome.interrupted;
            reports.push(outcome);
            if interrupted {
                break;
            }
        }
        anyhow::Ok(())
    })?;
    runtime.shutdown_background();

    for task in &reports {
        status = worse(status, task_status(task));
        if let Some(fatal) = &task.fatal {
            eprintln!("error: {}: {}", task.summary.task, fatal.message);
        }
        if let Some(problem) = &task.cut_short {
            eprintln!(
                "error: {}: the run is incomplete: {problem}",
                task.summary.task
            );
        }
        if task.ran && task.summary.gate(task.baseline.as_ref()) == Gate::AtMerge {
            eprintln!(
                "{}: shard {} scored {:.3} on {} examples; the gate is decided when the shards are merged (`promptops eval merge`)",
                task.summary.task,
                task.summary
                    .shard
                    .map(|s| s.to_string())
                    .unwrap_or_default(),
                task.summary.score,
                task.summary.n
            );
        }
        for line in &task.error_lines {
            eprintln!("error: {line}");
        }
        if task.summary.errors > task.error_lines.len() as u64 {
            eprintln!(
                "error: … and {} more failed examples of `{}` (each is in the run's log)",
                task.summary.errors - task.error_lines.len() as u64,
                task.summary.task
            );
        }
    }
    record_latest(
        &root,
        registry,
        reports
            .iter()
            .filter(|task| task.ran)
            .map(|task| (&task.summary, task.summary_path.as_str())),
    )?;
    print_reports(&root, &args.reports, &reports)?;
    Ok(status)
}

impl TaskReport {
    /// The report of a run that is already on disk (left alone by `--resume`, or merged).
    pub(super) fn finished(
        summary: RunSummary,
        summary_path: String,
        baseline: Option<RunSummary>,
    ) -> TaskReport {
        TaskReport {
            summary,
            summary_path,
            baseline,
            interrupted: false,
            fatal: None,
            cut_short: None,
            error_lines: Vec::new(),
            ran: true,
        }
    }
}

/// One task's run as reported.
pub struct TaskReport {
    pub summary: RunSummary,
    pub summary_path: String,
    pub baseline: Option<RunSummary>,
    pub interrupted: bool,
    pub fatal: Option<execute::Fatal>,
    /// Why the run did not reach every selected example, when it did not.
    pub cut_short: Option<String>,
    pub error_lines: Vec<String>,
    /// False when no example got an answer: nothing was written and there is no score.
    pub ran: bool,
}

fn task_status(task: &TaskReport) -> ExitStatus {
    if task.interrupted {
        ExitStatus::Interrupted
    } else if task.fatal.as_ref().is_some_and(|fatal| fatal.config) || task.cut_short.is_some() {
        ExitStatus::Error
    } else if task.fatal.is_some() {
        ExitStatus::External
    } else {
        gate_status(&task.summary, task.baseline.as_ref())
    }
}

/// The exit status of a run's gate (`RunSummary::gate`), for `eval` and `eval merge` alike.
pub(super) fn gate_status(summary: &RunSummary, baseline: Option<&RunSummary>) -> ExitStatus {
    match summary.gate(baseline) {
        Gate::Pass | Gate::AtMerge => ExitStatus::Success,
        Gate::Fail => ExitStatus::Failure,
        Gate::ProviderFailed => ExitStatus::External,
        Gate::BadInput => ExitStatus::Error,
    }
}

/// The more serious of two statuses: interrupted, bad input, external, gate failure, success.
pub(super) fn worse(a: ExitStatus, b: ExitStatus) -> ExitStatus {
    let rank = |status: ExitStatus| match status {
        ExitStatus::Success => 0,
        ExitStatus::Failure => 1,
        ExitStatus::External => 2,
        ExitStatus::Error => 3,
        ExitStatus::Interrupted => 4,
    };
    if rank(b) > rank(a) { b } else { a }
}

fn prompt_of(task: &Task, variant: Variant) -> Option<&PromptEntry> {
    match variant {
        Variant::Production => task.production.as_ref(),
        Variant::Candidate => task.candidate.as_ref(),
    }
}

fn select_tasks(
    analysis: &Analysis,
    names: &[String],
    variant: Variant,
) -> anyhow::Result<Vec<String>> {
    let what = match variant {
        Variant::Production => "production prompt (prompts/02-production/)",
        Variant::Candidate => "candidate (prompts/00-templates/)",
    };
    if names.is_empty() {
        let all: Vec<String> = analysis
            .tasks
            .iter()
            .filter(|(_, task)| prompt_of(task, variant).is_some())
            .map(|(id, _)| id.clone())
            .collect();
        if all.is_empty() {
            return Err(
                UserError::new(ExitStatus::Error, format!("no task has a {what}"))
                    .hint("name a task, or add a prompt first")
                    .into(),
            );
        }
        return Ok(all);
    }
    let mut selected = Vec::new();
    for name in names {
        let Some(task) = analysis.tasks.get(name) else {
            let known: Vec<&str> = analysis.tasks.keys().map(String::as_str).collect();
            return Err(
                UserError::new(ExitStatus::Error, format!("no task `{name}`"))
                    .hint(format!("the tasks are: {}", known.join(", ")))
                    .into(),
            );
        };
        if prompt_of(task, variant).is_none() {
            return Err(UserError::new(
                ExitStatus::Error,
                format!("task `{name}` has no {what}"),
            )
            .hint(match variant {
                Variant::Production => "evaluate its candidate with --candidate".to_owned(),
                Variant::Candidate => format!(
                    "write prompts/{}/{name}.yaml, or evaluate production without --candidate",
                    layout::TEMPLATES
                ),
            })
            .into());
        }
        if !selected.contains(name) {
            selected.push(name.clone());
        }
    }
    Ok(selected)
}

/// Refuses to spend API calls on files `validate` rejects.
fn check_files(
    context: &Context,
    analysis: &Analysis,
    selected: &[String],
    variant: Variant,
    baseline: bool,
) -> anyhow::Result<()> {
    let mut used: HashSet<&str> = HashSet::from([layout::CONFIG_FILE]);
    for id in selected {
        let task = &analysis.tasks[id];
        used.extend(prompt_of(task, variant).map(|entry| entry.path.as_str()));
        if baseline {
            used.extend(task.production.as_ref().map(|entry| entry.path.as_str()));
        }
        used.extend(task.metadata.as_ref().map(|entry| entry.path.as_str()));
        used.extend(task.examples.as_ref().map(|entry| entry.path.as_str()));
    }
    let blocking: Vec<Diagnostic> = analysis
        .findings
        .iter()
        .filter(|finding| finding.severity == Severity::Error)
        .filter(|finding| used.contains(finding.file.as_str()))
        .cloned()
        .collect();
    if blocking.is_empty() {
        return Ok(());
    }
    eprint!(
        "{}",
        super::render_findings(analysis, &blocking, context.color)
    );
    Err(UserError::new(
        ExitStatus::Error,
        format!(
            "{} in the files this eval needs; nothing was sent",
            crate::report::human::count_phrase(blocking.len(), 0)
        ),
    )
    .hint("fix them (`promptops validate` lists every problem), then run the eval again")
    .into())
}

fn side(entry: &PromptEntry, config: &ProjectConfig) -> anyhow::Result<Side> {
    let parsed = entry.parsed.as_ref().ok_or_else(|| {
        UserError::new(ExitStatus::Error, format!("{} cannot be read", entry.path))
            .hint("run `promptops validate` to see why")
    })?;
    let renderer = Renderer::new(&parsed.prompt)
        .map_err(|error| UserError::new(ExitStatus::Error, format!("{}: {error}", entry.path)))?;
    let model = &parsed.prompt.model;
    let price = config
        .providers
        .get(&model.provider)
        .and_then(|provider| provider.prices.get(&model.name))
        .copied();
    Ok(Side {
        prompt: parsed.prompt.clone(),
        prompt_ref: PromptRef {
            path: entry.path.clone(),
            version: parsed.prompt.version.clone(),
            sha256: entry.sha256.clone(),
        },
        renderer,
        output_schema: parsed.output_validator.clone(),
        price,
    })
}

/// The task's scorers (`validate` has checked their options, so an error here is rare).
fn compile_scorers(
    id: &str,
    metadata: &crate::domain::model::TaskMetadata,
) -> anyhow::Result<Vec<Scorer>> {
    metadata
        .scorers
        .iter()
        .map(|spec| {
            scorers::compile(spec).map_err(|error| {
                UserError::new(
                    ExitStatus::Error,
                    format!("a scorer of `{id}`: {}", error.message),
                )
                .into()
            })
        })
        .collect()
}

fn prepare(
    root: &Path,
    analysis: &Analysis,
    id: &str,
    variant: Variant,
    baseline: bool,
    shard: Option<Shard>,
) -> anyhow::Result<Prepared> {
    let task = &analysis.tasks[id];
    let entry = prompt_of(task, variant).expect("selected tasks have the prompt");
    let main = side(entry, &analysis.config)?;
    let baseline = if baseline {
        let production = task.production.as_ref().ok_or_else(|| {
            UserError::new(
                ExitStatus::Error,
                format!("task `{id}` has no production prompt to compare with"),
            )
            .hint("drop --baseline; there is nothing to compare with yet")
        })?;
        Some(side(production, &analysis.config)?)
    } else {
        None
    };
    let metadata = task
        .metadata
        .as_ref()
        .and_then(|entry| entry.parsed.as_ref().map(|p| (entry, p)));
    let Some((_, metadata)) = metadata else {
        return Err(UserError::new(
            ExitStatus::Error,
            format!("task `{id}` has no task metadata"),
        )
        .hint(format!(
            "create prompts/{}/{id}.yaml with its threshold and scorers",
            layout::METADATA
        ))
        .into());
    };
    let scorers = compile_scorers(id, &metadata.metadata)?;
    let needs_price = scorers
        .iter()
        .any(|scorer| matches!(scorer.kind, scorers::Kind::Cost { .. }));
    if needs_price && main.price.is_none() {
        let model = &main.prompt.model;
        return Err(UserError::new(
            ExitStatus::Error,
            format!(
                "task `{id}` has a `cost` scorer, but promptops.yaml gives no price for model `{}` of provider `{}`",
                model.name, model.provider
            ),
        )
        .hint(format!(
            "add `prices: {{{}: {{input_per_million: ..., output_per_million: ...}}}}` under `providers.{}`",
            model.name, model.provider
        ))
        .into());
    }
    let Some(examples) = &task.examples else {
        return Err(
            UserError::new(ExitStatus::Error, format!("task `{id}` has no examples"))
                .hint(format!(
                    "create prompts/{}/{id}.jsonl with one JSON example per line",
                    layout::EXAMPLES
                ))
                .into(),
        );
    };
    // Counted from the validated file, for progress; the run streams the file itself. A
    // shard's share is counted by a quick pass over the ids.
    let total = match (examples.parsed.as_ref(), shard) {
        (None, _) => 0,
        (Some(parsed), None) => parsed.count,
        (Some(_), Some(shard)) => count_in_shard(&root.join(&examples.path), shard),
    };
    Ok(Prepared {
        task: id.to_owned(),
        variant,
        main,
        baseline,
        scorers,
        threshold: metadata.metadata.threshold,
        examples_path: root.join(&examples.path),
        examples: ExamplesRef {
            path: examples.path.clone(),
            sha256: examples.sha256.clone(),
        },
        total,
        shard,
    })
}

/// The examples of a file that fall in `shard`, read as a stream (for progress only).
fn count_in_shard(path: &Path, shard: Shard) -> u64 {
    #[derive(serde::Deserialize)]
    struct Id {
        id: String,
    }
    let Ok(file) = adapters::fs::open_read_regular(path) else {
        return 0;
    };
    let mut lines = crate::domain::json::JsonLines::new(std::io::BufReader::new(file));
    let mut count = 0;
    while let Ok(Some((_, line))) = lines.next_line() {
        if let crate::domain::json::JsonLine::Text(text) = line
            && serde_json::from_str::<Id>(text).is_ok_and(|example| shard.contains(&example.id))
        {
            count += 1;
        }
    }
    count
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(0))
}

async fn run_task(
    root: &Path,
    engine: &Arc<Engine>,
    prepared: Prepared,
    resume: bool,
    commit: Option<&str>,
    stop_signal: &mut (impl std::future::Future<Output = ()> + Unpin),
) -> anyhow::Result<TaskReport> {
    let (variant, shard) = (prepared.variant, prepared.shard);
    let dir = logs::task_dir(root, &prepared.task);
    adapters::fs::create_dir_safe(&dir)?;
    let started = Instant::now();
    let started_at = time::rfc3339(now());
    let previous = if resume {
        // The newest run of this prompt on these examples: an interrupted one continues, a
        // complete one is left alone (a crash may have stopped the eval after it finished).
        let found = logs::summaries(&dir)
            .into_iter()
            .rev()
            .find(|(_, summary)| {
                summary.variant == variant
                    && summary.shard == shard
                    && summary.prompt.sha256 == prepared.main.prompt_ref.sha256
                    && summary.examples == prepared.examples
                    // A paired run resumes as a pair; a baseline half never on its own.
                    && summary.paired_with.is_some() == prepared.baseline.is_some()
                    && !summary.is_baseline_half()
            });
        match found {
            Some((path, summary)) if summary.complete => {
                eprintln!(
                    "{}: run {} of this prompt and these examples is already complete; left alone",
                    prepared.task, summary.run
                );
                let baseline = summary.paired_with.as_ref().and_then(|name| {
                    logs::read_summary(&dir.join(format!("{name}{}", logs::SUMMARY_SUFFIX))).ok()
                });
                return Ok(TaskReport {
                    summary_path: adapters::fs::relative_path(root, &path),
                    summary,
                    baseline,
                    interrupted: false,
                    fatal: None,
                    cut_short: None,
                    error_lines: Vec::new(),
                    ran: true,
                });
            }
            Some((_, summary)) => Some(summary),
            None => {
                eprintln!(
                    "{}: no interrupted run of this prompt and these examples; starting a new run",
                    prepared.task
                );
                None
            }
        }
    } else {
        None
    };
    let run_name = previous.as_ref().map_or_else(
        || logs::new_run_name(&dir, &run_label(&time::compact(now()), variant, shard)),
        |summary| summary.run.clone(),
    );
    let log_path = dir.join(format!("{run_name}.jsonl"));
    let baseline_name = format!("{run_name}.baseline");
    let baseline_log = dir.join(format!("{baseline_name}.jsonl"));

    let mut finish = Finish {
        main: Totals::default(),
        baseline: prepared.baseline.as_ref().map(|_| Totals::default()),
        pairs: Vec::new(),
        interrupted: false,
        fatal: None,
        cut_short: None,
        answered: 0,
        error_lines: Vec::new(),
    };
    let mut skip = HashSet::new();
    if previous.is_some() && log_path.exists() {
        skip = finished_before(
            &mut finish,
            &log_path,
            prepared.baseline.as_ref().map(|_| baseline_log.as_path()),
        )?;
    }

    let summary_template =
        |name: &str, side: &Side, variant: Variant, paired_with: Option<&str>| RunSummary {
            schema_version: record::SCHEMA_VERSION,
            run: name.to_owned(),
            task: prepared.task.clone(),
            variant,
            prompt: side.prompt_ref.clone(),
            examples: prepared.examples.clone(),
            provider: side.prompt.model.provider.clone(),
            model: side.prompt.model.name.clone(),
            shard,
            complete: false,
            n: 0,
            score: 0.0,
            threshold: prepared.threshold,
            passed: false,
            passed_examples: 0,
            errors: 0,
            provider_errors: 0,
            cached: 0,
            tokens: crate::domain::eval::request::Usage::default(),
            cost_usd: None,
            duration_ms: previous.as_ref().map_or(0, |summary| summary.duration_ms),
            started_at: previous
                .as_ref()
                .map_or_else(|| started_at.clone(), |summary| summary.started_at.clone()),
            finished_at: String::new(),
            git_commit: commit.map(str::to_owned),
            log: format!("{name}.jsonl"),
            paired_with: paired_with.map(str::to_owned),
            comparison: None,
        };
    let paired = prepared.baseline.as_ref().map(|_| baseline_name.as_str());
    let mut summary = summary_template(&run_name, &prepared.main, variant, paired);
    let mut baseline_summary = prepared
        .baseline
        .as_ref()
        .map(|side| summary_template(&baseline_name, side, Variant::Production, Some(&run_name)));
    // Written with the first record, so a run killed outright can still be found and
    // resumed, and a run that produced nothing leaves nothing.
    summary.set_totals(finish.main);
    if let Some(baseline) = &mut baseline_summary {
        baseline.set_totals(finish.baseline.unwrap_or_default());
    }
    let sinks = Sinks {
        main: logs::LogWriter::open(&log_path),
        baseline: prepared
            .baseline
            .as_ref()
            .map(|_| logs::LogWriter::open(&baseline_log)),
        dir: dir.clone(),
        pending_summaries: if previous.is_some() {
            Vec::new()
        } else {
            std::iter::once(summary.clone())
                .chain(baseline_summary.clone())
                .collect()
        },
    };
    let label = format!(
        "{} {} {}",
        prepared.task,
        variant.as_str(),
        prepared.main.prompt_ref.version
    );
    let already = finish.main.n;
    let progress = progress::Progress::new(label, prepared.total, already);
    let prepared = Arc::new(prepared);
    let finish = execute::run(
        Arc::clone(engine),
        Arc::clone(&prepared),
        sinks,
        finish,
        skip,
        progress,
        stop_signal,
    )
    .await?;

    let elapsed = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    // A start that failed before any example got an answer (no key, offline miss, server
    // down) is not a run: nothing of it is kept, and no score row is shown.
    if previous.is_none() && finish.answered == 0 && !finish.interrupted {
        for path in [
            log_path.clone(),
            baseline_log.clone(),
            dir.join(format!("{run_name}{}", logs::SUMMARY_SUFFIX)),
            dir.join(format!("{baseline_name}{}", logs::SUMMARY_SUFFIX)),
        ] {
            if path.is_file() && !adapters::fs::is_symlink(&path) {
                fs_err::remove_file(&path)?;
            }
        }
        summary.set_totals(finish.main);
        if let (Some(baseline), Some(totals)) = (&mut baseline_summary, finish.baseline) {
            baseline.set_totals(totals);
        }
        return Ok(TaskReport {
            summary_path: String::new(),
            summary,
            baseline: baseline_summary,
            interrupted: false,
            fatal: finish.fatal,
            cut_short: finish.cut_short,
            error_lines: finish.error_lines,
            ran: false,
        });
    }
    let complete = !finish.interrupted && finish.fatal.is_none() && finish.cut_short.is_none();
    let finished_at = time::rfc3339(now());
    for (summary, totals) in [
        (Some(&mut summary), Some(finish.main)),
        (baseline_summary.as_mut(), finish.baseline),
    ] {
        if let (Some(summary), Some(totals)) = (summary, totals) {
            summary.complete = complete;
            summary.duration_ms += elapsed;
            summary.finished_at.clone_from(&finished_at);
            summary.set_totals(totals);
        }
    }
    if let (Some(baseline), true) = (&baseline_summary, complete) {
        summary.comparison = Some(record::compare(
            baseline.prompt.clone(),
            &finish.pairs,
            BOOTSTRAP_RESAMPLES,
            BOOTSTRAP_SEED,
        ));
    }
    if let Some(baseline) = &baseline_summary {
        logs::write_summary(&dir, baseline)?;
    }
    let path = logs::write_summary(&dir, &summary)?;
    if finish.interrupted {
        eprintln!(
            "{}: interrupted after {} examples; continue with `promptops eval {} --resume`",
            summary.task, summary.n, summary.task
        );
    }
    Ok(TaskReport {
        summary_path: adapters::fs::relative_path(root, &path),
        summary,
        baseline: baseline_summary,
        interrupted: finish.interrupted,
        fatal: finish.fatal,
        cut_short: finish.cut_short,
        error_lines: finish.error_lines,
        ran: true,
    })
}

fn rewrite_log<'a>(
    path: &Path,
    records: impl Iterator<Item = &'a record::ExampleRecord>,
) -> anyhow::Result<()> {
    let mut bytes = Vec::new();
    for record in records {
        serde_json::to_writer(&mut bytes, record)?;
        bytes.push(b'\n');
    }
    adapters::fs::write_atomic(path, &bytes)
}

/// A run's name: `<UTC time>-<variant>[-shard-K-of-N]`.
pub(super) fn run_label(stamp: &str, variant: Variant, shard: Option<Shard>) -> String {
    match shard {
        None => format!("{stamp}-{}", variant.as_str()),
        Some(shard) => format!(
            "{stamp}-{}-shard-{}-of-{}",
            variant.as_str(),
            shard.index,
            shard.count
        ),
    }
}

/// Takes in what an interrupted run finished and returns the ids not to run again. With a
/// baseline only examples both halves finished count, and both logs are cut back to those.
fn finished_before(
    finish: &mut Finish,
    log: &Path,
    baseline_log: Option<&Path>,
) -> anyhow::Result<HashSet<String>> {
    let Some(baseline_log) = baseline_log.filter(|path| path.exists()) else {
        let done = logs::read_finished(log, false)?;
        finish.main = done.totals;
        return Ok(done.ids);
    };
    let main = logs::read_finished(log, true)?.records;
    let base = logs::read_finished(baseline_log, true)?.records;
    let by_id: BTreeMap<&str, &record::ExampleRecord> = base
        .iter()
        .map(|record| (record.id.as_str(), record))
        .collect();
    let mut main_totals = Totals::default();
    let mut base_totals = Totals::default();
    let mut done = HashSet::new();
    for record in &main {
        if let Some(other) = by_id.get(record.id.as_str()) {
            finish
                .pairs
                .push((record.score, record.pass, other.score, other.pass));
            main_totals.add(record);
            base_totals.add(other);
            done.insert(record.id.clone());
        }
    }
    finish.main = main_totals;
    finish.baseline = Some(base_totals);
    rewrite_log(log, main.iter().filter(|r| done.contains(&r.id)))?;
    rewrite_log(baseline_log, base.iter().filter(|r| done.contains(&r.id)))?;
    Ok(done)
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

/// The registry that new scores are recorded in: the committed one, with only the evaluated
/// tasks' entries brought up to date from the files. Another task's entry is never touched,
/// even when its files have errors (the registry it calls for would drop it). `None` when the
/// committed registry cannot be read (its history would be lost).
pub(super) fn registry_for_scores(analysis: Analysis, evaluated: &[String]) -> Option<Registry> {
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

/// Points `latest_eval` of each task at its new summary: production runs whose every example
/// was scored, of the production prompt the registry lists.
pub(super) fn record_latest<'a>(
    root: &Path,
    registry: Option<Registry>,
    runs: impl IntoIterator<Item = (&'a RunSummary, &'a str)>,
) -> anyhow::Result<()> {
    let scored: Vec<(&RunSummary, &str)> = runs
        .into_iter()
        .filter(|(summary, _)| {
            summary.variant == Variant::Production
                && summary.shard.is_none()
                && !summary.is_baseline_half()
                && summary.fully_scored()
        })
        .collect();
    if scored.is_empty() {
        return Ok(());
    }
    let Some(mut expected) = registry else {
        eprintln!(
            "warning: {} cannot be read, so the new scores were not recorded in it",
            layout::REGISTRY_FILE
        );
        return Ok(());
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
    adapters::fs::write_atomic(&root.join(layout::REGISTRY_FILE), text.as_bytes())
}

pub(super) fn print_reports(
    root: &Path,
    options: &crate::cli::EvalReports,
    reports: &[TaskReport],
) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    // A start that got no answer has no score to show; its errors were printed.
    let reports: Vec<&TaskReport> = reports.iter().filter(|task| task.ran).collect();
    let reports = reports.as_slice();
    match options.format {
        crate::cli::TableFormat::Json => {
            serde_json::to_writer_pretty(&mut stdout, &report::json(reports))?;
            writeln!(stdout)?;
        }
        crate::cli::TableFormat::Table if reports.is_empty() => {}
        crate::cli::TableFormat::Table => {
            let summaries: Vec<&RunSummary> = reports.iter().map(|task| &task.summary).collect();
            write!(stdout, "{}", report::table(&summaries))?;
            for task in reports {
                if let Some(comparison) = &task.summary.comparison {
                    write!(
                        stdout,
                        "{}",
                        report::comparison_text(&task.summary.task, comparison)
                    )?;
                }
            }
        }
    }
    if let Some(path) = &options.junit {
        report::write_junit(root, path, reports, options.junit_examples_fail)?;
    }
    if let Some(path) = &options.summary_md {
        let text = report::markdown(reports);
        adapters::fs::write_atomic(path, text.as_bytes())?;
    }
    Ok(())
}
