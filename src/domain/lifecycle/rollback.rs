//! Rollback as a plan: an archived version goes back to production, and the current
//! production is archived with the reason. Which version: `--to`, else the newest archived
//! version whose recorded eval passed.

use crate::domain::eval::evidence::{self, CheckedRun};
use crate::domain::eval::record::RunSummary;
use crate::domain::model::{EventKind, HistoryEvent, LatestEval, PromotionEvidence};
use crate::domain::plan::{FileRemoval, FileWrite};
use crate::domain::trailers::{self, Trailer};

/// The archived file without its `archived:` note: the prompt as it was in production.
pub fn restored(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "the archived prompt is not UTF-8")?;
    let mut out = String::with_capacity(text.len());
    let mut in_note = false;
    let mut found = false;
    for line in text.split_inclusive('\n') {
        if line.starts_with("archived:") {
            in_note = true;
            found = true;
            continue;
        }
        if in_note && (line.starts_with(' ') || line.starts_with('\t') || line.trim().is_empty()) {
            continue;
        }
        in_note = false;
        out.push_str(line);
    }
    if found {
        Ok(out.into_bytes())
    } else {
        Err("the archived prompt has no `archived:` note".to_owned())
    }
}

/// An archived version, and the sha256s its evals name: the prompt as it was in production
/// (its file without the `archived:` note) and the archived file itself (what a rollback
/// check evaluates).
#[derive(Clone, Debug)]
pub struct ArchivedPrompt {
    pub version: String,
    pub sha256s: Vec<String>,
}

/// One half of a checked run that is evidence for a prompt: the run, and the half (the run
/// itself or its baseline) that evaluated the prompt.
#[derive(Clone, Copy, Debug)]
pub struct Found<'a> {
    pub run: &'a CheckedRun,
    pub half: &'a RunSummary,
}

/// The newest eval of exactly one of the prompts `sha256s` that is evidence
/// (`evidence::why_not`, on whatever examples it ran): either half of a run (the production
/// half of a paired run counts). `runs` are newest first.
pub fn newest_evidence<'a>(
    runs: &'a [CheckedRun],
    sha256s: &[String],
    now: i64,
) -> Option<Found<'a>> {
    runs.iter()
        .flat_map(|run| {
            std::iter::once(&run.summary)
                .chain(run.baseline.as_ref())
                .map(move |half| Found { run, half })
        })
        .find(|found| {
            sha256s.contains(&found.half.prompt.sha256)
                && evidence::why_not(found.half, &found.run.problems, None, now).is_none()
        })
}

/// The newest archived version whose newest eval (of exactly that prompt) reaches today's
/// threshold, with that eval.
pub fn default_target<'a>(
    archived: &[ArchivedPrompt],
    runs: &'a [CheckedRun],
    threshold: f64,
    now: i64,
) -> Option<(String, Found<'a>)> {
    let mut versions: Vec<(semver::Version, String, Found<'a>)> = archived
        .iter()
        .filter_map(|prompt| {
            let found = newest_evidence(runs, &prompt.sha256s, now)?;
            let version = semver::Version::parse(&prompt.version).ok()?;
            crate::domain::eval::stats::reaches(found.half.score, threshold)
                .then(|| (version, prompt.version.clone(), found))
        })
        .collect();
    versions.sort_by(|a, b| a.0.cmp(&b.0));
    versions.pop().map(|(_, version, found)| (version, found))
}

/// The rollback event's evidence: the target's eval, as measured.
pub fn evidence(found: Found<'_>, threshold: f64, summary_path: &str) -> PromotionEvidence {
    PromotionEvidence {
        score: found.half.score,
        threshold,
        n: found.half.n,
        delta: None,
        interval_95: None,
        mcnemar_p: None,
        summary: summary_path.to_owned(),
        overridden: Vec::new(),
    }
}

/// The eval recorded for `version` when it was made production (its newest decision with
/// evidence), as the registry's latest eval.
pub fn recorded_eval(history: &[HistoryEvent], version: &str) -> Option<LatestEval> {
    history
        .iter()
        .rev()
        .filter(|event| event.version == version)
        .find_map(|event| {
            let evidence = event.evidence.as_ref()?;
            Some(LatestEval {
                score: evidence.score,
                passed: crate::domain::eval::stats::reaches(evidence.score, evidence.threshold),
                at: event.at.clone(),
                summary: evidence.summary.clone(),
            })
        })
}

/// What the rollback moves.
pub struct Rollback<'a> {
    pub task: &'a str,
    pub production_path: &'a str,
    pub production_bytes: &'a [u8],
    pub production_version: &'a str,
    pub target_path: &'a str,
    pub target_bytes: &'a [u8],
    pub target_sha256: &'a str,
    pub target_version: &'a str,
    pub metadata_path: &'a str,
    pub metadata_text: &'a str,
}

/// The file changes: target → production, production → archive with its note, metadata
/// version follows.
pub fn plan_files(
    rollback: &Rollback<'_>,
    reason: &str,
    at: &str,
    by: &str,
) -> Result<(Vec<FileWrite>, Vec<FileRemoval>), String> {
    let archived = super::archived_copy(
        rollback.production_bytes,
        &format!("rolled back: {reason}"),
        at,
        by,
    )?;
    Ok((
        vec![
            FileWrite::new(
                rollback.production_path.to_owned(),
                restored(rollback.target_bytes)?,
            ),
            FileWrite::new(
                super::archive_path(rollback.task, rollback.production_version),
                archived,
            ),
            FileWrite::new(
                rollback.metadata_path.to_owned(),
                super::promote::set_version(rollback.metadata_text, rollback.target_version)?
                    .into_bytes(),
            ),
        ],
        vec![FileRemoval {
            path: rollback.target_path.to_owned(),
            sha256: rollback.target_sha256.to_owned(),
        }],
    ))
}

pub fn commit_message(rollback: &Rollback<'_>, reason: &str) -> String {
    format!(
        "rollback {} {} -> {}\n\n{}\n\n{}",
        rollback.task,
        rollback.production_version,
        rollback.target_version,
        trailers::one_line(reason),
        trailers::block(&[
            (Trailer::Task, rollback.task),
            (Trailer::From, rollback.production_version),
            (Trailer::To, rollback.target_version),
            (Trailer::Decision, "rollback"),
        ])
    )
}

pub fn event(
    rollback: &Rollback<'_>,
    reason: &str,
    (at, by): (&str, &str),
    evidence: Option<PromotionEvidence>,
    plan: &str,
) -> HistoryEvent {
    HistoryEvent {
        event: EventKind::Rollback,
        version: rollback.target_version.to_owned(),
        at: at.to_owned(),
        by: by.to_owned(),
        reason: Some(reason.to_owned()),
        commit: None,
        from: Some(rollback.production_version.to_owned()),
        evidence,
        plan: Some(plan.to_owned()),
        deployment: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_note_is_removed_and_the_rest_kept() {
        let archived = b"id: t\nversion: 1.0.0\narchived:\n  reason: r\n  at: \"x\"\noutput:\n  format: text\n";
        assert_eq!(
            restored(archived).unwrap(),
            b"id: t\nversion: 1.0.0\noutput:\n  format: text\n"
        );
        assert!(restored(b"id: t\n").is_err());
    }

    fn run(name: &str, finished_at: &str, halves: &[(&str, f64)]) -> CheckedRun {
        let summary = |run: &str, sha256: &str, score: f64| -> RunSummary {
            serde_json::from_value(serde_json::json!({
                "schema_version": 1, "run": run, "task": "t", "variant": "production",
                "prompt": {"path": "p", "version": "1.0.0", "sha256": sha256},
                "examples": {"path": "e", "sha256": "ex"}, "provider": "openai", "model": "m",
                "complete": true, "n": 10, "score": score, "threshold": 0.8, "passed": true,
                "passed_examples": 10, "errors": 0, "provider_errors": 0, "cached": 0,
                "tokens": {"input_tokens": 0, "output_tokens": 0}, "duration_ms": 0,
                "started_at": finished_at, "finished_at": finished_at, "log": format!("{run}.jsonl")
            }))
            .unwrap()
        };
        CheckedRun {
            summary: summary(name, halves[0].0, halves[0].1),
            baseline: halves
                .get(1)
                .map(|(sha256, score)| summary(&format!("{name}.baseline"), sha256, *score)),
            problems: Vec::new(),
        }
    }

    /// Regression: right after the bundled example's first promotion, rollback found no
    /// target although a complete passing eval of 1.2.0 was in `04-evals` (as the production
    /// half of the paired run).
    #[test]
    fn the_target_is_found_in_the_eval_logs_of_that_exact_prompt_including_a_baseline_half() {
        let runs = vec![
            run(
                "paired",
                "2026-12-02T10:00:00Z",
                &[("v13", 0.98), ("v12", 0.91)],
            ),
            run("old", "2026-11-01T10:00:00Z", &[("v11", 0.95)]),
        ];
        let archived = [
            ArchivedPrompt {
                version: "1.1.0".into(),
                sha256s: vec!["v11".into()],
            },
            ArchivedPrompt {
                version: "1.2.0".into(),
                sha256s: vec!["v12".into(), "v12-archived".into()],
            },
        ];
        let now = 1_900_000_000;
        let (version, found) = default_target(&archived, &runs, 0.85, now).unwrap();
        assert_eq!(version, "1.2.0");
        assert_eq!(found.half.run, "paired.baseline");
        // Under a stricter threshold only 1.1.0 passes; with a disagreeing log, none.
        assert_eq!(
            default_target(&archived, &runs, 0.93, now).unwrap().0,
            "1.1.0"
        );
        let mut inconsistent = runs.clone();
        for run in &mut inconsistent {
            run.problems.push(crate::domain::eval::evidence::Problem {
                field: "score",
                message: "x".into(),
            });
        }
        assert!(default_target(&archived, &inconsistent, 0.5, now).is_none());
    }
}
