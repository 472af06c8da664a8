//! Eval results as a table, JSON, JUnit XML and Markdown, and the messages about how the runs
//! went.

use std::fmt::Write as _;
use std::io::Write as _;

use serde_json::{Value, json};

use crate::domain::eval::outcome::{EvalOutcome, TaskOutcome};
use crate::domain::eval::record::{Comparison, ExampleRecord, Gate, RunSummary};
use crate::domain::layout;

use super::{Printer, TableFormat, human};

/// Messages on stderr, then the results on stdout.
pub fn render(
    outcome: &EvalOutcome,
    format: TableFormat,
    printer: &mut Printer<'_>,
) -> std::io::Result<()> {
    if let Some(shown) = &outcome.blocked {
        super::findings(printer, shown)?;
        return super::error(
            printer.err,
            &format!(
                "{} in the files this eval needs; nothing was sent",
                human::count_phrase(shown.findings.len(), 0)
            ),
            Some("fix them (`promptops validate` lists every problem), then run the eval again"),
        );
    }
    for note in &outcome.notes {
        writeln!(printer.err, "{note}")?;
    }
    for task in &outcome.tasks {
        messages(task, printer.err)?;
    }
    // A start that got no answer has no score to show; its errors were printed.
    let ran = outcome.ran();
    match format {
        TableFormat::Json => {
            super::json(printer, &json(&ran))?;
        }
        TableFormat::Table if ran.is_empty() => {}
        TableFormat::Table => {
            let summaries: Vec<&RunSummary> = ran.iter().map(|task| &task.summary).collect();
            write!(printer.out, "{}", table(&summaries))?;
            for task in &ran {
                if let Some(comparison) = &task.summary.comparison {
                    write!(
                        printer.out,
                        "{}",
                        comparison_text(&task.summary.task, comparison)
                    )?;
                }
            }
        }
    }
    Ok(())
}

/// What went wrong in one task's run, and a shard's score that gates only when merged.
pub(super) fn messages(task: &TaskOutcome, err: &mut dyn std::io::Write) -> std::io::Result<()> {
    let summary = &task.summary;
    if let Some(fatal) = &task.fatal {
        writeln!(err, "error: {}: {}", summary.task, fatal.message)?;
    }
    if let Some(problem) = &task.cut_short {
        writeln!(
            err,
            "error: {}: the run is incomplete: {problem}",
            summary.task
        )?;
    }
    if task.ran && task.gate() == Gate::AtMerge {
        writeln!(
            err,
            "{}: shard {} scored {:.3} on {} examples; the gate is decided when the shards are merged (`promptops eval merge`)",
            summary.task,
            summary.shard.map(|s| s.to_string()).unwrap_or_default(),
            summary.score,
            summary.n
        )?;
    }
    for line in &task.error_lines {
        writeln!(err, "error: {line}")?;
    }
    if summary.errors > task.error_lines.len() as u64 {
        writeln!(
            err,
            "error: … and {} more failed examples of `{}` (each is in the run's log)",
            summary.errors - task.error_lines.len() as u64,
            summary.task
        )?;
    }
    Ok(())
}

fn seconds(ms: u64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

fn cost(summary: &RunSummary) -> String {
    summary.cost_usd.map_or_else(
        || "-".to_owned(),
        // Small evals cost fractions of a cent; show them rather than $0.0000.
        |cost| {
            if cost < 0.01 {
                format!("${cost:.6}")
            } else {
                format!("${cost:.4}")
            }
        },
    )
}

fn verdict(summary: &RunSummary) -> &'static str {
    if !summary.complete {
        "incomplete"
    } else if summary.shard.is_some() && summary.n == 0 {
        "empty"
    } else if summary.passed {
        "pass"
    } else {
        "FAIL"
    }
}

/// One row per run.
pub fn table(summaries: &[&RunSummary]) -> String {
    let rows: Vec<Vec<String>> = summaries
        .iter()
        .map(|summary| {
            vec![
                summary.task.clone(),
                format!("{} {}", summary.variant.as_str(), summary.prompt.version),
                format!("{:.3}", summary.score),
                format!("{}", summary.threshold),
                verdict(summary).to_owned(),
                match summary.shard {
                    Some(shard) => format!("{} (shard {shard})", summary.n),
                    None => summary.n.to_string(),
                },
                summary.errors.to_string(),
                summary.cached.to_string(),
                seconds(summary.duration_ms),
                (summary.tokens.input_tokens + summary.tokens.output_tokens).to_string(),
                cost(summary),
            ]
        })
        .collect();
    super::human::table(
        &[
            "TASK",
            "PROMPT",
            "SCORE",
            "THRESHOLD",
            "RESULT",
            "N",
            "ERRORS",
            "CACHED",
            "TIME",
            "TOKENS",
            "COST",
        ],
        &rows,
    )
}

pub fn comparison_text(task: &str, comparison: &Comparison) -> String {
    format!(
        "{task}: candidate − production {} = {:+.3} (95% CI {:+.3} to {:+.3}, n = {}); only candidate passed {}, only baseline passed {}, McNemar p = {:.4}\n",
        comparison.baseline.version,
        comparison.mean_difference,
        comparison.interval_95[0],
        comparison.interval_95[1],
        comparison.n,
        comparison.candidate_only_passed,
        comparison.baseline_only_passed,
        comparison.mcnemar_p,
    )
}

pub fn json(reports: &[&TaskOutcome]) -> Value {
    let runs: Vec<Value> = reports
        .iter()
        .map(|task| {
            json!({
                "summary_path": task.summary_path,
                "summary": task.summary,
                "baseline": task.baseline,
                "interrupted": task.interrupted,
                "error": task.fatal.as_ref().map(|fatal| fatal.message.clone()),
                "error_lines": task.error_lines,
            })
        })
        .collect();
    json!({ "runs": runs })
}

/// The Markdown summary (for `$GITHUB_STEP_SUMMARY`); with no task run, what the notes say
/// (e.g. that no task changed) instead of an empty table.
pub fn markdown(reports: &[&TaskOutcome], notes: &[String]) -> String {
    if reports.is_empty() {
        let mut out = String::from("## promptops eval\n\n");
        for note in notes {
            let _ = writeln!(out, "{note}\n");
        }
        if notes.is_empty() {
            out.push_str("Nothing was evaluated.\n");
        }
        return out;
    }
    let mut out = String::from(
        "## promptops eval\n\n| task | prompt | score | threshold | result | n | errors | time | cost |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for task in reports {
        let s = &task.summary;
        let _ = writeln!(
            out,
            "| `{}` | {} {} | {:.3} | {} | {} | {} | {} | {} | {} |",
            s.task,
            s.variant.as_str(),
            s.prompt.version,
            s.score,
            s.threshold,
            if s.passed {
                "✅ pass"
            } else if s.complete {
                "❌ fail"
            } else {
                "⏸ incomplete"
            },
            s.n,
            s.errors,
            seconds(s.duration_ms),
            cost(s)
        );
    }
    for task in reports {
        if let Some(comparison) = &task.summary.comparison {
            out.push('\n');
            out.push_str(&comparison_text(
                &format!("`{}`", task.summary.task),
                comparison,
            ));
        }
    }
    out
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 cannot carry most control characters at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// JUnit XML that agrees with the gate: per task one test case that fails exactly when the
/// task's gate fails, then one case per example, streamed from the run log. A failing example
/// is shown (its reasons in `system-out`) without turning the suite red, unless
/// `examples_fail` asks for that. Cases carry `file` and `line`; a suite's time is its run's.
///
/// `records[i]` are the logged records of `reports[i]`'s run.
pub fn junit(
    reports: &[&TaskOutcome],
    records: &[Vec<ExampleRecord>],
    examples_fail: bool,
) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(out, "<testsuites name=\"promptops eval\">")?;
    for (task, records) in reports.iter().zip(records) {
        let s = &task.summary;
        let gate_failed = !s.gate(task.baseline.as_ref()).passes();
        let example_failures = if examples_fail {
            s.n - s.passed_examples - s.errors
        } else {
            0
        };
        writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{:.3}\" timestamp=\"{}\">",
            escape(&format!(
                "{} {} {}",
                s.task,
                s.variant.as_str(),
                s.prompt.version
            )),
            s.n + 1,
            example_failures + u64::from(gate_failed),
            s.errors,
            s.duration_ms as f64 / 1000.0,
            escape(&s.started_at),
        )?;
        let metadata = format!(
            "{}/{}/{}.yaml",
            layout::PROMPTS_DIR,
            layout::METADATA,
            s.task
        );
        write!(
            out,
            "    <testcase classname=\"{}\" name=\"gate: score {:.3} &gt;= threshold {}\" file=\"{}\" line=\"1\" time=\"{:.3}\"",
            escape(&s.task),
            s.score,
            s.threshold,
            escape(&metadata),
            s.duration_ms as f64 / 1000.0
        )?;
        if gate_failed {
            let why = if !s.complete {
                "the run is incomplete".to_owned()
            } else if s.provider_errors > 0 {
                format!("{} examples failed at the provider", s.provider_errors)
            } else {
                format!(
                    "score {:.3} is below the threshold {}",
                    s.score, s.threshold
                )
            };
            writeln!(
                out,
                ">\n      <failure message=\"{}\"/>\n    </testcase>",
                escape(&why)
            )?;
        } else {
            writeln!(out, "/>")?;
        }
        for record in records {
            junit_example(&mut out, s, record, examples_fail)?;
        }
        writeln!(out, "  </testsuite>")?;
    }
    writeln!(out, "</testsuites>")?;
    Ok(out)
}

/// One example's test case: an error, a failure (with `examples_fail`) or a note.
fn junit_example(
    out: &mut Vec<u8>,
    s: &RunSummary,
    record: &ExampleRecord,
    examples_fail: bool,
) -> std::io::Result<()> {
    let time = record.latency_ms.unwrap_or(0) as f64 / 1000.0;
    write!(
        out,
        "    <testcase classname=\"{}\" name=\"{}\" file=\"{}\" line=\"{}\" time=\"{time:.3}\"",
        escape(&s.task),
        escape(&record.id),
        escape(&s.examples.path),
        record.line
    )?;
    if let Some(error) = &record.error {
        writeln!(
            out,
            ">\n      <error message=\"{}\"/>\n    </testcase>",
            escape(&error.message)
        )?;
    } else if !record.pass {
        let reasons: Vec<String> = record
            .scores
            .iter()
            .filter(|score| !score.pass)
            .map(|score| format!("{}: {}", score.scorer, score.reason))
            .collect();
        let message = format!("score {:.3}", record.score);
        if examples_fail {
            writeln!(
                out,
                ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                escape(&message),
                escape(&reasons.join("\n"))
            )?;
        } else {
            writeln!(
                out,
                ">\n      <system-out>{}</system-out>\n    </testcase>",
                escape(&format!(
                    "{message} (below the example's pass mark)\n{}",
                    reasons.join("\n")
                ))
            )?;
        }
    } else {
        writeln!(out, "/>")?;
    }
    Ok(())
}
