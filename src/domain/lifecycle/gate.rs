//! Promotion gates. Each is a decision with its evidence: `valid`, `newer`, `evidence`,
//! `threshold` and `not-worse` (non-inferiority against production on the same examples).

use semver::Version;
use serde::Serialize;

use crate::domain::eval::evidence::{self, CheckedRun};
use crate::domain::eval::record::{RunSummary, Variant};

/// Paired examples below which the non-inferiority gate has not enough evidence.
pub const MIN_PAIRED_EXAMPLES: u64 = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GateName {
    Valid,
    Newer,
    Evidence,
    Threshold,
    NotWorse,
}

impl GateName {
    pub fn as_str(self) -> &'static str {
        match self {
            GateName::Valid => "valid",
            GateName::Newer => "newer",
            GateName::Evidence => "evidence",
            GateName::Threshold => "threshold",
            GateName::NotWorse => "not-worse",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GateOutcome {
    Pass,
    Fail,
    NotApplicable,
}

/// One gate's decision: what it found, and what to do when it fails.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GateResult {
    pub gate: GateName,
    pub outcome: GateOutcome,
    pub evidence: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl GateResult {
    fn new(gate: GateName, outcome: GateOutcome, evidence: impl Into<String>) -> GateResult {
        GateResult {
            gate,
            outcome,
            evidence: evidence.into(),
            hint: None,
        }
    }

    fn hint(mut self, hint: impl Into<String>) -> GateResult {
        self.hint = Some(hint.into());
        self
    }
}

/// What the gates decide from, gathered by the command.
#[derive(Clone, Debug)]
pub struct PromotionFacts<'a> {
    pub task: &'a str,
    /// Errors (strict) in the candidate, metadata and examples, as `file:line: message`.
    pub errors: Vec<String>,
    pub candidate_version: &'a str,
    pub candidate_sha256: &'a str,
    pub production_version: Option<&'a str>,
    pub examples_sha256: &'a str,
    pub threshold: f64,
    pub regression_tolerance: f64,
    /// The task's eval runs, each checked against its log (figures recomputed), newest first
    /// by their recorded times (`evidence::newest_first`).
    pub runs: &'a [CheckedRun],
    /// Now, in seconds since the epoch: a run dated later is no evidence.
    pub now: i64,
    /// When set, only these runs may decide (`promote --eval` decides on the run it made, the
    /// pipeline on the runs its own eval stage made).
    pub decide_on: Option<&'a [String]>,
}

/// The newest eval that is evidence for exactly this candidate on exactly these examples: a
/// complete, unsharded (or merged) candidate run with no errors, whose summary agrees with its
/// log, dated no later than now. With it, why each newer run of the same candidate did not
/// count. This is the one predicate of which run counts.
pub fn find_evidence<'a>(facts: &PromotionFacts<'a>) -> (Option<&'a CheckedRun>, Vec<String>) {
    let mut passed_over = Vec::new();
    for run in facts.runs {
        let summary = &run.summary;
        if summary.variant != Variant::Candidate || summary.prompt.sha256 != facts.candidate_sha256
        {
            continue;
        }
        if let Some(allowed) = facts.decide_on
            && !allowed.contains(&summary.run)
        {
            continue;
        }
        let why_not = evidence::why_not(
            summary,
            &run.problems,
            Some(facts.examples_sha256),
            facts.now,
        );
        match why_not {
            None => return (Some(run), passed_over),
            Some(reason) => passed_over.push(format!("run {}: {reason}", summary.run)),
        }
    }
    (None, passed_over)
}

/// Every gate, in order, each with its evidence: none is skipped because an earlier one
/// failed.
pub fn promotion_gates(facts: &PromotionFacts<'_>) -> Vec<GateResult> {
    let (evidence, passed_over) = find_evidence(facts);
    let evidence = evidence.map(|run| &run.summary);
    vec![
        valid(facts),
        newer(facts),
        evidence_gate(evidence, &passed_over),
        threshold(facts, evidence),
        not_worse(facts, evidence),
    ]
}

fn valid(facts: &PromotionFacts<'_>) -> GateResult {
    if facts.errors.is_empty() {
        return GateResult::new(
            GateName::Valid,
            GateOutcome::Pass,
            "the candidate, metadata and examples validate strictly",
        );
    }
    let shown: Vec<&str> = facts.errors.iter().take(3).map(String::as_str).collect();
    let more = facts.errors.len().saturating_sub(shown.len());
    let mut evidence = format!("{} error(s): {}", facts.errors.len(), shown.join("; "));
    if more > 0 {
        evidence.push_str(&format!("; … and {more} more"));
    }
    GateResult::new(GateName::Valid, GateOutcome::Fail, evidence)
        .hint("fix them (`promptops validate --strict` lists every one); an invalid prompt is never promoted, not even with --force")
}

fn newer(facts: &PromotionFacts<'_>) -> GateResult {
    let Some(production) = facts.production_version else {
        return GateResult::new(
            GateName::Newer,
            GateOutcome::Pass,
            format!(
                "{} is the task's first production version",
                facts.candidate_version
            ),
        );
    };
    match (
        Version::parse(facts.candidate_version),
        Version::parse(production),
    ) {
        (Ok(candidate), Ok(current)) if candidate > current => GateResult::new(
            GateName::Newer,
            GateOutcome::Pass,
            format!("{candidate} > {current}"),
        ),
        (Ok(candidate), Ok(current)) => GateResult::new(
            GateName::Newer,
            GateOutcome::Fail,
            format!("{candidate} is not greater than production's {current}"),
        )
        .hint("raise the candidate's version above production's"),
        _ => GateResult::new(
            GateName::Newer,
            GateOutcome::Fail,
            format!(
                "cannot compare {} with production's {production}",
                facts.candidate_version
            ),
        )
        .hint("versions are semantic versions such as 1.2.0"),
    }
}

fn evidence_gate(evidence: Option<&RunSummary>, passed_over: &[String]) -> GateResult {
    if let Some(summary) = evidence {
        let mut found = format!(
            "run {}: complete, {} examples, no provider errors",
            summary.run, summary.n
        );
        // A newer run that did not count is worth knowing about: it may be the one the
        // person meant.
        if !passed_over.is_empty() {
            found.push_str(&format!(" (passed over: {})", passed_over.join("; ")));
        }
        return GateResult::new(GateName::Evidence, GateOutcome::Pass, found);
    }
    let mut evidence =
        "no complete, consistent eval of this candidate on today's examples".to_owned();
    if !passed_over.is_empty() {
        evidence.push_str(&format!(" (passed over: {})", passed_over.join("; ")));
    }
    GateResult::new(GateName::Evidence, GateOutcome::Fail, evidence)
        .hint("run `promptops eval TASK --candidate --baseline production`")
}

fn threshold(facts: &PromotionFacts<'_>, evidence: Option<&RunSummary>) -> GateResult {
    let Some(summary) = evidence else {
        return GateResult::new(
            GateName::Threshold,
            GateOutcome::Fail,
            "no score without an eval",
        )
        .hint("see the evidence gate");
    };
    let passed = crate::domain::eval::stats::reaches(summary.score, facts.threshold);
    let result = GateResult::new(
        GateName::Threshold,
        if passed {
            GateOutcome::Pass
        } else {
            GateOutcome::Fail
        },
        format!(
            "score {:.3} {} threshold {}",
            summary.score,
            if passed { "≥" } else { "<" },
            facts.threshold
        ),
    );
    if passed {
        result
    } else {
        result.hint("improve the candidate; the eval log lists each example's reasons")
    }
}

/// Non-inferiority: the 95% interval's lower bound of (candidate − production) on the same
/// examples is at least −tolerance, on at least [`MIN_PAIRED_EXAMPLES`] pairs.
fn not_worse(facts: &PromotionFacts<'_>, evidence: Option<&RunSummary>) -> GateResult {
    let gate = GateName::NotWorse;
    if facts.production_version.is_none() {
        return GateResult::new(
            gate,
            GateOutcome::NotApplicable,
            "no production prompt to compare with",
        );
    }
    let Some(comparison) = evidence.and_then(|summary| summary.comparison.as_ref()) else {
        return GateResult::new(
            gate,
            GateOutcome::Fail,
            "no paired comparison with production in the evidence",
        )
        .hint("run `promptops eval TASK --candidate --baseline production`");
    };
    let tolerance = facts.regression_tolerance;
    let figures = format!(
        "Δ = {:+.3} (95% CI {:+.3} … {:+.3}, n = {}) vs production {}; McNemar p = {:.4}",
        comparison.mean_difference,
        comparison.interval_95[0],
        comparison.interval_95[1],
        comparison.n,
        comparison.baseline.version,
        comparison.mcnemar_p
    );
    if comparison.n < MIN_PAIRED_EXAMPLES {
        return GateResult::new(
            gate,
            GateOutcome::Fail,
            format!("not enough evidence: {figures}, fewer than {MIN_PAIRED_EXAMPLES} pairs"),
        )
        .hint("add examples, or promote with --force --reason");
    }
    if crate::domain::eval::stats::reaches(comparison.interval_95[0], -tolerance) {
        GateResult::new(
            gate,
            GateOutcome::Pass,
            format!("{figures}; lower bound ≥ −{tolerance}"),
        )
    } else {
        GateResult::new(
            gate,
            GateOutcome::Fail,
            format!(
                "{figures}; the data cannot rule out a drop larger than the tolerance {tolerance}"
            ),
        )
        .hint("improve the candidate, or raise regression_tolerance in the metadata if such a drop is acceptable")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::eval::record::{Comparison, PromptRef};

    fn summary(run: &str, sha: &str, score: f64, n: u64, lower: f64) -> RunSummary {
        let json = serde_json::json!({
            "schema_version": 1, "run": run, "task": "t", "variant": "candidate",
            "prompt": {"path": "p", "version": "1.1.0", "sha256": sha},
            "examples": {"path": "e", "sha256": "ex"},
            "provider": "openai", "model": "m", "complete": true, "n": n, "score": score,
            "threshold": 0.8, "passed": true, "passed_examples": n, "errors": 0,
            "provider_errors": 0, "cached": 0, "tokens": {"input_tokens": 0, "output_tokens": 0},
            "duration_ms": 1, "started_at": "s", "finished_at": "f", "log": format!("{run}.jsonl"),
        });
        let mut summary: RunSummary = serde_json::from_value(json).unwrap();
        summary.comparison = Some(Comparison {
            baseline: PromptRef {
                path: "b".into(),
                version: "1.0.0".into(),
                sha256: "b".into(),
            },
            baseline_score: score - 0.05,
            candidate_score: score,
            n,
            mean_difference: 0.05,
            interval_95: [lower, 0.1],
            bootstrap_resamples: 2000,
            bootstrap_seed: 1,
            candidate_only_passed: 3,
            baseline_only_passed: 1,
            mcnemar_p: 0.6,
        });
        summary
    }

    fn checked(summaries: &[RunSummary]) -> Vec<CheckedRun> {
        summaries
            .iter()
            .rev()
            .map(|summary| CheckedRun {
                summary: summary.clone(),
                baseline: None,
                problems: Vec::new(),
            })
            .collect()
    }

    fn facts(runs: &[CheckedRun]) -> PromotionFacts<'_> {
        PromotionFacts {
            task: "t",
            errors: Vec::new(),
            candidate_version: "1.1.0",
            candidate_sha256: "cand",
            production_version: Some("1.0.0"),
            examples_sha256: "ex",
            threshold: 0.8,
            regression_tolerance: 0.02,
            runs,
            now: 1_800_000_000,
            decide_on: None,
        }
    }

    fn outcomes(results: &[GateResult]) -> Vec<(&str, GateOutcome)> {
        results
            .iter()
            .map(|r| (r.gate.as_str(), r.outcome))
            .collect()
    }

    #[test]
    fn every_gate_passes_on_good_evidence() {
        let runs = checked(&[summary("r1", "cand", 0.9, 40, -0.01)]);
        let results = promotion_gates(&facts(&runs));
        assert!(
            results.iter().all(|r| r.outcome == GateOutcome::Pass),
            "{results:?}"
        );
        assert!(
            results[4].evidence.contains("n = 40"),
            "{}",
            results[4].evidence
        );
    }

    #[test]
    fn each_gate_fails_alone_with_its_reason() {
        let good = checked(&[summary("r1", "cand", 0.9, 40, -0.01)]);
        let mut invalid = facts(&good);
        invalid.errors = vec!["m.yaml:3: bad".into()];
        assert_eq!(promotion_gates(&invalid)[0].outcome, GateOutcome::Fail);

        let mut older = facts(&good);
        older.production_version = Some("1.1.0");
        let results = promotion_gates(&older);
        assert_eq!(outcomes(&results)[1], ("newer", GateOutcome::Fail));
        assert!(results[1].hint.as_deref().unwrap().contains("raise"));

        let other_prompt = checked(&[summary("r1", "other", 0.9, 40, -0.01)]);
        let results = promotion_gates(&facts(&other_prompt));
        assert_eq!(outcomes(&results)[2], ("evidence", GateOutcome::Fail));

        let low = checked(&[summary("r1", "cand", 0.7, 40, -0.01)]);
        let results = promotion_gates(&facts(&low));
        assert_eq!(
            outcomes(&results)[2..4],
            [
                ("evidence", GateOutcome::Pass),
                ("threshold", GateOutcome::Fail)
            ]
        );

        let worse = checked(&[summary("r1", "cand", 0.9, 40, -0.05)]);
        let results = promotion_gates(&facts(&worse));
        assert_eq!(outcomes(&results)[4], ("not-worse", GateOutcome::Fail));
        assert!(
            results[4].evidence.contains("cannot rule out a drop"),
            "{}",
            results[4].evidence
        );

        let few = checked(&[summary("r1", "cand", 0.9, 9, 0.0)]);
        let results = promotion_gates(&facts(&few));
        assert!(results[4].evidence.starts_with("not enough evidence"));
    }

    #[test]
    fn evidence_is_the_newest_clean_run_and_says_what_it_passed_over() {
        let mut interrupted = summary("r2", "cand", 0.95, 40, 0.0);
        interrupted.complete = false;
        let mut shard = summary("r3", "cand", 0.95, 40, 0.0);
        shard.shard = Some(crate::domain::eval::shard::Shard { index: 1, count: 2 });
        let runs = checked(&[summary("r1", "cand", 0.9, 40, 0.0), interrupted, shard]);
        let facts = facts(&runs);
        let (found, passed_over) = find_evidence(&facts);
        assert_eq!(found.unwrap().summary.run, "r1");
        assert_eq!(passed_over.len(), 2, "{passed_over:?}");
        assert!(passed_over[0].contains("one shard"));
        assert!(passed_over[1].contains("incomplete"));
    }

    /// Regression: a hand-written summary promoted a candidate that scored 0; a run dated in
    /// the future won over the run just made.
    #[test]
    fn a_run_that_disagrees_with_its_log_is_dated_later_or_was_not_made_here_is_passed_over() {
        let mut runs = checked(&[
            summary("honest", "cand", 0.9, 40, 0.0),
            summary("claimed", "cand", 1.0, 40, 0.0),
            summary("future", "cand", 1.0, 40, 0.0),
        ]);
        runs[1].problems = vec![crate::domain::eval::evidence::Problem {
            field: "score",
            message: "its figures do not recompute from its log".into(),
        }];
        "2099-01-01T00:00:00Z".clone_into(&mut runs[0].summary.finished_at);
        let facts = facts(&runs);
        let (found, passed_over) = find_evidence(&facts);
        assert_eq!(found.unwrap().summary.run, "honest");
        assert!(passed_over[0].contains("in the future"), "{passed_over:?}");
        assert!(
            passed_over[1].contains("do not recompute"),
            "{passed_over:?}"
        );
        let only = vec!["claimed".to_owned()];
        let mut restricted = facts.clone();
        restricted.decide_on = Some(&only);
        let (found, passed_over) = find_evidence(&restricted);
        assert!(found.is_none());
        assert_eq!(passed_over.len(), 1);
        let gates = promotion_gates(&restricted);
        assert_eq!(gates[2].outcome, GateOutcome::Fail);
    }

    #[test]
    fn a_first_version_needs_no_comparison() {
        let mut run = summary("r1", "cand", 0.9, 40, 0.0);
        run.comparison = None;
        let runs = checked(&[run]);
        let mut first = facts(&runs);
        first.production_version = None;
        let results = promotion_gates(&first);
        assert_eq!(results[4].outcome, GateOutcome::NotApplicable);
        assert!(results[..4].iter().all(|r| r.outcome == GateOutcome::Pass));
    }
}
