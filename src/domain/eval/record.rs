//! What an eval writes: one JSONL record per example and one summary per run, and the
//! order-independent totals that turn records into a summary.
//!
//! Results arrive in completion order, and shards are merged in any order, yet a merged
//! sharded run must report exactly the score of an unsharded one. Floating-point sums depend
//! on order, so scores and costs are summed as integers of 1e-9.

use serde::{Deserialize, Serialize};

use super::request::Usage;
use super::scorers::ScoreResult;
use super::shard::Shard;

pub const SCHEMA_VERSION: u32 = 1;

/// Bootstrap settings of the paired comparison: fixed, so a report can be reproduced, and a
/// comparison is recomputed from its logs with these (never with what a summary claims).
pub const BOOTSTRAP_RESAMPLES: u32 = 2000;
pub const BOOTSTRAP_SEED: u64 = 0x5EED_2026;

/// Which prompt of a task was evaluated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    Production,
    Candidate,
}

impl Variant {
    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Production => "production",
            Variant::Candidate => "candidate",
        }
    }
}

/// Why an example has no score of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The example's variables do not render the prompt (bad input).
    Render,
    /// The provider failed beyond the retry budget, or answered something unusable.
    Provider,
    /// `--offline` and no stored response.
    CacheMiss,
    /// promptops itself failed on this example (a bug); the rest of the run goes on.
    Internal,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordError {
    pub kind: ErrorKind,
    pub message: String,
}

/// One line of a run's JSONL log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExampleRecord {
    pub id: String,
    /// 1-based line in the examples file.
    pub line: usize,
    /// The cache key of the rendered request (sha256 of its canonical JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    #[serde(default)]
    pub cached: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    #[serde(default)]
    pub scores: Vec<ScoreResult>,
    pub score: f64,
    pub pass: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RecordError>,
}

/// A prompt file as evaluated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptRef {
    pub path: String,
    pub version: String,
    pub sha256: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExamplesRef {
    pub path: String,
    pub sha256: String,
}

/// Order-independent sums over example records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub n: u64,
    pub passed_examples: u64,
    pub errors: u64,
    pub provider_errors: u64,
    pub cached: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Sum of example scores in units of 1e-9.
    pub score_nanos: u64,
    /// Sum of known costs in units of 1e-9 US dollars; `None` when no answer had a price.
    pub cost_nano_usd: Option<u64>,
}

fn nanos(value: f64) -> u64 {
    (value.max(0.0) * 1e9).round() as u64
}

impl Totals {
    pub fn add(&mut self, record: &ExampleRecord) {
        self.n += 1;
        self.passed_examples += u64::from(record.pass);
        if let Some(error) = &record.error {
            self.errors += 1;
            self.provider_errors += u64::from(error.kind == ErrorKind::Provider);
        }
        self.cached += u64::from(record.cached);
        if let Some(usage) = record.usage {
            self.input_tokens += usage.input_tokens;
            self.output_tokens += usage.output_tokens;
        }
        self.score_nanos += nanos(record.score);
        if let Some(cost) = record.cost_usd {
            self.cost_nano_usd = Some(self.cost_nano_usd.unwrap_or(0) + nanos(cost));
        }
    }

    pub fn merge(&mut self, other: &Totals) {
        self.n += other.n;
        self.passed_examples += other.passed_examples;
        self.errors += other.errors;
        self.provider_errors += other.provider_errors;
        self.cached += other.cached;
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.score_nanos += other.score_nanos;
        self.cost_nano_usd = match (self.cost_nano_usd, other.cost_nano_usd) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
        };
    }

    /// The task score: the mean example score (0 for no examples).
    pub fn score(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.score_nanos as f64 / 1e9 / self.n as f64
        }
    }

    pub fn cost_usd(&self) -> Option<f64> {
        self.cost_nano_usd.map(|nanos| nanos as f64 / 1e9)
    }
}

/// The paired comparison of a candidate with a baseline on the same examples.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub baseline: PromptRef,
    pub baseline_score: f64,
    pub candidate_score: f64,
    pub n: u64,
    /// Mean of candidate − baseline example scores.
    pub mean_difference: f64,
    /// 95% percentile-bootstrap interval of the mean difference.
    pub interval_95: [f64; 2],
    pub bootstrap_resamples: u32,
    pub bootstrap_seed: u64,
    /// Examples only the candidate passed.
    pub candidate_only_passed: u64,
    /// Examples only the baseline passed.
    pub baseline_only_passed: u64,
    /// Exact two-sided McNemar p-value on the discordant pairs.
    pub mcnemar_p: f64,
}

/// One run's summary, `<run>.summary.json` beside its `<run>.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub schema_version: u32,
    pub run: String,
    pub task: String,
    pub variant: Variant,
    pub prompt: PromptRef,
    pub examples: ExamplesRef,
    pub provider: String,
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    /// False when the run was interrupted; `--resume` continues it.
    pub complete: bool,
    pub n: u64,
    pub score: f64,
    pub threshold: f64,
    pub passed: bool,
    pub passed_examples: u64,
    pub errors: u64,
    pub provider_errors: u64,
    pub cached: u64,
    pub tokens: Usage,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    pub duration_ms: u64,
    pub started_at: String,
    pub finished_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_commit: Option<String>,
    /// The per-example log, a file name in the same folder. Resuming and merging recompute
    /// the figures above from it.
    pub log: String,
    /// sha256 of the log as the run finished it: a log changed since (or a summary written by
    /// hand) is not evidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_sha256: Option<String>,
    /// The other half of a paired run (`--candidate --baseline production`): the candidate's
    /// summary names its baseline run, the baseline's names the candidate run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paired_with: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison: Option<Comparison>,
}

/// The verdict of a run's gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    Pass,
    /// Below the threshold.
    Fail,
    /// A shard that completed without errors: its merge decides.
    AtMerge,
    /// Some examples failed at the provider.
    ProviderFailed,
    /// Some examples could not be run (bad input), or the run is incomplete.
    /// (An interrupted run is the caller's to report: it has its own status.)
    BadInput,
}

impl Gate {
    /// Whether the gate lets the run through (a clean shard does, pending its merge).
    pub fn passes(self) -> bool {
        matches!(self, Gate::Pass | Gate::AtMerge)
    }
}

/// Whether `name` may name a run: the file names `<name>.jsonl` and `<name>.summary.json`
/// stay in their folder.
pub fn is_run_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && !name.starts_with('.')
        && !name.contains("..")
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A field of a summary that names a file but is not a name of its kind.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{field}` {value:?} is not {should_be}")]
pub struct NameError {
    pub field: &'static str,
    pub value: String,
    pub should_be: String,
}

impl RunSummary {
    /// Checks the fields that become file names: `task` is a task slug, `run` a run name,
    /// `log` is `<run>.jsonl` and `paired_with` a run name.
    pub fn check_names(&self) -> Result<(), NameError> {
        let bad = |field: &'static str, value: &str, should_be: String| NameError {
            field,
            value: value.to_owned(),
            should_be,
        };
        if !crate::domain::layout::is_slug(&self.task) {
            return Err(bad("task", &self.task, "a task id".to_owned()));
        }
        if !is_run_name(&self.run) {
            return Err(bad("run", &self.run, "a run name".to_owned()));
        }
        if self.log != format!("{}.jsonl", self.run) {
            return Err(bad("log", &self.log, format!("`{}.jsonl`", self.run)));
        }
        if let Some(other) = &self.paired_with
            && !is_run_name(other)
        {
            return Err(bad("paired_with", other, "a run name".to_owned()));
        }
        Ok(())
    }

    /// When the run finished (or, unfinished, started), in seconds since the epoch: runs are
    /// ordered by it, never by their names.
    pub fn recorded_at(&self) -> Option<i64> {
        crate::domain::time::parse_rfc3339(&self.finished_at)
            .or_else(|| crate::domain::time::parse_rfc3339(&self.started_at))
    }

    /// Whether this is the production half of a `--baseline` run (not a run of its own).
    pub fn is_baseline_half(&self) -> bool {
        self.variant == Variant::Production && self.paired_with.is_some()
    }

    /// What the run says about its gate, the one rule behind `eval`'s and `eval merge`'s exit
    /// status and the JUnit report. Examples that failed for bad input come first, then
    /// provider failures; a shard that completed cleanly leaves the decision to the merge.
    pub fn gate(&self, baseline: Option<&RunSummary>) -> Gate {
        let halves = || std::iter::once(self).chain(baseline);
        if halves().any(|half| half.errors > half.provider_errors) {
            Gate::BadInput
        } else if halves().any(|half| half.provider_errors > 0) {
            Gate::ProviderFailed
        } else if !self.complete {
            Gate::BadInput
        } else if self.shard.is_some() {
            Gate::AtMerge
        } else if self.passed {
            Gate::Pass
        } else {
            Gate::Fail
        }
    }

    /// Sets every figure from `totals`; a run passes when it is complete, scored at least one
    /// example, reached the threshold and had no provider failure.
    pub fn set_totals(&mut self, totals: Totals) {
        self.n = totals.n;
        self.score = totals.score();
        self.passed = self.complete
            && totals.n > 0
            && totals.provider_errors == 0
            && crate::domain::eval::stats::reaches(self.score, self.threshold);
        self.passed_examples = totals.passed_examples;
        self.errors = totals.errors;
        self.provider_errors = totals.provider_errors;
        self.cached = totals.cached;
        self.tokens = Usage {
            input_tokens: totals.input_tokens,
            output_tokens: totals.output_tokens,
        };
        self.cost_usd = totals.cost_usd();
    }
}

/// Pairs of (candidate score, candidate pass, baseline score, baseline pass) → comparison.
/// One example's score and pass.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scored {
    pub score: f64,
    pub pass: bool,
}

/// One example scored by both halves of a paired comparison.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pair {
    pub candidate: Scored,
    pub baseline: Scored,
}

impl Pair {
    /// From `(score, pass)` of the candidate and of the baseline.
    pub fn new((score, pass): (f64, bool), (baseline_score, baseline_pass): (f64, bool)) -> Pair {
        Pair {
            candidate: Scored { score, pass },
            baseline: Scored {
                score: baseline_score,
                pass: baseline_pass,
            },
        }
    }
}

pub fn compare(baseline: PromptRef, pairs: &[Pair], resamples: u32, seed: u64) -> Comparison {
    // The bootstrap resamples by position: sorted, the same examples give the same interval
    // whatever order their answers arrived in (concurrency, shards, a resumed run).
    let mut differences: Vec<f64> = pairs
        .iter()
        .map(|pair| pair.candidate.score - pair.baseline.score)
        .collect();
    differences.sort_by(f64::total_cmp);
    let (low, high) = super::stats::bootstrap_interval(&differences, resamples as usize, seed);
    let candidate_only = pairs
        .iter()
        .filter(|pair| pair.candidate.pass && !pair.baseline.pass)
        .count() as u64;
    let baseline_only = pairs
        .iter()
        .filter(|pair| !pair.candidate.pass && pair.baseline.pass)
        .count() as u64;
    let candidate_scores: Vec<f64> = pairs.iter().map(|pair| pair.candidate.score).collect();
    let baseline_scores: Vec<f64> = pairs.iter().map(|pair| pair.baseline.score).collect();
    Comparison {
        baseline,
        baseline_score: super::stats::mean(&baseline_scores),
        candidate_score: super::stats::mean(&candidate_scores),
        n: pairs.len() as u64,
        mean_difference: super::stats::mean(&differences),
        interval_95: [low, high],
        bootstrap_resamples: resamples,
        bootstrap_seed: seed,
        candidate_only_passed: candidate_only,
        baseline_only_passed: baseline_only,
        mcnemar_p: super::stats::mcnemar_exact(candidate_only, baseline_only),
    }
}

#[cfg(test)]
mod comparison_order_tests {
    use super::*;

    /// Regression: the interval depended on the order the answers arrived in, so two runs
    /// of the same prompts on the same examples reported different intervals.
    #[test]
    fn the_interval_does_not_depend_on_the_order_of_the_pairs() {
        let baseline = PromptRef {
            path: "p".into(),
            version: "1.0.0".into(),
            sha256: "s".into(),
        };
        let mut pairs: Vec<Pair> = (0..40)
            .map(|i| {
                Pair::new(
                    (f64::from(i % 3) / 2.0, i % 3 != 0),
                    (f64::from(i % 5) / 4.0, i % 5 > 1),
                )
            })
            .collect();
        let first = compare(baseline.clone(), &pairs, 2000, 7);
        pairs.reverse();
        pairs.swap(3, 17);
        let second = compare(baseline, &pairs, 2000, 7);
        // Bit for bit: the same numbers, not merely close ones.
        assert_eq!(
            first.interval_95.map(f64::to_bits),
            second.interval_95.map(f64::to_bits)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(score: f64, pass: bool) -> ExampleRecord {
        ExampleRecord {
            id: "x".into(),
            line: 1,
            request: None,
            cached: false,
            output: Some("o".into()),
            scores: Vec::new(),
            score,
            pass,
            latency_ms: Some(1),
            usage: Some(Usage {
                input_tokens: 3,
                output_tokens: 2,
            }),
            cost_usd: Some(0.1),
            error: None,
        }
    }

    #[test]
    fn totals_do_not_depend_on_order_or_grouping() {
        let scores = [0.1, 0.7, 1.0 / 3.0, 0.2, 0.999_999_9, 0.3];
        let mut forward = Totals::default();
        for score in scores {
            forward.add(&record(score, score > 0.5));
        }
        let mut first = Totals::default();
        let mut second = Totals::default();
        for (index, score) in scores.iter().rev().enumerate() {
            let half = if index % 2 == 0 {
                &mut first
            } else {
                &mut second
            };
            half.add(&record(*score, *score > 0.5));
        }
        second.merge(&first);
        assert_eq!(forward, second);
        assert_eq!(forward.score().to_bits(), second.score().to_bits());
        assert_eq!(forward.passed_examples, 2);
        assert_eq!(forward.input_tokens, 18);
        assert!((forward.cost_usd().unwrap() - 0.6).abs() < 1e-9);
    }

    #[test]
    fn a_run_with_provider_errors_or_interrupted_does_not_pass() {
        let mut totals = Totals::default();
        totals.add(&record(1.0, true));
        let mut summary: RunSummary = serde_json::from_value(serde_json::json!({
            "schema_version": 1, "run": "r", "task": "t", "variant": "production",
            "prompt": {"path": "p", "version": "1.0.0", "sha256": "s"},
            "examples": {"path": "e", "sha256": "s"}, "provider": "openai", "model": "m",
            "complete": true, "n": 0, "score": 0.0, "threshold": 0.9, "passed": false,
            "passed_examples": 0, "errors": 0, "provider_errors": 0, "cached": 0,
            "tokens": {"input_tokens": 0, "output_tokens": 0}, "duration_ms": 0,
            "started_at": "", "finished_at": "", "log": "r.jsonl"
        }))
        .unwrap();
        summary.set_totals(totals);
        assert!(summary.passed);
        summary.complete = false;
        summary.set_totals(totals);
        assert!(!summary.passed);
        summary.complete = true;
        let mut failing = totals;
        failing.provider_errors = 1;
        summary.set_totals(failing);
        assert!(!summary.passed);
    }

    #[test]
    fn the_gate_puts_bad_input_before_provider_failures_and_leaves_shards_to_the_merge() {
        let mut summary: RunSummary = serde_json::from_value(serde_json::json!({
            "schema_version": 1, "run": "r", "task": "t", "variant": "production",
            "prompt": {"path": "p", "version": "1.0.0", "sha256": "s"},
            "examples": {"path": "e", "sha256": "s"}, "provider": "openai", "model": "m",
            "complete": true, "n": 4, "score": 0.5, "threshold": 0.9, "passed": false,
            "passed_examples": 2, "errors": 0, "provider_errors": 0, "cached": 0,
            "tokens": {"input_tokens": 0, "output_tokens": 0}, "duration_ms": 0,
            "started_at": "", "finished_at": "", "log": "r.jsonl"
        }))
        .unwrap();
        assert_eq!(summary.gate(None), Gate::Fail);
        summary.shard = Some(Shard::parse("1/2").unwrap());
        assert_eq!(summary.gate(None), Gate::AtMerge);
        let mut baseline = summary.clone();
        baseline.errors = 1;
        baseline.provider_errors = 1;
        assert_eq!(summary.gate(Some(&baseline)), Gate::ProviderFailed);
        summary.errors = 1;
        assert_eq!(summary.gate(Some(&baseline)), Gate::BadInput);
        summary.errors = 0;
        summary.complete = false;
        assert_eq!(summary.gate(None), Gate::BadInput);
    }
}
