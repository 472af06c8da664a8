//! `rollback --on-regression` as a decision: has a production prompt regressed (below its
//! threshold, or dropped beyond its tolerance from the score recorded when it went to
//! production), and if so, may it be rolled back (a target whose eval reaches the threshold,
//! measured now the way the regression was, and better). Pure: the command reads the runs and
//! the pairs, asks [`decide`], measures the target when asked to, asks again, and carries out
//! the answer.

use crate::domain::eval::evidence::{self, CheckedRun};
use crate::domain::eval::record::{self, Pair, RunSummary, Variant};
use crate::domain::eval::stats::reaches;
use crate::domain::model::LatestEval;

/// The newest production run of exactly this prompt that is evidence (`evidence::why_not`,
/// on whatever examples it ran), by recorded time: the run a regression is judged on.
pub fn newest_run<'a>(
    runs: &'a [CheckedRun],
    production_sha256: &str,
    now: i64,
) -> Option<&'a RunSummary> {
    runs.iter()
        .find(|run| {
            run.summary.variant == Variant::Production
                && run.summary.prompt.sha256 == production_sha256
                && evidence::why_not(&run.summary, &run.problems, None, now).is_none()
        })
        .map(|run| &run.summary)
}

/// The target measured now on today's examples (the command's eval of it).
#[derive(Clone, Debug)]
pub struct Measured<'a> {
    /// False when no example got an answer.
    pub ran: bool,
    pub summary: &'a RunSummary,
}

/// What the decision is taken on.
#[derive(Clone, Debug)]
pub struct RegressionFacts<'a> {
    pub version: &'a str,
    pub threshold: f64,
    pub tolerance: f64,
    /// [`newest_run`].
    pub newest: Option<&'a RunSummary>,
    /// The score recorded when this version went to production.
    pub recorded: Option<&'a LatestEval>,
    /// The newest run's examples paired with the recorded run's, when that run is on the same
    /// examples and both logs can be read: the drop is then the mean paired difference.
    pub paired: Option<(&'a RunSummary, &'a [Pair])>,
    /// The rollback target (`rollback::default_target`), when there is one.
    pub target: Option<&'a str>,
    /// `--offline`: no fresh answer can be had.
    pub offline: bool,
    /// The target as measured now, once [`Action::Measure`] asked for it.
    pub measured: Option<Measured<'a>>,
}

/// What to do about one task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// No complete production eval: run `promptops eval` first.
    NothingToDecide,
    NoRegression,
    /// Regressed, and it cannot be rolled back on its own: the reason.
    PersonNeeded(String),
    /// Regressed, and `target` may be the way back: measure it on today's examples (on fresh
    /// answers when the regression was measured on fresh ones), then decide again.
    Measure {
        target: String,
        fresh: bool,
    },
    /// Roll back to `target`, recording `reason`.
    RollBack {
        target: String,
        reason: String,
    },
}

/// The decision, with the figures it was taken on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub regressed: bool,
    pub evidence: String,
    pub action: Action,
}

impl Action {
    /// What was (or, with `dry_run`, would be) done, for people.
    pub fn describe(&self, dry_run: bool) -> String {
        match self {
            Action::NothingToDecide => "nothing to decide; run `promptops eval` first".to_owned(),
            Action::NoRegression => "no regression".to_owned(),
            Action::PersonNeeded(why) => format!("a person is needed: {why}"),
            Action::Measure { target, .. } => format!("{target} is to be measured"),
            Action::RollBack { target, .. } if dry_run => {
                format!("would roll back to {target} (dry run)")
            }
            Action::RollBack { target, .. } => format!("rolled back to {target}"),
        }
    }
}

/// Decides one task.
// Long on purpose: the decision's steps in order, each ending in its action (the table test
// walks them one by one).
pub fn decide(facts: &RegressionFacts<'_>) -> Decision {
    let RegressionFacts {
        version,
        threshold,
        tolerance,
        ..
    } = *facts;
    let Some(newest) = facts.newest else {
        return Decision {
            regressed: false,
            evidence: format!("no complete production eval of {version}"),
            action: Action::NothingToDecide,
        };
    };
    let mut evidence = format!(
        "{version}: score {:.3} in run {} ({}; threshold {threshold}",
        newest.score,
        newest.run,
        answers_source(newest.cached, newest.n)
    );
    if let Some(recorded) = facts.recorded {
        evidence.push_str(&format!(
            ", {:.3} when it went to production, tolerance {tolerance}",
            recorded.score
        ));
    }
    evidence.push(')');
    let why = if reaches(newest.score, threshold) {
        facts
            .recorded
            .and_then(|recorded| dropped(newest, recorded, facts.paired, tolerance))
    } else {
        Some(format!(
            "{:.3} is below the threshold {threshold}",
            newest.score
        ))
    };
    let Some(why) = why else {
        return Decision {
            regressed: false,
            evidence,
            action: Action::NoRegression,
        };
    };
    let regressed = |evidence: String, action: Action| Decision {
        regressed: true,
        evidence,
        action,
    };
    let Some(target) = facts.target else {
        return regressed(
            format!("{evidence}: {why}"),
            Action::PersonNeeded(
                "no archived version has a complete eval that reaches the threshold".to_owned(),
            ),
        );
    };
    // The target is measured as the regression was: a regression measured on fresh answers
    // is never compared with the target's answers from before the drift.
    let all_cached = newest.n > 0 && newest.cached == newest.n;
    if !all_cached && facts.offline {
        return regressed(
            format!("{evidence}: {why}"),
            Action::PersonNeeded(format!(
                "the regression was measured on fresh answers, and --offline cannot measure \
                 {target} the same way (run without --offline)"
            )),
        );
    }
    let Some(measured) = &facts.measured else {
        return regressed(
            format!("{evidence}: {why}"),
            Action::Measure {
                target: target.to_owned(),
                fresh: !all_cached,
            },
        );
    };
    let checked = measured.summary;
    let better = measured.ran && checked.complete && checked.passed && checked.score > newest.score;
    let checked_text = format!(
        "{target} scores {:.3} on today's examples ({}; {})",
        checked.score,
        answers_source(checked.cached, checked.n),
        if checked.passed {
            "passes"
        } else {
            "does not pass"
        }
    );
    let evidence = format!("{evidence}: {why}; {checked_text}");
    if better {
        regressed(
            evidence,
            Action::RollBack {
                target: target.to_owned(),
                reason: format!("score regression: {why}; {checked_text}"),
            },
        )
    } else {
        regressed(
            evidence,
            Action::PersonNeeded(format!("{target} is not better")),
        )
    }
}

/// Where a run's answers came from, for people reading a decision.
fn answers_source(cached: u64, n: u64) -> String {
    match cached {
        0 => "fresh answers".to_owned(),
        all if all == n => "answers from the cache".to_owned(),
        some => format!("{some} of {n} answers from the cache"),
    }
}

/// Why the newest run dropped by more than the tolerance from the run recorded when the
/// version went to production: paired on the same examples when they are unchanged (the mean
/// of the per-example differences, with its interval), else by the two scores. `None`: it did
/// not.
fn dropped(
    newest: &RunSummary,
    recorded: &LatestEval,
    paired: Option<(&RunSummary, &[Pair])>,
    tolerance: f64,
) -> Option<String> {
    let comparison = paired
        .filter(|(_, pairs)| !pairs.is_empty())
        .map(|(before, pairs)| {
            record::compare(
                before.prompt.clone(),
                pairs,
                record::BOOTSTRAP_RESAMPLES,
                record::BOOTSTRAP_SEED,
            )
        });
    match comparison {
        Some(comparison) => (!reaches(comparison.mean_difference, -tolerance)).then(|| {
            format!(
                "it dropped by Δ = {:+.3} (95% CI {:+.3} … {:+.3}, n = {}, paired on the same examples), more than the tolerance {tolerance}",
                comparison.mean_difference,
                comparison.interval_95[0],
                comparison.interval_95[1],
                comparison.n
            )
        }),
        None => (!reaches(newest.score, recorded.score - tolerance)).then(|| {
            format!(
                "{:.3} dropped from {:.3}, more than the tolerance {tolerance}",
                newest.score, recorded.score
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::eval::record::PromptRef;

    fn run(name: &str, score: f64, cached: u64) -> RunSummary {
        let summary: RunSummary = serde_json::from_value(serde_json::json!({
            "schema_version": 1, "run": name, "task": "t", "variant": "production",
            "prompt": {"path": "p", "version": "1.1.0", "sha256": "prod"},
            "examples": {"path": "e", "sha256": "ex"}, "provider": "openai", "model": "m",
            "complete": true, "n": 20, "score": score, "threshold": 0.8,
            "passed": score >= 0.8, "passed_examples": 0, "errors": 0, "provider_errors": 0,
            "cached": cached, "tokens": {"input_tokens": 0, "output_tokens": 0},
            "duration_ms": 0, "started_at": "2026-12-01T10:00:00Z",
            "finished_at": "2026-12-01T10:01:00Z", "log": format!("{name}.jsonl"),
            "log_sha256": "x"
        }))
        .unwrap();
        summary
    }

    fn recorded(score: f64) -> LatestEval {
        LatestEval {
            score,
            passed: true,
            at: "2026-11-01T00:00:00Z".into(),
            summary: "prompts/04-evals/t/old.summary.json".into(),
        }
    }

    fn facts(newest: Option<&RunSummary>) -> RegressionFacts<'_> {
        RegressionFacts {
            version: "1.1.0",
            threshold: 0.8,
            tolerance: 0.05,
            newest,
            recorded: None,
            paired: None,
            target: Some("1.0.0"),
            offline: false,
            measured: None,
        }
    }

    #[test]
    fn each_way_a_task_can_stand_gets_its_action() {
        let below = run("below", 0.7, 0);
        let fine = run("fine", 0.9, 20);
        let dropped_run = run("dropped", 0.84, 20);
        let held = recorded(0.95);
        let good = run("target", 0.92, 20);
        let worse = run("target", 0.6, 20);
        let mut table: Vec<(&str, RegressionFacts<'_>, Action)> = vec![
            ("no run", facts(None), Action::NothingToDecide),
            (
                "fine, nothing recorded",
                facts(Some(&fine)),
                Action::NoRegression,
            ),
            (
                "below the threshold, fresh answers: measure fresh",
                facts(Some(&below)),
                Action::Measure {
                    target: "1.0.0".into(),
                    fresh: true,
                },
            ),
            (
                "below, no target",
                RegressionFacts {
                    target: None,
                    ..facts(Some(&below))
                },
                Action::PersonNeeded(
                    "no archived version has a complete eval that reaches the threshold".into(),
                ),
            ),
            (
                "dropped beyond the tolerance, cached: measure from the cache",
                RegressionFacts {
                    recorded: Some(&held),
                    ..facts(Some(&dropped_run))
                },
                Action::Measure {
                    target: "1.0.0".into(),
                    fresh: false,
                },
            ),
            (
                "dropped within the tolerance",
                RegressionFacts {
                    recorded: Some(&held),
                    tolerance: 0.2,
                    ..facts(Some(&dropped_run))
                },
                Action::NoRegression,
            ),
        ];
        table.push((
            "fresh regression, offline: a person",
            RegressionFacts {
                offline: true,
                ..facts(Some(&below))
            },
            Action::PersonNeeded(
                "the regression was measured on fresh answers, and --offline cannot measure \
                 1.0.0 the same way (run without --offline)"
                    .into(),
            ),
        ));
        table.push((
            "target better: roll back",
            RegressionFacts {
                measured: Some(Measured {
                    ran: true,
                    summary: &good,
                }),
                ..facts(Some(&below))
            },
            Action::RollBack {
                target: "1.0.0".into(),
                reason: "score regression: 0.700 is below the threshold 0.8; 1.0.0 scores 0.920 \
                         on today's examples (answers from the cache; passes)"
                    .into(),
            },
        ));
        table.push((
            "target worse: a person",
            RegressionFacts {
                measured: Some(Measured {
                    ran: true,
                    summary: &worse,
                }),
                ..facts(Some(&below))
            },
            Action::PersonNeeded("1.0.0 is not better".into()),
        ));
        table.push((
            "target never answered: a person",
            RegressionFacts {
                measured: Some(Measured {
                    ran: false,
                    summary: &good,
                }),
                ..facts(Some(&below))
            },
            Action::PersonNeeded("1.0.0 is not better".into()),
        ));
        for (name, facts, expected) in table {
            let decision = decide(&facts);
            assert_eq!(decision.action, expected, "{name}: {decision:?}");
            assert_eq!(
                decision.regressed,
                !matches!(expected, Action::NothingToDecide | Action::NoRegression),
                "{name}"
            );
        }
    }

    #[test]
    fn a_paired_drop_is_judged_on_the_mean_difference_not_the_scores() {
        // The scores moved by 0.04 only, but on the same examples every one dropped by 0.5
        // where half of them were replaced: the paired mean says what happened.
        let newest = run("now", 0.84, 20);
        let before = run("old", 0.88, 20);
        let held = recorded(0.88);
        let pairs: Vec<Pair> = (0..20)
            .map(|i| {
                if i % 2 == 0 {
                    Pair::new((0.5, false), (1.0, true))
                } else {
                    Pair::new((1.0, true), (0.9, true))
                }
            })
            .collect();
        let paired = RegressionFacts {
            recorded: Some(&held),
            paired: Some((&before, &pairs)),
            ..facts(Some(&newest))
        };
        let decision = decide(&paired);
        assert!(decision.regressed, "{decision:?}");
        assert!(
            decision.evidence.contains("paired on the same examples"),
            "{decision:?}"
        );
        let unpaired = RegressionFacts {
            paired: None,
            ..paired
        };
        assert_eq!(decide(&unpaired).action, Action::NoRegression);
    }

    #[test]
    fn the_newest_run_is_newest_first_evidence_of_this_prompt() {
        let stale = CheckedRun {
            summary: run("a", 0.9, 0),
            baseline: None,
            problems: Vec::new(),
        };
        let mut other = stale.clone();
        other.summary.prompt = PromptRef {
            path: "p".into(),
            version: "1.0.0".into(),
            sha256: "other".into(),
        };
        let mut incomplete = stale.clone();
        incomplete.summary.complete = false;
        let runs = [other, incomplete, stale];
        let found = newest_run(&runs, "prod", 1_900_000_000).unwrap();
        assert_eq!(found.run, "a");
        assert!(found.complete);
        assert!(newest_run(&runs, "nothing", 1_900_000_000).is_none());
    }
}
