//! Evidence is what was measured, not what a file claims. A summary's figures decide gates, so
//! every figure a decision uses is recomputed here from the run's log lines, and a summary
//! that disagrees with its log (or has none, or a log changed since it was written) is not
//! evidence. `validate` reports the same disagreements at the summary's file.
//!
//! The adapter streams each log into [`LogFacts`] (one entry per example, never the answers);
//! [`check`] compares the summary with it.

use std::collections::{BTreeMap, BTreeSet};

use super::record::{self, Comparison, ExampleRecord, RunSummary};

/// A run dated this many seconds after now is still taken as made now: the clocks of two CI
/// machines (a shard's and the merge's) differ by seconds, not minutes.
pub const CLOCK_SKEW_SECONDS: i64 = 60;

/// What a run's log holds, read line by line.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LogFacts {
    /// sha256 of the whole file.
    pub sha256: String,
    pub totals: record::Totals,
    /// Each example's score and pass, by id (the first line of an id that appears twice).
    pub scores: BTreeMap<String, (f64, bool)>,
    /// (line, id) of each repeated id.
    pub duplicates: Vec<(usize, String)>,
    /// Lines that are not eval records.
    pub bad_lines: Vec<usize>,
}

impl LogFacts {
    /// Takes in line `number` (1-based) of the log.
    pub fn add_line(&mut self, number: usize, line: &[u8]) {
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        match serde_json::from_slice::<ExampleRecord>(line) {
            Ok(record) => self.add(number, &record),
            Err(_) => self.bad_lines.push(number),
        }
    }

    fn add(&mut self, number: usize, record: &ExampleRecord) {
        if self.scores.contains_key(&record.id) {
            self.duplicates.push((number, record.id.clone()));
            return;
        }
        self.scores
            .insert(record.id.clone(), (record.score, record.pass));
        self.totals.add(record);
    }
}

/// A half of a run as stored: its summary and its log's facts (`None`: no log file).
pub type StoredHalf = (RunSummary, Option<LogFacts>);

/// A run as stored: its summary, the facts of its log (`None`: there is no log file) and, for
/// a paired run, its baseline half the same way.
#[derive(Clone, Debug)]
pub struct StoredRun {
    pub summary: RunSummary,
    pub log: Option<LogFacts>,
    /// `None` when the run names no baseline half; `Some((name, None))` when it names one that
    /// cannot be read.
    pub baseline: Option<(String, Option<StoredHalf>)>,
}

/// Today's examples of the task: the runs on this file must hold each id exactly once.
#[derive(Clone, Copy, Debug)]
pub struct TodaysExamples<'a> {
    pub sha256: &'a str,
    pub ids: &'a BTreeSet<String>,
}

/// One way a summary disagrees with what was measured, and the summary field it is about
/// (where `validate` points).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub field: &'static str,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.message)
    }
}

fn problem(field: &'static str, message: impl Into<String>) -> Problem {
    Problem {
        field,
        message: message.into(),
    }
}

/// A run once checked against its log.
#[derive(Clone, Debug)]
pub struct CheckedRun {
    /// The summary with every figure recomputed from its log (as claimed where the log could
    /// not be read, in which case `problems` says so).
    pub summary: RunSummary,
    pub baseline: Option<RunSummary>,
    /// Why the summary is not evidence: each way it disagrees with what was measured.
    pub problems: Vec<Problem>,
}

/// Why one half of a run is not evidence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotEvidence {
    OtherExamples,
    Shard,
    Incomplete,
    FromTheFuture(String),
    /// Its summary disagrees with its log, in these ways.
    Inconsistent(String),
    ProviderErrors,
    Unscored,
}

impl std::fmt::Display for NotEvidence {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotEvidence::OtherExamples => formatter.write_str("its examples differ from today's"),
            NotEvidence::Shard => {
                formatter.write_str("it is one shard; merge the shards with `promptops eval merge`")
            }
            NotEvidence::Incomplete => formatter.write_str("it is incomplete"),
            NotEvidence::FromTheFuture(at) => write!(formatter, "it is dated {at}, in the future"),
            NotEvidence::Inconsistent(problems) => write!(
                formatter,
                "its summary disagrees with what was measured: {problems}"
            ),
            NotEvidence::ProviderErrors => formatter.write_str("it had provider errors"),
            NotEvidence::Unscored => formatter.write_str("some examples could not be scored"),
        }
    }
}

/// The one rule of which eval run counts as evidence for a prompt, behind the promotion
/// gates, the regression check, the rollback target and the score the registry records: a
/// complete, unsharded (or merged) run, on today's examples when `examples_sha256` names
/// them, dated no later than `now`, whose summary agrees with its log (`problems` empty),
/// with every example scored and no provider error. `None` when `half` counts.
pub fn why_not(
    half: &RunSummary,
    problems: &[Problem],
    examples_sha256: Option<&str>,
    now: i64,
) -> Option<NotEvidence> {
    let from_the_future = half
        .recorded_at()
        .is_some_and(|at| at > now.saturating_add(CLOCK_SKEW_SECONDS));
    if examples_sha256.is_some_and(|sha256| sha256 != half.examples.sha256) {
        Some(NotEvidence::OtherExamples)
    } else if half.shard.is_some() {
        Some(NotEvidence::Shard)
    } else if !half.complete {
        Some(NotEvidence::Incomplete)
    } else if from_the_future {
        Some(NotEvidence::FromTheFuture(half.finished_at.clone()))
    } else if !problems.is_empty() {
        Some(NotEvidence::Inconsistent(
            problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        ))
    } else if half.provider_errors > 0 {
        Some(NotEvidence::ProviderErrors)
    } else if half.errors > 0 {
        Some(NotEvidence::Unscored)
    } else {
        None
    }
}

/// Checks a stored run against its log (and its baseline half against its own), recomputing
/// every figure. Interrupted runs are not checked: they are not evidence, and their log grows.
pub fn check(stored: StoredRun, today: Option<TodaysExamples<'_>>) -> CheckedRun {
    let StoredRun {
        summary,
        log,
        baseline,
    } = stored;
    let mut problems = Vec::new();
    if !summary.complete {
        return CheckedRun {
            baseline: baseline.and_then(|(_, half)| half.map(|(summary, _)| summary)),
            summary,
            problems,
        };
    }
    let measured = check_half(&summary, log.as_ref(), "", &mut problems);
    if let (Some(today), Some(log)) = (today, &log)
        && summary.examples.sha256 == today.sha256
        && summary.shard.is_none()
    {
        check_coverage(log, today.ids, &mut problems);
    }
    let mut measured = measured;
    let baseline = match baseline {
        None => {
            if summary.comparison.is_some() {
                problems.push(problem(
                    "comparison",
                    "it claims a comparison but names no baseline run",
                ));
                measured.comparison = None;
            }
            None
        }
        Some((name, None)) => {
            problems.push(problem(
                "paired_with",
                format!("its baseline half `{name}` cannot be read"),
            ));
            measured.comparison = None;
            None
        }
        Some((_, Some((half, half_log)))) => {
            let half_measured = check_half(&half, half_log.as_ref(), "baseline ", &mut problems);
            if summary.variant == record::Variant::Candidate {
                measured.comparison = recompute_comparison(
                    &summary,
                    &half,
                    log.as_ref(),
                    half_log.as_ref(),
                    &mut problems,
                );
            }
            Some(half_measured)
        }
    };
    CheckedRun {
        summary: measured,
        baseline,
        problems,
    }
}

/// One half's checks; returns the summary with its figures from the log.
fn check_half(
    summary: &RunSummary,
    log: Option<&LogFacts>,
    which: &str,
    problems: &mut Vec<Problem>,
) -> RunSummary {
    let mut measured = summary.clone();
    let Some(log) = log else {
        problems.push(problem(
            "log",
            format!(
                "its {which}log `{}` is missing: a summary without its log is no evidence",
                summary.log
            ),
        ));
        return measured;
    };
    match &summary.log_sha256 {
        None => problems.push(problem("log", format!(
            "its {which}summary records no sha256 of its log (written by hand or by an older promptops)"
        ))),
        Some(sha256) if *sha256 != log.sha256 => problems.push(problem("log_sha256", format!(
            "its {which}log `{}` is not the log it was written with (sha256 differs)",
            summary.log
        ))),
        Some(_) => {}
    }
    if let Some(line) = log.bad_lines.first() {
        problems.push(problem(
            "log",
            format!(
                "its {which}log `{}` has {} line(s) that are not eval records (first: line {line})",
                summary.log,
                log.bad_lines.len()
            ),
        ));
    }
    if let Some((line, id)) = log.duplicates.first() {
        problems.push(problem(
            "log",
            format!(
                "example `{}` appears more than once in its {which}log `{}` (line {line})",
                inert(id),
                summary.log
            ),
        ));
    }
    measured.set_totals(log.totals);
    let differs = |a: f64, b: f64| (a - b).abs() > 1e-9 || a.is_nan() != b.is_nan();
    if summary.n != measured.n
        || differs(summary.score, measured.score)
        || summary.passed_examples != measured.passed_examples
        || summary.errors != measured.errors
        || summary.provider_errors != measured.provider_errors
        || summary.passed != measured.passed
    {
        problems.push(problem(
            "score",
            format!(
                "its {which}figures do not recompute from its log: the summary claims score {:.3} \
             on {} examples ({} errors), the log gives {:.3} on {} ({} errors)",
                summary.score,
                summary.n,
                summary.errors,
                measured.score,
                measured.n,
                measured.errors
            ),
        ));
    }
    measured
}

/// A log on today's examples holds each of them exactly once, and nothing else.
fn check_coverage(log: &LogFacts, today: &BTreeSet<String>, problems: &mut Vec<Problem>) {
    let missing: Vec<&String> = today
        .iter()
        .filter(|id| !log.scores.contains_key(*id))
        .collect();
    let extra: Vec<&String> = log
        .scores
        .keys()
        .filter(|id| !today.contains(*id))
        .collect();
    if let Some(first) = missing.first() {
        problems.push(problem(
            "examples",
            format!(
                "its log lacks {} of today's examples (e.g. `{}`)",
                missing.len(),
                inert(first)
            ),
        ));
    }
    if let Some(first) = extra.first() {
        problems.push(problem(
            "examples",
            format!(
                "its log holds {} example(s) that today's examples do not (e.g. `{}`)",
                extra.len(),
                inert(first)
            ),
        ));
    }
}

/// The paired comparison recomputed from both logs with the fixed bootstrap settings.
fn recompute_comparison(
    summary: &RunSummary,
    baseline: &RunSummary,
    log: Option<&LogFacts>,
    baseline_log: Option<&LogFacts>,
    problems: &mut Vec<Problem>,
) -> Option<Comparison> {
    let (log, baseline_log) = (log?, baseline_log?);
    if log.scores.len() != baseline_log.scores.len()
        || log
            .scores
            .keys()
            .any(|id| !baseline_log.scores.contains_key(id))
    {
        problems.push(problem(
            "comparison",
            "its two halves do not hold the same examples",
        ));
        return None;
    }
    let pairs: Vec<record::Pair> = log
        .scores
        .iter()
        .map(|(id, scored)| record::Pair::new(*scored, baseline_log.scores[id]))
        .collect();
    let measured = record::compare(
        baseline.prompt.clone(),
        &pairs,
        record::BOOTSTRAP_RESAMPLES,
        record::BOOTSTRAP_SEED,
    );
    match &summary.comparison {
        None => problems.push(problem(
            "paired_with",
            "it is a paired run whose summary has no comparison",
        )),
        Some(claimed) if !same_comparison(claimed, &measured) => problems.push(problem(
            "comparison",
            format!(
                "its comparison does not recompute from its logs: the summary claims Δ = {:+.3} \
             (95% CI {:+.3} … {:+.3}, n = {}), the logs give Δ = {:+.3} ({:+.3} … {:+.3}, n = {})",
                claimed.mean_difference,
                claimed.interval_95[0],
                claimed.interval_95[1],
                claimed.n,
                measured.mean_difference,
                measured.interval_95[0],
                measured.interval_95[1],
                measured.n
            ),
        )),
        Some(_) => {}
    }
    Some(measured)
}

fn same_comparison(claimed: &Comparison, measured: &Comparison) -> bool {
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9;
    claimed.baseline == measured.baseline
        && claimed.n == measured.n
        && close(claimed.mean_difference, measured.mean_difference)
        && close(claimed.interval_95[0], measured.interval_95[0])
        && close(claimed.interval_95[1], measured.interval_95[1])
        && close(claimed.baseline_score, measured.baseline_score)
        && close(claimed.candidate_score, measured.candidate_score)
        && claimed.candidate_only_passed == measured.candidate_only_passed
        && claimed.baseline_only_passed == measured.baseline_only_passed
        && close(claimed.mcnemar_p, measured.mcnemar_p)
        && claimed.bootstrap_resamples == measured.bootstrap_resamples
        && claimed.bootstrap_seed == measured.bootstrap_seed
}

/// An id from a log, shown without its control characters (it is data).
fn inert(id: &str) -> String {
    let shown: String = id
        .chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .take(80)
        .collect();
    shown
}

/// The order of runs newest first: by their recorded times (the name breaks a tie), never by
/// their names.
pub fn newest_first(a: &RunSummary, b: &RunSummary) -> std::cmp::Ordering {
    (b.recorded_at(), &b.run).cmp(&(a.recorded_at(), &a.run))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::eval::record::{PromptRef, Variant};

    fn record_line(id: &str, score: f64) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "id": id, "line": 1, "score": score, "pass": score >= 0.5, "output": "o"
        }))
        .unwrap()
    }

    fn log(scores: &[(&str, f64)]) -> LogFacts {
        let mut facts = LogFacts {
            sha256: "L".into(),
            ..LogFacts::default()
        };
        for (number, (id, score)) in scores.iter().enumerate() {
            facts.add_line(number + 1, &record_line(id, *score));
        }
        facts
    }

    fn summary(run: &str, variant: Variant, facts: &LogFacts) -> RunSummary {
        let mut summary: RunSummary = serde_json::from_value(serde_json::json!({
            "schema_version": 1, "run": run, "task": "t", "variant": variant,
            "prompt": {"path": "p", "version": "1.1.0", "sha256": run},
            "examples": {"path": "e", "sha256": "ex"}, "provider": "openai", "model": "m",
            "complete": true, "n": 0, "score": 0.0, "threshold": 0.5, "passed": false,
            "passed_examples": 0, "errors": 0, "provider_errors": 0, "cached": 0,
            "tokens": {"input_tokens": 0, "output_tokens": 0}, "duration_ms": 0,
            "started_at": "2026-12-01T10:00:00Z", "finished_at": "2026-12-01T10:01:00Z",
            "log": format!("{run}.jsonl"), "log_sha256": facts.sha256
        }))
        .unwrap();
        summary.set_totals(facts.totals);
        summary
    }

    fn ids(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|name| (*name).to_owned()).collect()
    }

    #[test]
    fn a_summary_that_agrees_with_its_log_is_evidence() {
        let facts = log(&[("a", 1.0), ("b", 0.0)]);
        let stored = StoredRun {
            summary: summary("r", Variant::Candidate, &facts),
            log: Some(facts),
            baseline: None,
        };
        let today = ids(&["a", "b"]);
        let checked = check(
            stored,
            Some(TodaysExamples {
                sha256: "ex",
                ids: &today,
            }),
        );
        assert_eq!(checked.problems, Vec::<Problem>::new());
        assert!((checked.summary.score - 0.5).abs() < 1e-12);
    }

    /// Regression: a hand-written summary (score 1.0) promoted a candidate whose log scored 0.
    #[test]
    fn claimed_figures_that_do_not_recompute_are_not_evidence_and_are_replaced() {
        let facts = log(&[("a", 0.0), ("b", 0.0)]);
        let mut claimed = summary("r", Variant::Candidate, &facts);
        claimed.score = 1.0;
        claimed.passed = true;
        claimed.passed_examples = 2;
        let checked = check(
            StoredRun {
                summary: claimed,
                log: Some(facts),
                baseline: None,
            },
            None,
        );
        assert_eq!(checked.problems.len(), 1, "{:?}", checked.problems);
        assert!(checked.problems[0].message.contains("do not recompute"));
        assert_eq!(checked.problems[0].field, "score");
        assert!(checked.summary.score.abs() < 1e-12);
        assert!(!checked.summary.passed);
    }

    #[test]
    fn no_log_a_changed_log_or_no_recorded_sha_is_not_evidence() {
        let facts = log(&[("a", 1.0)]);
        let base = summary("r", Variant::Production, &facts);
        let missing = check(
            StoredRun {
                summary: base.clone(),
                log: None,
                baseline: None,
            },
            None,
        );
        assert!(
            missing.problems[0].message.contains("is missing"),
            "{:?}",
            missing.problems
        );
        let mut changed = facts.clone();
        changed.sha256 = "other".into();
        let changed = check(
            StoredRun {
                summary: base.clone(),
                log: Some(changed),
                baseline: None,
            },
            None,
        );
        assert!(changed.problems[0].message.contains("sha256 differs"));
        let mut unrecorded = base;
        unrecorded.log_sha256 = None;
        let unrecorded = check(
            StoredRun {
                summary: unrecorded,
                log: Some(facts),
                baseline: None,
            },
            None,
        );
        assert!(unrecorded.problems[0].message.contains("records no sha256"));
    }

    #[test]
    fn a_log_must_hold_every_example_of_today_exactly_once() {
        let mut facts = log(&[("a", 1.0), ("a", 1.0), ("c", 1.0)]);
        facts.add_line(4, b"not json");
        let summary = summary("r", Variant::Candidate, &facts);
        let today = ids(&["a", "b"]);
        let checked = check(
            StoredRun {
                summary,
                log: Some(facts),
                baseline: None,
            },
            Some(TodaysExamples {
                sha256: "ex",
                ids: &today,
            }),
        );
        let all: Vec<String> = checked.problems.iter().map(ToString::to_string).collect();
        let all = all.join("\n");
        assert!(all.contains("not eval records (first: line 4)"), "{all}");
        assert!(all.contains("`a` appears more than once"), "{all}");
        assert!(
            all.contains("lacks 1 of today's examples (e.g. `b`)"),
            "{all}"
        );
        assert!(
            all.contains("that today's examples do not (e.g. `c`)"),
            "{all}"
        );
    }

    #[test]
    fn a_comparison_is_recomputed_from_both_logs() {
        let scores: Vec<(String, f64)> = (0..20)
            .map(|i| (format!("e{i}"), f64::from(i % 2)))
            .collect();
        let pairs: Vec<(&str, f64)> = scores.iter().map(|(id, s)| (id.as_str(), *s)).collect();
        let candidate_log = log(&pairs);
        let baseline_log = log(&pairs.iter().map(|(id, _)| (*id, 1.0)).collect::<Vec<_>>());
        let mut candidate = summary("c", Variant::Candidate, &candidate_log);
        let baseline = summary("b", Variant::Production, &baseline_log);
        let honest = record::compare(
            PromptRef {
                path: "p".into(),
                version: "1.1.0".into(),
                sha256: "b".into(),
            },
            &pairs
                .iter()
                .map(|(_, s)| record::Pair::new((*s, *s >= 0.5), (1.0, true)))
                .collect::<Vec<_>>(),
            record::BOOTSTRAP_RESAMPLES,
            record::BOOTSTRAP_SEED,
        );
        let mut flattering = honest.clone();
        flattering.interval_95 = [0.0, 0.1];
        for (claimed, agrees) in [(honest, true), (flattering, false)] {
            candidate.comparison = Some(claimed);
            let checked = check(
                StoredRun {
                    summary: candidate.clone(),
                    log: Some(candidate_log.clone()),
                    baseline: Some((
                        "b".into(),
                        Some((baseline.clone(), Some(baseline_log.clone()))),
                    )),
                },
                None,
            );
            assert_eq!(
                checked.problems.is_empty(),
                agrees,
                "{:?}",
                checked.problems
            );
            let measured = checked.summary.comparison.unwrap();
            assert!(measured.interval_95[0] < -0.5);
        }
    }

    /// Regression: a summary named `99991231T235959Z-…` sorted last by name and won over the
    /// run just made.
    #[test]
    fn runs_are_ordered_by_their_recorded_times_and_a_future_run_is_flagged() {
        let facts = log(&[("a", 1.0)]);
        let mut runs = Vec::new();
        for (name, finished) in [
            ("99991231T235959Z-candidate", "2026-11-01T00:00:00Z"),
            ("20261201T100000Z-candidate", "2026-12-01T10:00:00Z"),
            ("00000000T000000Z-candidate", "2030-01-01T00:00:00Z"),
        ] {
            let mut summary = summary(name, Variant::Candidate, &facts);
            finished.clone_into(&mut summary.finished_at);
            runs.push(CheckedRun {
                summary,
                baseline: None,
                problems: Vec::new(),
            });
        }
        runs.sort_by(|a, b| newest_first(&a.summary, &b.summary));
        let order: Vec<&str> = runs.iter().map(|run| run.summary.run.as_str()).collect();
        assert_eq!(
            order,
            [
                "00000000T000000Z-candidate",
                "20261201T100000Z-candidate",
                "99991231T235959Z-candidate"
            ]
        );
        let now = crate::domain::time::parse_rfc3339("2026-12-07T00:00:00Z").unwrap();
        assert!(matches!(
            why_not(&runs[0].summary, &[], None, now),
            Some(NotEvidence::FromTheFuture(_))
        ));
        assert!(!matches!(
            why_not(&runs[1].summary, &[], None, now),
            Some(NotEvidence::FromTheFuture(_))
        ));
    }
}
