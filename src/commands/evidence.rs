//! A task's eval runs as evidence: each summary read with its log (and its baseline half's),
//! checked and its figures recomputed in `domain::eval::evidence`, newest first by recorded
//! time. Every command that decides on evals (promote and its gates, rollback, report pr)
//! reads them here.

use std::path::Path;

use crate::adapters::{self, eval_store};
use crate::domain::diagnostic::{Code, Diagnostic, Position};
use crate::domain::eval::evidence::{self, CheckedRun, TodaysExamples};
use crate::domain::eval::record::RunSummary;
use crate::domain::layout;

/// A checked run and its summary's repository-relative path.
pub(super) struct FoundRun {
    pub(super) path: String,
    pub(super) run: CheckedRun,
}

/// The runs of `task` that `wanted` keeps, checked against their logs and today's examples
/// (`examples`: the examples file's repository-relative path and sha256), newest first.
pub(super) fn checked_runs(
    root: &Path,
    task: &str,
    examples: Option<(&str, &str)>,
    wanted: impl Fn(&RunSummary) -> bool,
) -> anyhow::Result<Vec<FoundRun>> {
    let dir = eval_store::task_dir(root, task);
    let stored: Vec<_> = eval_store::summaries(&dir)?
        .into_iter()
        .filter(|(_, summary)| !summary.is_baseline_half() && wanted(summary))
        .collect();
    // Today's ids are read only when some run was made on today's examples.
    let ids = match examples {
        Some((path, sha256))
            if stored
                .iter()
                .any(|(_, summary)| summary.examples.sha256 == sha256) =>
        {
            Some(eval_store::example_ids(&root.join(path))?)
        }
        _ => None,
    };
    let today = examples
        .zip(ids.as_ref())
        .map(|((_, sha256), ids)| TodaysExamples { sha256, ids });
    let mut found = Vec::with_capacity(stored.len());
    // `summaries` gives them oldest first (`evidence::newest_first`, reversed).
    for (path, summary) in stored.into_iter().rev() {
        let run = evidence::check(eval_store::stored_run(&dir, summary)?, today);
        found.push(FoundRun {
            path: adapters::fs::relative_path(root, &path),
            run,
        });
    }
    Ok(found)
}

/// `validate`'s view of `prompts/04-evals/`: every complete run whose summary disagrees with
/// its log (no log, a changed log, figures that do not recompute, a log that does not hold
/// today's examples once each) is an error at its summary, at the line of the field at fault.
/// The texts of those summaries are added to `sources` so the finding shows its line.
pub(super) fn findings(
    root: &Path,
    analysis: &crate::domain::analysis::Analysis,
    sources: &mut std::collections::HashMap<String, String>,
) -> anyhow::Result<Vec<Diagnostic>> {
    let evals = format!("{}/{}/", layout::PROMPTS_DIR, layout::EVALS);
    let folders: std::collections::BTreeSet<&str> = analysis
        .files
        .iter()
        .filter(|path| path.ends_with(eval_store::SUMMARY_SUFFIX))
        .filter_map(|path| path.strip_prefix(evals.as_str())?.split_once('/'))
        .map(|(task, _)| task)
        .filter(|task| layout::is_slug(task))
        .collect();
    let mut findings = Vec::new();
    for task in folders {
        let examples = analysis
            .tasks
            .get(task)
            .and_then(|entry| entry.examples.as_ref())
            .map(|entry| (entry.path.as_str(), entry.sha256.as_str()));
        let dir = eval_store::task_dir(root, task);
        // Today's ids, read once for the task when a run was made on today's examples.
        let mut today_ids: Option<std::collections::BTreeSet<String>> = None;
        for (path, summary) in eval_store::summaries(&dir)? {
            if summary.is_baseline_half() || !summary.complete {
                continue;
            }
            let file = adapters::fs::relative_path(root, &path);
            let mut problems = Vec::new();
            if summary.task != task {
                problems.push(evidence::Problem {
                    field: "task",
                    message: format!(
                        "it is a run of task `{}` in the folder of `{task}`",
                        summary.task
                    ),
                });
            }
            if let Some((examples_path, sha256)) = examples
                && summary.examples.sha256 == sha256
                && today_ids.is_none()
            {
                today_ids = Some(eval_store::example_ids(&root.join(examples_path))?);
            }
            let today = examples
                .zip(today_ids.as_ref())
                .map(|((_, sha256), ids)| TodaysExamples { sha256, ids });
            problems
                .extend(evidence::check(eval_store::stored_run(&dir, summary)?, today).problems);
            if problems.is_empty() {
                continue;
            }
            let text = String::from_utf8_lossy(&adapters::fs::read_regular(
                &path,
                layout::YAML_SIZE_LIMIT,
            )?)
            .into_owned();
            for problem in problems {
                let line = text
                    .lines()
                    .position(|line| {
                        line.trim_start()
                            .starts_with(&format!("\"{}\"", problem.field))
                    })
                    .map_or(1, |index| index + 1);
                let column = text
                    .lines()
                    .nth(line - 1)
                    .map_or(1, |line| line.len() - line.trim_start().len() + 1);
                findings.push(
                    Diagnostic::error(
                        Code::EvalRunInconsistent,
                        &file,
                        Position::new(line, column),
                        format!("this eval run is not evidence: {problem}"),
                    )
                    .with_hint(
                        "eval summaries and logs are written by `promptops eval`; restore both \
                         from git, or delete the run and evaluate again",
                    )
                    .for_task(task),
                );
            }
            sources.insert(file, text);
        }
    }
    Ok(findings)
}
