//! `promptops pipeline` as values: the stages in order, which of them a run takes
//! (`--from`, `--until`, `--only`), the content hash of each stage's inputs, whether a stage
//! can be skipped (its last successful run had the same inputs), and the log line of a stage.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The stages, in the order they run.
pub const STAGES: [&str; 7] = [
    "validate", "eval", "gate", "promote", "image", "deploy", "verify",
];

/// The log every run appends to, one line per stage.
pub const LOG_FILE: &str = "prompts/04-evals/pipeline-log.jsonl";
const _: () =
    assert!(LOG_FILE.len() == "prompts/04-evals/".len() + super::layout::PIPELINE_LOG.len());

/// The stages a run takes, in order.
pub fn selected(
    from: Option<&str>,
    until: Option<&str>,
    only: Option<&str>,
) -> Result<Vec<&'static str>, String> {
    let index = |name: &str| {
        STAGES
            .iter()
            .position(|stage| *stage == name)
            .ok_or_else(|| {
                format!(
                    "`{name}` is not a stage; the stages are: {}",
                    STAGES.join(", ")
                )
            })
    };
    if let Some(only) = only {
        return Ok(vec![STAGES[index(only)?]]);
    }
    let start = from.map(index).transpose()?.unwrap_or(0);
    let end = until.map(index).transpose()?.unwrap_or(STAGES.len() - 1);
    if start > end {
        return Err(format!(
            "--from {} comes after --until {}",
            STAGES[start], STAGES[end]
        ));
    }
    Ok(STAGES[start..=end].to_vec())
}

/// A stage's inputs: named parts (file paths with their sha256, settings), hashed in order.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    parts: BTreeMap<String, String>,
}

impl Inputs {
    pub fn add(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.parts.insert(name.into(), value.into());
    }

    /// sha256 over every part in name order.
    pub fn hash(&self) -> String {
        let mut hasher = Sha256::new();
        for (name, value) in &self.parts {
            hasher.update(name.as_bytes());
            hasher.update([0]);
            hasher.update(value.as_bytes());
            hasher.update([b'\n']);
        }
        super::source::sha256_hex_of_digest(&hasher.finalize())
    }
}

/// One line of the pipeline log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    pub run: String,
    pub stage: String,
    pub started: String,
    pub duration_ms: u64,
    /// `passed`, `failed`, `skipped`, `timed-out`.
    pub outcome: String,
    /// The sha256 of the stage's inputs.
    pub inputs: String,
    /// The commands the stage ran.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<String>,
    /// What it changed (tasks promoted, image pushed, revision deployed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
}

/// Why a stage may be skipped: its newest passed run had these same inputs.
pub fn skip_reason(log: &[LogLine], stage: &str, inputs: &str) -> Option<String> {
    let last = log
        .iter()
        .rev()
        .find(|line| line.stage == stage && line.outcome == "passed")?;
    (last.inputs == inputs).then(|| {
        format!(
            "its inputs (sha256 {}) are those of its passed run {} at {}",
            &inputs[..12],
            last.run,
            last.started
        )
    })
}

/// The log's lines; lines that do not read are passed over (the log is a record, not input).
/// The records of a pipeline log, and the lines that are not records (a run killed mid-line,
/// conflict markers from a merge) by number with what is wrong with them. Such a line only
/// costs a skip: the stages run again.
pub fn read_log(text: &str) -> (Vec<LogLine>, Vec<(usize, String)>) {
    let mut records = Vec::new();
    let mut problems = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(line) {
            Ok(record) => records.push(record),
            Err(error) => problems.push((index + 1, error.to_string())),
        }
    }
    (records, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_line_that_is_not_a_record_is_named_by_its_number() {
        let good = r#"{"run":"r","stage":"eval","started":"s","duration_ms":1,"outcome":"passed","inputs":"h","commands":[],"changed":[],"skip_reason":null,"exit_code":0}"#;
        let text = format!("{good}\n\n<<<<<<< HEAD\n{good}\n{{\"run\": 1}}\n");
        let (records, problems) = read_log(&text);
        assert_eq!(records.len(), 2);
        let numbers: Vec<usize> = problems.iter().map(|(line, _)| *line).collect();
        assert_eq!(numbers, [3, 5]);
    }

    #[test]
    fn from_until_and_only_select_stages() {
        assert_eq!(
            selected(None, Some("gate"), None).unwrap(),
            ["validate", "eval", "gate"]
        );
        assert_eq!(
            selected(Some("image"), None, None).unwrap(),
            ["image", "deploy", "verify"]
        );
        assert_eq!(selected(None, None, Some("promote")).unwrap(), ["promote"]);
        assert!(selected(Some("deploy"), Some("eval"), None).is_err());
        assert!(
            selected(Some("nope"), None, None)
                .unwrap_err()
                .contains("the stages are")
        );
    }

    #[test]
    fn a_stage_is_skipped_only_when_its_last_pass_had_the_same_inputs() {
        let line = |outcome: &str, inputs: &str| LogLine {
            run: "r".into(),
            stage: "eval".into(),
            started: "t".into(),
            duration_ms: 1,
            outcome: outcome.into(),
            inputs: inputs.into(),
            commands: vec![],
            changed: vec![],
            skip_reason: None,
            exit_code: Some(0),
        };
        let hash = "a".repeat(64);
        let other = "b".repeat(64);
        assert!(skip_reason(&[line("passed", &hash)], "eval", &hash).is_some());
        assert!(skip_reason(&[line("passed", &hash)], "eval", &other).is_none());
        assert!(skip_reason(&[line("failed", &hash)], "eval", &hash).is_none());
        assert!(skip_reason(&[line("passed", &hash)], "gate", &hash).is_none());
        let mut one = Inputs::default();
        one.add("a", "1");
        let mut two = Inputs::default();
        two.add("a", "2");
        assert_ne!(one.hash(), two.hash());
    }
}
