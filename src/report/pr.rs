//! `report pr` as Markdown: one table of the changed tasks, then each task's gates and worst
//! examples, then what merging will do. The first line is the sticky comment's marker.

use crate::domain::outcome::PrReport;

/// The marker a workflow finds its own comment by.
pub const MARKER: &str = "<!-- promptops-report -->";

// Long on purpose: the comment top to bottom, section by section, as a reviewer reads it.
pub fn markdown(report: &PrReport) -> String {
    let mut text = format!("{MARKER}\n## promptops: what this pull request changes\n\n");
    if report.tasks.is_empty() {
        text.push_str(&format!("No task changed since `{}`.\n", report.base));
        return text;
    }
    text.push_str("| task | change | production | candidate | candidate − production (95% CI) | threshold | gates |\n|---|---|---|---|---|---|---|\n");
    for task in &report.tasks {
        let score = |pair: &Option<(String, f64)>| {
            pair.as_ref().map_or("—".to_owned(), |(version, score)| {
                format!("{score:.3} ({version})")
            })
        };
        let delta = task.delta.map_or("—".to_owned(), |(mean, [low, high], n)| {
            let arrow = if low > 0.0 {
                "▲"
            } else if high < 0.0 {
                "▼"
            } else {
                "≈"
            };
            format!("{arrow} {mean:+.3} ({low:+.3} … {high:+.3}), n = {n}")
        });
        let gates = if task.gates.is_empty() {
            "—".to_owned()
        } else {
            task.gates
                .iter()
                .map(|(name, passed, _)| {
                    format!(
                        "{} {name}",
                        match passed {
                            Some(true) => "✅",
                            Some(false) => "❌",
                            None => "➖",
                        }
                    )
                })
                .collect::<Vec<_>>()
                .join(" ")
        };
        text.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} | {} |\n",
            task.task,
            task.change,
            score(&task.production),
            score(&task.candidate),
            delta,
            task.threshold.map_or("—".to_owned(), |t| format!("{t:.2}")),
            gates
        ));
    }
    for task in &report.tasks {
        let failed: Vec<&(String, Option<bool>, String)> = task
            .gates
            .iter()
            .filter(|(_, passed, _)| *passed == Some(false))
            .collect();
        if failed.is_empty() && task.worst.is_empty() {
            continue;
        }
        text.push_str(&format!("\n### `{}`\n", task.task));
        for (name, _, evidence) in failed {
            text.push_str(&format!(
                "- ❌ **{name}**: {}\n",
                super::markdown_cell(evidence, 300)
            ));
        }
        if !task.worst.is_empty() {
            text.push_str("\n<details><summary>Examples where the candidate did worse</summary>\n\n| example | input | expected | candidate | production | Δ |\n|---|---|---|---|---|---|\n");
            for example in &task.worst {
                text.push_str(&format!(
                    "| {} | {} | {} | {} | {} | {:+.2} |\n",
                    super::markdown_cell(&example.id, 40),
                    super::markdown_cell(&example.input, 120),
                    super::markdown_cell(&example.expected, 80),
                    super::markdown_cell(&example.candidate, 80),
                    super::markdown_cell(&example.production, 80),
                    example.delta
                ));
            }
            text.push_str("\n</details>\n");
        }
    }
    text.push_str("\n### Merging will\n");
    let promotes: Vec<String> = report
        .tasks
        .iter()
        .filter(|task| task.promotes)
        .map(|task| {
            format!(
                "`{}` {} → {}",
                task.task,
                task.production
                    .as_ref()
                    .map_or("(new)", |(version, _)| version.as_str()),
                task.candidate
                    .as_ref()
                    .map_or("?", |(version, _)| version.as_str())
            )
        })
        .collect();
    if promotes.is_empty() {
        text.push_str("- promote nothing (no candidate passes every gate)\n");
    } else {
        text.push_str(&format!("- promote {}\n", promotes.join(", ")));
    }
    match (&report.deploy, promotes.is_empty()) {
        (Some(target), false) => text.push_str(&format!(
            "- build the new release's image and deploy it to `{target}`, then verify it and its scores (rolled back on a failure)\n"
        )),
        (Some(_), true) => text.push_str("- deploy nothing new\n"),
        (None, _) => text.push_str("- deploy nothing (no `deploy:` target in promptops.yaml)\n"),
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::outcome::{PrTask, WorstExample};

    #[test]
    fn a_regression_and_an_improvement_read_well() {
        let report = PrReport {
            base: "origin/main".into(),
            deploy: Some("prod/prompts".into()),
            tasks: vec![
                PrTask {
                    task: "classify-product-category".into(),
                    change: "candidate 1.2.0".into(),
                    production: Some(("1.1.0".into(), 0.981)),
                    candidate: Some(("1.2.0".into(), 0.906)),
                    threshold: Some(0.92),
                    delta: Some((-0.075, [-0.132, -0.019], 53)),
                    gates: vec![
                        ("valid".into(), Some(true), "validates strictly".into()),
                        ("newer".into(), Some(true), "1.2.0 > 1.1.0".into()),
                        (
                            "evidence".into(),
                            Some(true),
                            "run 20261202T101010Z-candidate".into(),
                        ),
                        (
                            "threshold".into(),
                            Some(false),
                            "score 0.906 < threshold 0.92".into(),
                        ),
                        (
                            "not-worse".into(),
                            Some(false),
                            "Δ = -0.075 (95% CI -0.132 … -0.019, n = 53); lower bound < −0.02"
                                .into(),
                        ),
                    ],
                    promotes: false,
                    worst: vec![
                        WorstExample {
                            id: "relay-g5v-1".into(),
                            input: r#"{"title":"Omron G5V-1 | 5 V signal relay, SPDT"}"#.into(),
                            expected: "electromechanical".into(),
                            candidate: "semiconductors\nbecause it switches".into(),
                            production: "electromechanical".into(),
                            delta: -1.0,
                        },
                        WorstExample {
                            id: "a-very-long-one".into(),
                            input: format!(r#"{{"title":"{}"}}"#, "x".repeat(300)),
                            expected: "cables-wires".into(),
                            candidate: "connectors".into(),
                            production: "cables-wires".into(),
                            delta: -1.0,
                        },
                    ],
                },
                PrTask {
                    task: "normalize-product-title".into(),
                    change: "candidate 1.3.0".into(),
                    production: Some(("1.2.0".into(), 0.914)),
                    candidate: Some(("1.3.0".into(), 0.981)),
                    threshold: Some(0.85),
                    delta: Some((0.066, [0.029, 0.106], 53)),
                    gates: vec![
                        ("valid".into(), Some(true), String::new()),
                        ("newer".into(), Some(true), String::new()),
                        ("evidence".into(), Some(true), String::new()),
                        ("threshold".into(), Some(true), String::new()),
                        ("not-worse".into(), Some(true), String::new()),
                    ],
                    promotes: true,
                    worst: vec![],
                },
            ],
        };
        insta::assert_snapshot!(markdown(&report));
    }
}
