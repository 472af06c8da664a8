//! Running one task: find where a resumed run stopped, name the run, stream the examples
//! through the engine, and write the summaries (through the eval store).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use crate::adapters::{self, eval_store};
use crate::domain::eval::evidence::LogFacts;
use crate::domain::eval::outcome::TaskOutcome;
use crate::domain::eval::record::{self, RunSummary, Totals, Variant};
use crate::domain::eval::shard::Shard;
use crate::domain::time;
use crate::settings::Clock;

use super::execute::{self, Engine, Finish, Prepared, Side, Sinks};
use super::progress::Progress;

/// What every task's run shares.
pub(super) struct RunContext<'a> {
    pub root: &'a Path,
    /// Every eval file is written through it.
    pub repository: Arc<adapters::fs::Repository>,
    pub engine: &'a Arc<Engine>,
    pub resume: bool,
    pub commit: Option<&'a str>,
    pub clock: Clock,
    pub progress_bars: bool,
    /// Messages for people about how the runs went.
    pub notes: Vec<String>,
}

/// Where a task's run starts: a new run, or an interrupted one to continue. One per task:
/// its size does not matter.
#[allow(clippy::large_enum_variant)]
enum Start {
    New,
    Continue(RunSummary),
    /// The newest matching run is already complete: it is reported, not run again.
    Done(TaskOutcome),
}

// Long on purpose: opens a run (new or resumed), streams it, and hands the result to `conclude`;
// the summaries and the log files it sets up are shared by all three.
pub(super) async fn run_task(
    context: &mut RunContext<'_>,
    prepared: Prepared,
    stop_signal: &mut (impl std::future::Future<Output = ()> + Unpin),
) -> anyhow::Result<TaskOutcome> {
    let (variant, shard) = (prepared.variant, prepared.shard);
    let dir = eval_store::task_dir(context.root, &prepared.task);
    context.repository.create_dir(&dir)?;
    let started = Instant::now();
    let previous = match start(context, &dir, &prepared)? {
        Start::Done(outcome) => return Ok(outcome),
        Start::Continue(summary) => Some(summary),
        Start::New => None,
    };
    let run_name = if let Some(summary) = &previous {
        summary.run.clone()
    } else {
        let stamp = time::compact(context.clock.now());
        eval_store::reserve_run_name(
            &context.repository,
            &dir,
            &run_label(&stamp, variant, shard),
        )?
    };
    let files = RunFiles::new(&dir, &run_name);

    let mut finish = Finish::new(prepared.baseline.is_some());
    let mut skip = HashSet::new();
    if previous.is_some() && files.log.exists() {
        skip = finished_before(
            &context.repository,
            &mut finish,
            &files.log,
            prepared
                .baseline
                .as_ref()
                .map(|_| files.baseline_log.as_path()),
        )?;
    }
    let started_at = time::rfc3339(context.clock.now());
    let template = SummaryTemplate {
        prepared: &prepared,
        previous: previous.as_ref(),
        started_at: &started_at,
        commit: context.commit,
    };
    let paired = prepared
        .baseline
        .as_ref()
        .map(|_| files.baseline_name.as_str());
    let mut summary = template.summary(&run_name, &prepared.main, variant, paired);
    let mut baseline_summary = prepared.baseline.as_ref().map(|side| {
        template.summary(
            &files.baseline_name,
            side,
            Variant::Production,
            Some(&run_name),
        )
    });
    summary.set_totals(finish.main);
    if let Some(baseline) = &mut baseline_summary {
        baseline.set_totals(finish.baseline.unwrap_or_default());
    }
    // Written with the first record, so a run killed outright can still be found and
    // resumed, and a run that produced nothing leaves nothing.
    let pending = if previous.is_some() {
        Vec::new()
    } else {
        std::iter::once(summary.clone())
            .chain(baseline_summary.clone())
            .collect()
    };
    let sinks = files.sinks(
        &context.repository,
        dir.clone(),
        prepared.baseline.is_some(),
        pending,
    );
    let label = format!(
        "{} {} {}",
        prepared.task,
        variant.as_str(),
        prepared.main.prompt_ref.version
    );
    let progress = Progress::new(label, prepared.total, finish.main.n, context.progress_bars);
    let prepared = Arc::new(prepared);
    let finish = execute::run(
        Arc::clone(context.engine),
        Arc::clone(&prepared),
        sinks,
        finish,
        skip,
        progress,
        stop_signal,
    )
    .await?;
    let elapsed = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    conclude(
        context,
        &dir,
        &files,
        previous.is_none(),
        (summary, baseline_summary),
        finish,
        elapsed,
    )
}

/// Writes the summaries of a run that ended (or removes what a start with no answer left)
/// and says how it went.
// Long on purpose: every way a run can end (interrupted, fatal, cut short, nothing answered,
// complete) settles its summaries here, in one place.
fn conclude(
    context: &mut RunContext<'_>,
    dir: &Path,
    files: &RunFiles,
    fresh: bool,
    (mut summary, mut baseline_summary): (RunSummary, Option<RunSummary>),
    finish: Finish,
    elapsed: u64,
) -> anyhow::Result<TaskOutcome> {
    // A shard that no example falls in (a small task over many shards) is a complete, empty
    // run: recorded, so the merge finds every shard, and no failure of the CI matrix job.
    let empty_shard = summary.shard.is_some()
        && finish.main.n == 0
        && finish.fatal.is_none()
        && finish.cut_short.is_none()
        && !finish.interrupted;
    if empty_shard {
        context.repository.write_atomic(&files.log, b"")?;
        if baseline_summary.is_some() {
            context.repository.write_atomic(&files.baseline_log, b"")?;
        }
        context.notes.push(format!(
            "{}: no example falls in shard {}; an empty run is recorded for the merge",
            summary.task,
            summary
                .shard
                .map(|shard| format!("{}/{}", shard.index, shard.count))
                .unwrap_or_default()
        ));
    }
    // A start that failed before any example got an answer (no key, offline miss, server
    // down) is not a run: nothing of it is kept, and no score row is shown.
    if fresh && finish.answered == 0 && !finish.interrupted && !empty_shard {
        files.remove()?;
        summary.set_totals(finish.main);
        if let (Some(baseline), Some(totals)) = (&mut baseline_summary, finish.baseline) {
            baseline.set_totals(totals);
        }
        return Ok(TaskOutcome {
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
    let finished_at = time::rfc3339(context.clock.now());
    close_summaries(
        &mut summary,
        baseline_summary.as_mut(),
        &finish,
        elapsed,
        &finished_at,
    );
    // A fresh run answered wholly from the cache that scores every example exactly as an
    // earlier run of the same prompts on the same examples is that run again: nothing new is
    // written (no new log pair), and the earlier run is reported.
    if fresh
        && let Some(earlier) = same_as_earlier(dir, files, &summary, baseline_summary.as_ref())?
    {
        files.remove()?;
        context.notes.push(format!(
            "{}: every answer came from the cache and scored as in run {}; no new run was written",
            summary.task, earlier.0.run
        ));
        let relative = adapters::fs::relative_path(
            context.root,
            &dir.join(format!("{}{}", earlier.0.run, eval_store::SUMMARY_SUFFIX)),
        );
        // Shown as this run went: every answer from the cache.
        let (mut shown, mut shown_baseline) = earlier;
        shown.cached = summary.cached;
        if let (Some(half), Some(now)) = (&mut shown_baseline, &baseline_summary) {
            half.cached = now.cached;
        }
        return Ok(TaskOutcome::finished(shown, relative, shown_baseline));
    }
    // The summary records its log as it stands now, so a log changed since is not evidence.
    summary.log_sha256 = eval_store::log_sha256(&files.log)?;
    if let Some(baseline) = &mut baseline_summary {
        baseline.log_sha256 = eval_store::log_sha256(&files.baseline_log)?;
        eval_store::write_summary(&context.repository, dir, baseline)?;
    }
    let path = eval_store::write_summary(&context.repository, dir, &summary)?;
    if finish.interrupted {
        context.notes.push(format!(
            "{}: interrupted after {} examples; continue with `promptops eval {} --resume`",
            summary.task, summary.n, summary.task
        ));
    }
    Ok(TaskOutcome {
        summary_path: adapters::fs::relative_path(context.root, &path),
        summary,
        baseline: baseline_summary,
        interrupted: finish.interrupted,
        fatal: finish.fatal,
        cut_short: finish.cut_short,
        error_lines: finish.error_lines,
        ran: true,
    })
}

/// The earlier complete run (and its baseline half) this one repeats, when this one was
/// answered wholly from the cache and every example scored the same: same prompts, examples,
/// shard and pairing, and an earlier log that agrees with its summary.
fn same_as_earlier(
    dir: &Path,
    files: &RunFiles,
    summary: &RunSummary,
    baseline: Option<&RunSummary>,
) -> anyhow::Result<Option<(RunSummary, Option<RunSummary>)>> {
    let wholly_cached = |half: &RunSummary| {
        half.complete && half.n > 0 && half.errors == 0 && half.cached == half.n
    };
    if !wholly_cached(summary) || baseline.is_some_and(|half| !wholly_cached(half)) {
        return Ok(None);
    }
    // Oldest first by recorded time: reversed, the first that matches is the newest.
    let earlier = eval_store::summaries(dir)?
        .into_iter()
        .rev()
        .map(|(_, earlier)| earlier)
        .find(|earlier| {
            earlier.run != summary.run
                && !earlier.is_baseline_half()
                && earlier.complete
                && earlier.variant == summary.variant
                && earlier.prompt == summary.prompt
                && earlier.examples == summary.examples
                && (earlier.threshold - summary.threshold).abs() < 1e-12
                && earlier.shard == summary.shard
                && earlier.paired_with.is_some() == baseline.is_some()
        });
    let Some(earlier) = earlier else {
        return Ok(None);
    };
    // Each log is read once: the earlier run's (checked against its summary) and this one's.
    let stored = eval_store::stored_run(dir, earlier)?;
    let same_scores = |earlier: Option<&LogFacts>, now: &Path| -> anyhow::Result<bool> {
        let Some(earlier) = earlier else {
            return Ok(false);
        };
        Ok(eval_store::log_facts(now)?.is_some_and(|now| now.scores == earlier.scores))
    };
    let same = same_scores(stored.log.as_ref(), &files.log)?
        && match (&stored.baseline, baseline) {
            (None, None) => true,
            (Some((_, Some((half, earlier)))), Some(baseline)) => {
                baseline.prompt == half.prompt
                    && same_scores(earlier.as_ref(), &files.baseline_log)?
            }
            _ => false,
        };
    if !same {
        return Ok(None);
    }
    let checked = crate::domain::eval::evidence::check(stored, None);
    Ok(checked
        .problems
        .is_empty()
        .then_some((checked.summary, checked.baseline)))
}

/// With `--resume`, the newest run of this prompt on these examples: an interrupted one
/// continues, a complete one is left alone (a crash may have stopped the eval after it
/// finished).
fn start(context: &mut RunContext<'_>, dir: &Path, prepared: &Prepared) -> anyhow::Result<Start> {
    if !context.resume {
        return Ok(Start::New);
    }
    let found = eval_store::summaries(dir)?
        .into_iter()
        .rev()
        .find(|(_, summary)| {
            summary.variant == prepared.variant
                && summary.shard == prepared.shard
                && summary.prompt.sha256 == prepared.main.prompt_ref.sha256
                && summary.examples == prepared.examples
                // A paired run resumes as a pair; a baseline half never on its own.
                && summary.paired_with.is_some() == prepared.baseline.is_some()
                && !summary.is_baseline_half()
        });
    Ok(match found {
        Some((path, summary)) if summary.complete => {
            context.notes.push(format!(
                "{}: run {} of this prompt and these examples is already complete; left alone",
                prepared.task, summary.run
            ));
            let baseline = match &summary.paired_with {
                None => None,
                Some(name) => Some(eval_store::read_summary(
                    &dir.join(format!("{name}{}", eval_store::SUMMARY_SUFFIX)),
                )?),
            };
            let relative = adapters::fs::relative_path(context.root, &path);
            Start::Done(TaskOutcome::finished(summary, relative, baseline))
        }
        Some((_, summary)) => Start::Continue(summary),
        None => {
            context.notes.push(format!(
                "{}: no interrupted run of this prompt and these examples; starting a new run",
                prepared.task
            ));
            Start::New
        }
    })
}

/// The files of one run (and of its baseline half).
struct RunFiles {
    log: PathBuf,
    baseline_name: String,
    baseline_log: PathBuf,
    summaries: [PathBuf; 2],
}

impl RunFiles {
    fn new(dir: &Path, run_name: &str) -> RunFiles {
        let baseline_name = format!("{run_name}.baseline");
        RunFiles {
            log: dir.join(format!("{run_name}.jsonl")),
            baseline_log: dir.join(format!("{baseline_name}.jsonl")),
            summaries: [
                dir.join(format!("{run_name}{}", eval_store::SUMMARY_SUFFIX)),
                dir.join(format!("{baseline_name}{}", eval_store::SUMMARY_SUFFIX)),
            ],
            baseline_name,
        }
    }

    /// Where the run's records and first summaries go.
    fn sinks(
        &self,
        repository: &Arc<adapters::fs::Repository>,
        dir: PathBuf,
        paired: bool,
        pending_summaries: Vec<RunSummary>,
    ) -> Sinks {
        Sinks {
            main: eval_store::LogWriter::open(Arc::clone(repository), &self.log),
            baseline: paired
                .then(|| eval_store::LogWriter::open(Arc::clone(repository), &self.baseline_log)),
            repository: Arc::clone(repository),
            dir,
            pending_summaries,
        }
    }

    /// Removes what a run that got no answer may have left.
    fn remove(&self) -> anyhow::Result<()> {
        let [first, second] = &self.summaries;
        for path in [&self.log, &self.baseline_log, first, second] {
            if path.is_file() && !adapters::fs::is_symlink(path) {
                fs_err::remove_file(path)?;
            }
        }
        Ok(())
    }
}

/// What the summaries of one run share.
struct SummaryTemplate<'a> {
    prepared: &'a Prepared,
    previous: Option<&'a RunSummary>,
    started_at: &'a str,
    commit: Option<&'a str>,
}

impl SummaryTemplate<'_> {
    fn summary(
        &self,
        name: &str,
        side: &Side,
        variant: Variant,
        paired_with: Option<&str>,
    ) -> RunSummary {
        let prepared = self.prepared;
        RunSummary {
            schema_version: record::SCHEMA_VERSION,
            run: name.to_owned(),
            task: prepared.task.clone(),
            variant,
            prompt: side.prompt_ref.clone(),
            examples: prepared.examples.clone(),
            provider: side.prompt.model.provider.clone(),
            model: side.prompt.model.name.clone(),
            shard: prepared.shard,
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
            duration_ms: self.previous.map_or(0, |summary| summary.duration_ms),
            started_at: self.previous.map_or_else(
                || self.started_at.to_owned(),
                |summary| summary.started_at.clone(),
            ),
            finished_at: String::new(),
            git_commit: self.commit.map(str::to_owned),
            log: format!("{name}.jsonl"),
            log_sha256: None,
            paired_with: paired_with.map(str::to_owned),
            comparison: None,
        }
    }
}

/// Fills in how the run ended; a complete paired run gets its comparison.
fn close_summaries(
    summary: &mut RunSummary,
    baseline_summary: Option<&mut RunSummary>,
    finish: &Finish,
    elapsed: u64,
    finished_at: &str,
) {
    let complete = !finish.interrupted && finish.fatal.is_none() && finish.cut_short.is_none();
    let close = |summary: &mut RunSummary, totals: Totals| {
        summary.complete = complete;
        summary.duration_ms += elapsed;
        finished_at.clone_into(&mut summary.finished_at);
        summary.set_totals(totals);
    };
    close(summary, finish.main);
    if let (Some(baseline), Some(totals)) = (baseline_summary, finish.baseline) {
        close(baseline, totals);
        if complete && !finish.pairs.is_empty() {
            summary.comparison = Some(record::compare(
                baseline.prompt.clone(),
                &finish.pairs,
                record::BOOTSTRAP_RESAMPLES,
                record::BOOTSTRAP_SEED,
            ));
        }
    }
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
    repository: &adapters::fs::Repository,
    finish: &mut Finish,
    log: &Path,
    baseline_log: Option<&Path>,
) -> anyhow::Result<HashSet<String>> {
    let Some(baseline_log) = baseline_log.filter(|path| path.exists()) else {
        let done = eval_store::read_finished(log, false)?;
        finish.main = done.totals;
        return Ok(done.ids);
    };
    let main = eval_store::read_finished(log, true)?.records;
    let base = eval_store::read_finished(baseline_log, true)?.records;
    let by_id: BTreeMap<&str, &record::ExampleRecord> = base
        .iter()
        .map(|record| (record.id.as_str(), record))
        .collect();
    let mut main_totals = Totals::default();
    let mut base_totals = Totals::default();
    let mut done = HashSet::new();
    for record in &main {
        if let Some(other) = by_id.get(record.id.as_str()) {
            finish.pairs.push(crate::domain::eval::record::Pair::new(
                (record.score, record.pass),
                (other.score, other.pass),
            ));
            main_totals.add(record);
            base_totals.add(other);
            done.insert(record.id.clone());
        }
    }
    finish.main = main_totals;
    finish.baseline = Some(base_totals);
    eval_store::rewrite_log(
        repository,
        log,
        main.iter().filter(|r| done.contains(&r.id)),
    )?;
    eval_store::rewrite_log(
        repository,
        baseline_log,
        base.iter().filter(|r| done.contains(&r.id)),
    )?;
    Ok(done)
}
