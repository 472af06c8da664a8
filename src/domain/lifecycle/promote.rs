//! Promotion as a plan: the file changes, the history event, the commit message and the tag
//! that move a candidate to production. Pure: the command gathers the values, checks the plan
//! by analysing the repository as it would be after it, and carries it out.

use super::gate::{GateName, GateOutcome, GateResult};
use crate::domain::eval::record::RunSummary;
use crate::domain::layout;
use crate::domain::model::{EventKind, HistoryEvent, PromotionEvidence};
use crate::domain::plan::{FileRemoval, FileWrite};
use crate::domain::trailers::{self, Trailer};

/// The files of the task as they are now.
pub struct TaskFiles<'a> {
    pub task: &'a str,
    pub candidate_path: &'a str,
    pub candidate_bytes: &'a [u8],
    pub candidate_sha256: &'a str,
    pub candidate_version: &'a str,
    /// Path, bytes and version of the production prompt, when there is one.
    pub production: Option<(&'a str, &'a [u8], &'a str)>,
    pub metadata_path: &'a str,
    pub metadata_text: &'a str,
}

/// Who decided, when, and why (an override's reason).
pub struct Decision<'a> {
    pub at: &'a str,
    pub by: &'a str,
    pub reason: Option<&'a str>,
    pub gates: &'a [GateResult],
    pub evidence: Option<&'a RunSummary>,
    pub evidence_path: Option<&'a str>,
}

impl Decision<'_> {
    /// The gates that failed (and were overridden, when the promotion goes ahead).
    pub fn failed(&self) -> Vec<&'static str> {
        self.gates
            .iter()
            .filter(|gate| gate.outcome == GateOutcome::Fail)
            .map(|gate| gate.gate.as_str())
            .collect()
    }
}

/// The file changes of a promotion: the candidate becomes production, the old production is
/// archived with a note, the metadata's `version` follows. Errors say what cannot be planned.
pub fn plan_files(
    files: &TaskFiles<'_>,
    decision: &Decision<'_>,
) -> Result<(Vec<FileWrite>, Vec<FileRemoval>), String> {
    let task = files.task;
    let mut writes = vec![FileWrite::new(
        format!("{}/{}/{task}.yaml", layout::PROMPTS_DIR, layout::PRODUCTION),
        files.candidate_bytes.to_vec(),
    )];
    if let Some((_, bytes, version)) = files.production {
        let archived = super::archived_copy(
            bytes,
            &format!("superseded by {}", files.candidate_version),
            decision.at,
            decision.by,
        )?;
        writes.push(FileWrite::new(super::archive_path(task, version), archived));
    }
    writes.push(FileWrite::new(
        files.metadata_path.to_owned(),
        set_version(files.metadata_text, files.candidate_version)?.into_bytes(),
    ));
    let removals = vec![FileRemoval {
        path: files.candidate_path.to_owned(),
        sha256: files.candidate_sha256.to_owned(),
    }];
    Ok((writes, removals))
}

/// A YAML text (metadata or prompt) with its top-level `version:` set, everything else (comments included)
/// left as it is.
pub fn set_version(text: &str, version: &str) -> Result<String, String> {
    let mut found = false;
    let mut out = String::with_capacity(text.len() + 8);
    for line in text.split_inclusive('\n') {
        if !found && line.starts_with("version:") {
            found = true;
            let end = if line.ends_with("\r\n") {
                "\r\n"
            } else if line.ends_with('\n') {
                "\n"
            } else {
                ""
            };
            out.push_str(&format!("version: {version}{end}"));
        } else {
            out.push_str(line);
        }
    }
    if found {
        Ok(out)
    } else {
        Err("the metadata has no top-level `version:` line to update".to_owned())
    }
}

/// The history event of the promotion, with the evidence that decided it and the plan's id.
pub fn event(files: &TaskFiles<'_>, decision: &Decision<'_>, plan: &str) -> HistoryEvent {
    let failed = decision.failed();
    let evidence = decision.evidence.map(|summary| {
        let comparison = summary.comparison.as_ref();
        PromotionEvidence {
            score: summary.score,
            threshold: summary.threshold,
            n: summary.n,
            delta: comparison.map(|c| c.mean_difference),
            interval_95: comparison.map(|c| c.interval_95),
            mcnemar_p: comparison.map(|c| c.mcnemar_p),
            summary: decision.evidence_path.unwrap_or_default().to_owned(),
            overridden: failed.iter().map(|gate| (*gate).to_owned()).collect(),
        }
    });
    HistoryEvent {
        event: if failed.is_empty() {
            EventKind::Promote
        } else {
            EventKind::Override
        },
        version: files.candidate_version.to_owned(),
        at: decision.at.to_owned(),
        by: decision.by.to_owned(),
        reason: decision.reason.map(str::to_owned),
        commit: None,
        from: files.production.map(|(_, _, version)| version.to_owned()),
        evidence,
        plan: Some(plan.to_owned()),
        deployment: None,
    }
}

/// The commit message (with trailers) and the annotated tag of the promotion.
pub fn commit_and_tag(files: &TaskFiles<'_>, decision: &Decision<'_>) -> (String, String, String) {
    let task = files.task;
    let to = files.candidate_version;
    let from = files.production.map_or("none", |(_, _, version)| version);
    let failed = decision.failed();
    let score = decision.evidence.map_or_else(
        || "none".to_owned(),
        |summary| format!("{:.4}", summary.score),
    );
    let mut message = format!("promote {task} {to}\n\n");
    for gate in decision.gates {
        let mark = match gate.outcome {
            GateOutcome::Pass => "pass",
            GateOutcome::Fail => "FAIL",
            GateOutcome::NotApplicable => "n/a",
        };
        message.push_str(&format!(
            "{}: {mark}: {}\n",
            gate.gate.as_str(),
            gate.evidence
        ));
    }
    let decided = if failed.is_empty() {
        "promote"
    } else {
        "override"
    };
    let mut lines = vec![
        (Trailer::Task, task),
        (Trailer::From, from),
        (Trailer::To, to),
        (Trailer::Score, score.as_str()),
        (Trailer::Decision, decided),
    ];
    let overridden = decision
        .reason
        .filter(|_| !failed.is_empty())
        .map(|reason| format!("{} ({reason})", failed.join(", ")));
    if let Some(overridden) = &overridden {
        lines.push((Trailer::Override, overridden));
    }
    message.push('\n');
    message.push_str(&trailers::block(&lines));
    let tag = tag_name(task, to);
    let tag_message = format!("{task} {to} in production (score {score})\n");
    (message, tag, tag_message)
}

/// The tag a promotion of `task` to `version` makes.
pub fn tag_name(task: &str, version: &str) -> String {
    format!("prompt/{task}/v{version}")
}

/// Whether the gates allow the promotion: all pass, or `--force` overrides every failure
/// except `valid`.
pub fn allowed(gates: &[GateResult], force: bool) -> bool {
    gates.iter().all(|gate| match gate.outcome {
        GateOutcome::Pass | GateOutcome::NotApplicable => true,
        GateOutcome::Fail => force && gate.gate != GateName::Valid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metadata_version_is_set_and_nothing_else_moves() {
        let text = "# comment\nid: t\nversion: 1.0.0 # old\ninputs: {}\n  version: nested\n";
        assert_eq!(
            set_version(text, "1.1.0").unwrap(),
            "# comment\nid: t\nversion: 1.1.0\ninputs: {}\n  version: nested\n"
        );
        assert!(set_version("{id: t, version: 1.0.0}\n", "1.1.0").is_err());
    }

    #[test]
    fn valid_is_never_overridden() {
        let gate = |gate, outcome| GateResult {
            gate,
            outcome,
            evidence: String::new(),
            hint: None,
        };
        let threshold_failed = [
            gate(GateName::Valid, GateOutcome::Pass),
            gate(GateName::Threshold, GateOutcome::Fail),
        ];
        assert!(!allowed(&threshold_failed, false));
        assert!(allowed(&threshold_failed, true));
        let invalid = [gate(GateName::Valid, GateOutcome::Fail)];
        assert!(!allowed(&invalid, true));
    }
}
