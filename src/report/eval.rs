//! Eval results as a table, JSON, JUnit XML and Markdown.

use std::fmt::Write as _;
use std::io::{BufRead, Write as _};
use std::path::Path;

use serde_json::{Value, json};

use crate::commands::eval::TaskReport;
use crate::domain::eval::record::{Comparison, ExampleRecord, RunSummary};

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

pub fn json(reports: &[&TaskReport]) -> Value {
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

pub fn markdown(reports: &[&TaskReport]) -> String {
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
pub fn write_junit(
    root: &Path,
    path: &Path,
    reports: &[&TaskReport],
    examples_fail: bool,
) -> anyhow::Result<()> {
    let mut out = Vec::new();
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(out, "<testsuites name=\"promptops eval\">")?;
    for task in reports {
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
            crate::domain::layout::PROMPTS_DIR,
            crate::domain::layout::METADATA,
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
        let log = root
            .join(crate::domain::layout::PROMPTS_DIR)
            .join(crate::domain::layout::EVALS)
            .join(&s.task)
            .join(&s.log);
        let file = crate::adapters::fs::open_read_regular(&log)?;
        for line in std::io::BufReader::new(file).lines() {
            let Ok(record) = serde_json::from_str::<ExampleRecord>(&line?) else {
                continue;
            };
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
        }
        writeln!(out, "  </testsuite>")?;
    }
    writeln!(out, "</testsuites>")?;
    crate::adapters::fs::write_atomic(path, &out)
}
