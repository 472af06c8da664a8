//! `pipeline`'s job summary (under GitHub Actions, to `$GITHUB_STEP_SUMMARY`): one row per
//! stage with its outcome, time, and what it changed or why it was skipped.

use std::fmt::Write;

use crate::domain::outcome::PipelineOutcome;
use crate::domain::pipeline::StageOutcome;

pub fn step_summary(outcome: &PipelineOutcome, dry_run: bool) -> String {
    let mut text = format!(
        "## promptops pipeline{}\n\n| stage | outcome | time | what it changed, or why it was skipped |\n|---|---|---|---|\n",
        if dry_run { " (dry run)" } else { "" }
    );
    for stage in &outcome.stages {
        let mark = match stage.outcome {
            StageOutcome::Passed => "✅",
            StageOutcome::Skipped => "⏭️",
            StageOutcome::Planned => "📝",
            StageOutcome::Failed | StageOutcome::TimedOut => "❌",
        };
        let time = if stage.outcome == StageOutcome::Skipped {
            String::new()
        } else {
            format!("{:.1} s", stage.duration_ms as f64 / 1000.0)
        };
        let detail = stage
            .skip_reason
            .clone()
            .unwrap_or_else(|| stage.changed.join("; "));
        let _ = writeln!(
            text,
            "| {} | {mark} {} | {time} | {} |",
            stage.stage,
            stage.outcome,
            super::markdown_cell(&detail, 200)
        );
    }
    if let Some((stage, code)) = &outcome.failed {
        let _ = writeln!(text, "\nStopped at **{stage}** (exit {code}).");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::pipeline::LogLine;

    fn line(stage: &str, outcome: &str, changed: &[&str], skip: Option<&str>) -> LogLine {
        LogLine {
            run: "r".to_owned(),
            stage: serde_json::from_value(serde_json::json!(stage)).unwrap(),
            started: "s".to_owned(),
            duration_ms: 1234,
            outcome: serde_json::from_value(serde_json::json!(outcome)).unwrap(),
            inputs: "h".to_owned(),
            commands: Vec::new(),
            changed: changed.iter().map(|c| (*c).to_owned()).collect(),
            skip_reason: skip.map(str::to_owned),
            exit_code: None,
        }
    }

    #[test]
    fn each_stage_is_a_row_and_a_failure_says_where_it_stopped() {
        let outcome = PipelineOutcome {
            stages: vec![
                line(
                    "validate",
                    "skipped",
                    &[],
                    Some("its inputs | are those of run x"),
                ),
                line("promote", "passed", &["promoted a", "promoted b"], None),
                line("image", "failed", &[], None),
            ],
            failed: Some(("image".to_owned(), 3)),
        };
        assert_eq!(
            step_summary(&outcome, false),
            "## promptops pipeline\n\n| stage | outcome | time | what it changed, or why it was skipped |\n|---|---|---|---|\n\
             | validate | ⏭️ skipped |  | its inputs \\| are those of run x |\n\
             | promote | ✅ passed | 1.2 s | promoted a; promoted b |\n\
             | image | ❌ failed | 1.2 s |  |\n\
             \nStopped at **image** (exit 3).\n"
        );
    }
}
