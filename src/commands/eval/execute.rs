//! Running one task's examples: streamed from the JSONL file, up to `concurrency` requests in
//! flight, each result written to the log as it completes. Memory holds the examples in
//! flight, not the data set.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc, watch};

use super::progress::Progress;
use crate::adapters::cache::Cache;
use crate::adapters::eval_store::LogWriter;
use crate::adapters::llm::{CallErrorKind, Client};
use crate::domain::eval::judge;
use crate::domain::eval::outcome::Fatal;
use crate::domain::eval::record::{
    ErrorKind, ExampleRecord, ExamplesRef, PromptRef, RecordError, Totals, Variant,
};
use crate::domain::eval::render::Renderer;
use crate::domain::eval::request::{ChatRequest, ChatResponse};
use crate::domain::eval::scorers::{self, Kind, Observation, Scorer};
use crate::domain::eval::shard::Shard;
use crate::domain::file_checks::read_example;
use crate::domain::json::{JsonLine, JsonLines};
use crate::domain::model::{Example, Price, PromptFile, Role};
use crate::domain::schema::Validators;

/// What the whole eval shares: the providers, the cache and the prices.
pub struct Engine {
    pub client: Client,
    /// `None` with `--no-cache`.
    pub cache: Option<Cache>,
    pub offline: bool,
    pub concurrency: usize,
    /// The example schema, for reading each line exactly as `validate` does.
    pub validators: Validators,
    pub watchdog: Arc<Watchdog>,
}

impl Engine {
    /// The key a request's answer is cached under: the request, and for an `exec` provider
    /// also its command and the content of the script it runs, so a changed script is asked
    /// again instead of answering from the old answers.
    pub fn cache_key(&self, request: &ChatRequest) -> String {
        let key = request.key();
        match self
            .client
            .provider(&request.provider)
            .and_then(|provider| provider.fingerprint.as_deref())
        {
            Some(fingerprint) => {
                crate::domain::source::sha256_hex(format!("{key}\n{fingerprint}").as_bytes())
            }
            None => key,
        }
    }
}

/// One prompt being evaluated.
pub struct Side {
    pub prompt: PromptFile,
    pub prompt_ref: PromptRef,
    pub renderer: Renderer,
    pub output_schema: Option<jsonschema::Validator>,
    /// The model's price from `promptops.yaml`, for the cost of each answer.
    pub price: Option<Price>,
}

/// Everything about one task's run that does not change while it runs.
pub struct Prepared {
    pub task: String,
    pub variant: Variant,
    pub main: Side,
    /// `--baseline production`: the prompt compared on the same examples.
    pub baseline: Option<Side>,
    pub scorers: Vec<Scorer>,
    pub threshold: f64,
    pub examples_path: PathBuf,
    /// The examples file as validated: its path in the repository and sha256.
    pub examples: ExamplesRef,
    /// Examples this run takes (after `--shard`), for progress.
    pub total: u64,
    pub shard: Option<Shard>,
}

/// What one example produced for each prompt.
struct Answered {
    main: ExampleRecord,
    baseline: Option<ExampleRecord>,
    /// A provider error that no later request can avoid (no key, 401…): stop the run.
    fatal: Option<Fatal>,
}

/// A failure that stops the run.
#[derive(Clone, Debug)]
/// How a task's run ended.
#[derive(Default)]
pub struct Finish {
    pub main: Totals,
    pub baseline: Option<Totals>,
    /// (main score, main pass, baseline score, baseline pass) per example, for comparison.
    pub pairs: Vec<crate::domain::eval::record::Pair>,
    pub interrupted: bool,
    pub fatal: Option<Fatal>,
    /// Why the run could not reach every selected example (the examples file changed or could
    /// not be read): such a run is not complete.
    pub cut_short: Option<String>,
    /// Examples that got an answer (from the provider or the cache) in this run.
    pub answered: u64,
    /// The first few failed examples, for the message.
    pub error_lines: Vec<String>,
}

impl Finish {
    /// Nothing done yet; `paired` when a baseline runs alongside.
    pub fn new(paired: bool) -> Finish {
        Finish {
            baseline: paired.then(Totals::default),
            ..Finish::default()
        }
    }
}

pub struct Sinks {
    pub main: LogWriter,
    pub baseline: Option<LogWriter>,
    pub repository: Arc<crate::adapters::fs::Repository>,
    /// The run's folder, and the summaries to write with the first record.
    pub dir: PathBuf,
    pub pending_summaries: Vec<crate::domain::eval::record::RunSummary>,
}

pub async fn run(
    engine: Arc<Engine>,
    prepared: Arc<Prepared>,
    mut sinks: Sinks,
    mut finish: Finish,
    skip: HashSet<String>,
    mut progress: Progress,
    stop_signal: &mut (impl std::future::Future<Output = ()> + Unpin),
) -> anyhow::Result<Finish> {
    let (stop_sender, stop) = watch::channel(false);
    let (sender, mut receiver) = mpsc::channel::<Answered>(engine.concurrency * 2);
    let file = fs_err::File::open(&prepared.examples_path)?;
    let producer = {
        let engine = Arc::clone(&engine);
        let prepared = Arc::clone(&prepared);
        let stop = stop.clone();
        tokio::spawn(produce(engine, prepared, file, skip, sender, stop))
    };
    let mut results = 0u64;
    // Made once, not per result: the loop takes a result per example.
    let overran = engine.watchdog.overran();
    tokio::pin!(overran);
    loop {
        tokio::select! {
            biased;
            () = &mut *stop_signal => {
                finish.interrupted = true;
                break;
            }
            message = &mut overran => {
                finish.fatal = Some(Fatal { message, config: true });
                break;
            }
            outcome = receiver.recv() => {
                let Some(outcome) = outcome else { break };
                if let Some(fatal) = outcome.fatal {
                    finish.fatal = Some(fatal);
                    break;
                }
                results += 1;
                record_outcome(&mut finish, &mut sinks, &outcome, &prepared)?;
                progress.advance(&outcome.main);
            }
        }
    }
    let _ = stop_sender.send(true);
    if finish.interrupted || finish.fatal.is_some() {
        producer.abort();
    } else {
        // Every example the producer sent has been received; it tells what it read.
        let read = match producer.await {
            Ok(Ok(read)) => Some(read),
            Ok(Err(problem)) => {
                finish.cut_short = Some(problem);
                None
            }
            Err(error) => {
                finish.cut_short = Some(format!("reading the examples failed: {error}"));
                None
            }
        };
        if let Some(read) = read {
            if read.sha256 != prepared.examples.sha256 {
                finish.cut_short = Some(format!(
                    "{} changed while the eval ran (its sha256 is not the one validated); \
                     run the eval again",
                    prepared.examples.path
                ));
            } else if read.sent != results {
                finish.cut_short = Some(format!(
                    "{} of {} examples have a result",
                    results, read.sent
                ));
            }
        }
    }
    progress.finish();
    sinks.main.finish()?;
    if let Some(baseline) = sinks.baseline {
        baseline.finish()?;
    }
    Ok(finish)
}

/// What the producer read: the examples it sent for evaluation and the sha256 of the file's
/// bytes, which must be those that validation saw.
struct Read {
    sent: u64,
    sha256: String,
}

/// Streams the examples file, reading each line with the same reader as `validate`, and
/// starts one evaluation per selected example, at most `concurrency` at a time.
// Long on purpose: the producer's one loop: read, shard, skip, send; splitting it would split the
// loop's state.
async fn produce(
    engine: Arc<Engine>,
    prepared: Arc<Prepared>,
    file: fs_err::File,
    skip: HashSet<String>,
    sender: mpsc::Sender<Answered>,
    stop: watch::Receiver<bool>,
) -> Result<Read, String> {
    let permits = Arc::new(Semaphore::new(engine.concurrency));
    let mut lines = JsonLines::new(std::io::BufReader::with_capacity(64 * 1024, file));
    let mut sent = 0u64;
    loop {
        if *stop.borrow() {
            return Err("stopped".to_owned());
        }
        let next = lines
            .next_line()
            .map_err(|error| format!("cannot read {}: {error}", prepared.examples.path))?;
        let Some((number, line)) = next else { break };
        // `validate` ran first, so a line it would refuse is a file edited during the run.
        let changed = |problem: &str| {
            format!(
                "{}:{number}: {problem} (the file changed after validation; run the eval again)",
                prepared.examples.path
            )
        };
        let JsonLine::Text(line) = line else {
            return Err(changed("not valid UTF-8"));
        };
        let example = read_example(&prepared.examples.path, number, line, &engine.validators)
            .map_err(|findings| {
                changed(
                    findings
                        .first()
                        .map_or("not a valid example", |f| f.message.as_str()),
                )
            })?;
        if prepared
            .shard
            .is_some_and(|shard| !shard.contains(&example.id))
            || skip.contains(&example.id)
        {
            continue;
        }
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            return Err("stopped".to_owned());
        };
        sent += 1;
        let engine = Arc::clone(&engine);
        let prepared = Arc::clone(&prepared);
        let sender = sender.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let (id, baseline) = (example.id.clone(), prepared.baseline.is_some());
            // A panic becomes a value, so one example's bug fails that example only (without a
            // task of its own per example, whose hand-over costs more than the work).
            let work = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe({
                let prepared = Arc::clone(&prepared);
                async move { evaluate(&engine, &prepared, example, number).await }
            }));
            let outcome = tokio::select! {
                outcome = work => Some(outcome.unwrap_or_else(|panic| {
                    // A bug must not cost the run its other results: the example fails.
                    let detail = panic
                        .downcast_ref::<&str>()
                        .map(|text| (*text).to_owned())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    let record = failed(
                        id,
                        number,
                        ErrorKind::Internal,
                        format!("promptops failed on this example (please report it): {detail}"),
                    );
                    Answered {
                        baseline: baseline.then(|| record.clone()),
                        main: record,
                        fatal: None,
                    }
                })),
                _ = stop.wait_for(|stopped| *stopped) => None,
            };
            if let Some(outcome) = outcome {
                let _ = sender.send(outcome).await;
            }
            // Released only once the result is handed over, so results waiting for
            // the writer count against the concurrency and memory stays bounded.
            drop(permit);
        });
    }
    Ok(Read {
        sent,
        sha256: lines.sha256(),
    })
}

fn record_outcome(
    finish: &mut Finish,
    sinks: &mut Sinks,
    outcome: &Answered,
    prepared: &Prepared,
) -> anyhow::Result<()> {
    for summary in std::mem::take(&mut sinks.pending_summaries) {
        crate::adapters::eval_store::write_summary(&sinks.repository, &sinks.dir, &summary)?;
    }
    finish.answered += u64::from(outcome.main.output.is_some());
    sinks.main.write(&outcome.main)?;
    finish.main.add(&outcome.main);
    if let Some(error) = &outcome.main.error
        && finish.error_lines.len() < 5
    {
        finish
            .error_lines
            .push(if error.kind == ErrorKind::CacheMiss {
                error.message.clone()
            } else {
                format!(
                    "{}:{}: example `{}`: {}",
                    prepared.examples.path, outcome.main.line, outcome.main.id, error.message
                )
            });
    }
    if let (Some(record), Some(writer), Some(totals)) = (
        &outcome.baseline,
        sinks.baseline.as_mut(),
        finish.baseline.as_mut(),
    ) {
        writer.write(record)?;
        totals.add(record);
        finish.pairs.push(crate::domain::eval::record::Pair::new(
            (outcome.main.score, outcome.main.pass),
            (record.score, record.pass),
        ));
    }
    Ok(())
}

fn failed(id: String, line: usize, kind: ErrorKind, message: String) -> ExampleRecord {
    ExampleRecord {
        id,
        line,
        request: None,
        cached: false,
        output: None,
        scores: Vec::new(),
        score: 0.0,
        pass: false,
        latency_ms: None,
        usage: None,
        cost_usd: None,
        error: Some(RecordError { kind, message }),
    }
}

async fn evaluate(engine: &Engine, prepared: &Prepared, example: Example, line: usize) -> Answered {
    let (main, fatal) = evaluate_side(engine, prepared, &prepared.main, &example, line).await;
    if fatal.is_some() {
        return Answered {
            main,
            baseline: None,
            fatal,
        };
    }
    let mut baseline = None;
    let mut fatal = None;
    if let Some(side) = &prepared.baseline {
        let (record, side_fatal) = evaluate_side(engine, prepared, side, &example, line).await;
        baseline = Some(record);
        fatal = side_fatal;
    }
    Answered {
        main,
        baseline,
        fatal,
    }
}

use crate::domain::eval::render::RENDER_DEADLINE;

/// Renders in place (no thread handoff: it costs more than the render) while the engine's
/// watchdog watches the clock. A render cannot be stopped from outside, so one that overruns
/// cancels the run: the run stops waiting for it, finished results are on disk, the run's
/// summary says it is incomplete, and the eval ends with exit 2 naming the prompt and the
/// example (the stuck render is left behind, not waited for).
fn render_watched(
    engine: &Engine,
    side: &Side,
    vars: &serde_json::Map<String, serde_json::Value>,
    what: String,
) -> Result<Vec<crate::domain::eval::request::ChatMessage>, String> {
    let ticket = engine.watchdog.start(what);
    let rendered = side.renderer.render(vars);
    engine.watchdog.finish(ticket);
    rendered
}

/// The renders in progress of one eval, and the first that overran its deadline.
pub struct Watchdog {
    /// Renders in progress: when each started, and what it renders.
    running: std::sync::Mutex<std::collections::BTreeMap<u64, (std::time::Instant, String)>>,
    next: std::sync::atomic::AtomicU64,
    overrun: watch::Sender<Option<String>>,
}

impl Watchdog {
    /// A watchdog with its watching thread, which ends when the watchdog is dropped.
    pub fn new() -> Arc<Watchdog> {
        let watchdog = Arc::new(Watchdog {
            running: std::sync::Mutex::new(std::collections::BTreeMap::new()),
            next: std::sync::atomic::AtomicU64::new(0),
            overrun: watch::channel(None).0,
        });
        let weak = Arc::downgrade(&watchdog);
        if let Err(error) = std::thread::Builder::new()
            .name("render-watchdog".into())
            .spawn(move || Watchdog::watch(&weak))
        {
            tracing::warn!("cannot start the render watchdog: {error}");
        }
        watchdog
    }

    fn running(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::BTreeMap<u64, (std::time::Instant, String)>>
    {
        self.running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn start(&self, what: String) -> u64 {
        let ticket = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.running()
            .insert(ticket, (std::time::Instant::now(), what));
        ticket
    }

    fn finish(&self, ticket: u64) {
        self.running().remove(&ticket);
    }

    /// The message of the first render that overran, once one has (pending until then).
    pub async fn overran(&self) -> String {
        let mut overrun = self.overrun.subscribe();
        match overrun.wait_for(Option::is_some).await {
            Ok(message) => message.clone().unwrap_or_default(),
            Err(_) => std::future::pending().await,
        }
    }

    fn watch(watchdog: &std::sync::Weak<Watchdog>) {
        loop {
            std::thread::sleep(std::time::Duration::from_millis(100));
            let Some(watchdog) = watchdog.upgrade() else {
                return;
            };
            let overrun = watchdog
                .running()
                .values()
                .find(|(started, _)| started.elapsed() > RENDER_DEADLINE)
                .map(|(_, what)| what.clone());
            if let Some(what) = overrun {
                watchdog.overrun.send_if_modified(|first| {
                    let unset = first.is_none();
                    if unset {
                        *first = Some(format!(
                            "{what}: rendering the messages took more than {} s; a template that loops or grows without bound is refused and the eval stopped (finished results are kept; the run is incomplete)",
                            RENDER_DEADLINE.as_secs()
                        ));
                    }
                    unset
                });
            }
        }
    }
}

enum Failure {
    Miss,
    Call(CallErrorKind, String),
}

/// A stored answer, else a call (stored afterwards).
async fn answer(
    engine: &Engine,
    request: &ChatRequest,
    key: &str,
) -> Result<(ChatResponse, bool), Failure> {
    if let Some(cache) = &engine.cache
        && let Some(response) = cache.get(key)
    {
        return Ok((response, true));
    }
    if engine.offline {
        return Err(Failure::Miss);
    }
    match engine.client.complete(request).await {
        Ok(response) => {
            if let Some(cache) = &engine.cache
                && let Err(error) = cache.put(key, &request.provider, &request.model, &response)
            {
                eprintln!("warning: cannot store a response in the cache: {error:#}");
            }
            Ok((response, false))
        }
        Err(error) => Err(Failure::Call(error.kind, error.message)),
    }
}

// Long on purpose: one example against one prompt: render, ask (or replay), score, judge; every
// step records into the same example record.
async fn evaluate_side(
    engine: &Engine,
    prepared: &Prepared,
    side: &Side,
    example: &Example,
    line: usize,
) -> (ExampleRecord, Option<Fatal>) {
    let what = format!(
        "{} for example `{}` ({}:{line})",
        side.prompt_ref.path, example.id, prepared.examples.path
    );
    let messages = match render_watched(engine, side, &example.vars, what) {
        Ok(messages) => messages,
        Err(error) => {
            return (
                failed(example.id.clone(), line, ErrorKind::Render, error),
                None,
            );
        }
    };
    let model = &side.prompt.model;
    let request = ChatRequest {
        provider: model.provider.clone(),
        model: model.name.clone(),
        parameters: model.parameters.clone(),
        messages,
        repeat: 0,
    };
    let key = engine.cache_key(&request);
    let (response, cached) = match answer(engine, &request, &key).await {
        Ok(found) => found,
        Err(failure) => {
            let (kind, message, fatal) = failure_parts(failure, prepared, example, line);
            let mut record = failed(example.id.clone(), line, kind, message);
            record.request = Some(key);
            return (record, fatal);
        }
    };
    let cost_usd = response
        .usage
        .zip(side.price)
        .map(|(usage, price)| usage.cost_usd(price));
    // Ask the judge for each `llm_judge` scorer.
    let scorers_for_example: Vec<Scorer>;
    let scorers: &[Scorer] = match &example.scorers {
        None => &prepared.scorers,
        Some(specs) => {
            scorers_for_example = specs
                .iter()
                .filter_map(|spec| scorers::compile(spec).ok())
                .collect();
            &scorers_for_example
        }
    };
    let mut verdicts = Vec::with_capacity(scorers.len());
    let mut judge_failure = None;
    let mut judge_input: Option<String> = None;
    for scorer in scorers {
        let Kind::LlmJudge(spec) = &scorer.kind else {
            verdicts.push(None);
            continue;
        };
        // What the judge is told the model was asked: the user messages, built once.
        let input = judge_input.get_or_insert_with(|| {
            request
                .messages
                .iter()
                .filter(|message| message.role == Role::User)
                .map(|message| message.content.as_str())
                .collect::<Vec<_>>()
                .join("\n\n")
        });
        let judge_request = judge::request(
            spec,
            &request.provider,
            &request.model,
            input,
            &response.text,
            &example.expected,
        );
        let judge_key = engine.cache_key(&judge_request);
        match answer(engine, &judge_request, &judge_key).await {
            Ok((verdict, _)) => verdicts.push(Some(judge::parse_verdict(&verdict.text))),
            Err(failure) => {
                let (kind, message, fatal) = failure_parts(failure, prepared, example, line);
                if fatal.is_some() {
                    let mut record = failed(example.id.clone(), line, kind, message);
                    record.request = Some(key);
                    return (record, fatal);
                }
                verdicts.push(Some(Err(message.clone())));
                judge_failure = Some(RecordError {
                    kind,
                    message: format!("the judge: {message}"),
                });
            }
        }
    }
    let observation = Observation {
        output: &response.text,
        expected: &example.expected,
        latency_ms: response.latency_ms,
        cost_usd,
        output_schema: side.output_schema.as_ref(),
    };
    let scored = scorers::score_example(scorers, &observation, &verdicts);
    let record = ExampleRecord {
        id: example.id.clone(),
        line,
        request: Some(key),
        cached,
        output: Some(response.text),
        scores: scored.results,
        score: scored.score,
        pass: scored.pass && judge_failure.is_none(),
        latency_ms: Some(response.latency_ms),
        usage: response.usage,
        cost_usd,
        error: judge_failure,
    };
    (record, None)
}

fn failure_parts(
    failure: Failure,
    prepared: &Prepared,
    example: &Example,
    line: usize,
) -> (ErrorKind, String, Option<Fatal>) {
    match failure {
        Failure::Miss => (
            ErrorKind::CacheMiss,
            format!(
                "no stored response for task `{}`, example `{}` ({}:{line}) and --offline is set",
                prepared.task, example.id, prepared.examples.path
            ),
            None,
        ),
        Failure::Call(kind @ (CallErrorKind::Fatal | CallErrorKind::Config), message) => {
            let fatal = Fatal {
                message: message.clone(),
                config: kind == CallErrorKind::Config,
            };
            (ErrorKind::Provider, message, Some(fatal))
        }
        Failure::Call(_, message) => (ErrorKind::Provider, message, None),
    }
}
