//! Scorers: each turns a model's answer into a score in [0, 1], a pass/fail and a reason.
//!
//! A scorer's `options` are a serde type per scorer (`options.rs`), read once when the
//! metadata is read (`compile`), so a typo in an option is a finding with a line number, not a
//! silent default halfway through a run. The scorers live by family: `text` (exact, contains,
//! regex, similarity), `json` (`json_valid`, `json_schema`, `json_fields`), `numeric`, `budget`
//! (latency, cost); `llm_judge` reads the judge's verdict here, the judge's request is in
//! `eval/judge.rs`.

mod budget;
mod json;
mod numeric;
pub mod options;
mod text;

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::judge::{JudgeSpec, Verdict};
use crate::domain::model::{ScorerName, ScorerSpec};
pub use options::{OptionError, ScorerOptions, SimilarityMethod};
pub use text::{edit_similarity, token_f1};

/// How text is normalised before it is compared.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Normalize {
    pub ignore_case: bool,
    pub trim: bool,
    pub whitespace: bool,
    pub punctuation: bool,
}

impl Normalize {
    pub fn apply(self, text: &str) -> String {
        let mut out: String = if self.punctuation {
            text.chars()
                .filter(|c| c.is_alphanumeric() || c.is_whitespace())
                .collect()
        } else {
            text.to_owned()
        };
        if self.ignore_case {
            out = out.to_lowercase();
        }
        if self.whitespace {
            out = out.split_whitespace().collect::<Vec<_>>().join(" ");
        } else if self.trim {
            out = out.trim().to_owned();
        }
        out
    }
}

#[derive(Clone, Debug)]
pub enum Kind {
    Exact(Normalize),
    Contains {
        needles: Option<Vec<String>>,
        any: bool,
        normalize: Normalize,
        negate: bool,
    },
    Regex(Regex),
    JsonValid,
    /// `None`: the prompt's own `output.schema`.
    JsonSchema(Option<Box<jsonschema::Validator>>),
    JsonFields(Vec<Field>),
    Similarity {
        method: SimilarityMethod,
        normalize: Normalize,
        threshold: f64,
    },
    Numeric {
        tolerance: f64,
        relative: bool,
    },
    LlmJudge(JudgeSpec),
    Latency {
        max_ms: f64,
    },
    Cost {
        max_usd: f64,
    },
}

/// One field of a `json_fields` scorer.
#[derive(Clone, Debug)]
pub struct Field {
    pub name: String,
    pub weight: f64,
    pub kind: Kind,
}

/// A scorer ready to run.
#[derive(Clone, Debug)]
pub struct Scorer {
    pub name: ScorerName,
    pub weight: f64,
    pub kind: Kind,
}

/// The result of one scorer on one answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoreResult {
    pub scorer: String,
    pub weight: f64,
    pub score: f64,
    pub pass: bool,
    pub reason: String,
}

/// What a scorer looks at.
pub struct Observation<'a> {
    pub output: &'a str,
    pub expected: &'a Value,
    pub latency_ms: u64,
    pub cost_usd: Option<f64>,
    /// The prompt's `output.schema`, compiled.
    pub output_schema: Option<&'a jsonschema::Validator>,
}

/// An example's score: the weighted mean, and whether every weighted scorer passed.
#[derive(Clone, Debug, PartialEq)]
pub struct ExampleScore {
    pub score: f64,
    pub pass: bool,
    pub results: Vec<ScoreResult>,
}

pub fn scorer_name(name: ScorerName) -> &'static str {
    match name {
        ScorerName::Exact => "exact",
        ScorerName::Contains => "contains",
        ScorerName::NotContains => "not_contains",
        ScorerName::Regex => "regex",
        ScorerName::JsonValid => "json_valid",
        ScorerName::JsonSchema => "json_schema",
        ScorerName::JsonFields => "json_fields",
        ScorerName::Similarity => "similarity",
        ScorerName::Numeric => "numeric",
        ScorerName::LlmJudge => "llm_judge",
        ScorerName::Latency => "latency",
        ScorerName::Cost => "cost",
    }
}

/// Reads a scorer's options (refusing unknown ones, wrong types and values out of range) and
/// compiles what needs compiling (patterns, schemas).
pub fn compile(spec: &ScorerSpec) -> Result<Scorer, OptionError> {
    let empty = Map::new();
    let options = spec.options.as_ref().unwrap_or(&empty);
    let kind = compile_kind(spec.name, options, "")?;
    Ok(Scorer {
        name: spec.name,
        weight: spec.weight,
        kind,
    })
}

fn compile_kind(
    name: ScorerName,
    options: &Map<String, Value>,
    at: &str,
) -> Result<Kind, OptionError> {
    Ok(match ScorerOptions::read(name, options, at)? {
        ScorerOptions::Exact(options) => Kind::Exact(options.normalize()),
        ScorerOptions::Contains(options) => text::compile_contains(options, false, at)?,
        ScorerOptions::NotContains(options) => text::compile_contains(options, true, at)?,
        ScorerOptions::Regex(options) => text::compile_regex(&options, at)?,
        ScorerOptions::JsonValid(_) => Kind::JsonValid,
        ScorerOptions::JsonSchema(options) => json::compile_schema(options, at)?,
        ScorerOptions::JsonFields(options) => json::compile_fields(&options, at)?,
        ScorerOptions::Similarity(options) => Kind::Similarity {
            method: options.method,
            normalize: options.normalize(),
            threshold: options.threshold.unwrap_or(0.8),
        },
        ScorerOptions::Numeric(options) => Kind::Numeric {
            tolerance: options.tolerance.unwrap_or(0.0),
            relative: options.relative,
        },
        ScorerOptions::LlmJudge(options) => Kind::LlmJudge(JudgeSpec {
            rubric: options.rubric,
            provider: options.provider,
            model: options.model,
            threshold: options.threshold.unwrap_or(0.5),
        }),
        ScorerOptions::Latency(options) => Kind::Latency {
            max_ms: options.max_ms,
        },
        ScorerOptions::Cost(options) => Kind::Cost {
            max_usd: options.max_usd,
        },
    })
}

/// Scores one answer with every scorer. `verdicts[i]` is the judge's answer for scorer `i`
/// when it is an `llm_judge` (the command asks the judge; scoring stays pure).
pub fn score_example(
    scorers: &[Scorer],
    observation: &Observation<'_>,
    verdicts: &[Option<Result<Verdict, String>>],
) -> ExampleScore {
    let results: Vec<ScoreResult> = scorers
        .iter()
        .enumerate()
        .map(|(index, scorer)| {
            let verdict = verdicts.get(index).and_then(Option::as_ref);
            let (score, pass, reason) = score_kind(&scorer.kind, observation, verdict);
            // A score is a number in [0, 1], never NaN (which would serialise as null).
            let (score, pass, reason) = if score.is_finite() {
                (score, pass, reason)
            } else {
                (
                    0.0,
                    false,
                    format!("{reason} (the score was not a number; counted as 0)"),
                )
            };
            ScoreResult {
                scorer: scorer_name(scorer.name).to_owned(),
                weight: scorer.weight,
                score: score.clamp(0.0, 1.0),
                pass,
                reason,
            }
        })
        .collect();
    let total_weight: f64 = results.iter().map(|r| r.weight).sum();
    let score = if total_weight > 0.0 && total_weight.is_finite() {
        results.iter().map(|r| r.weight * r.score).sum::<f64>() / total_weight
    } else if results.is_empty() {
        0.0
    } else {
        results.iter().map(|r| r.score).sum::<f64>() / results.len() as f64
    };
    let score = if score.is_finite() {
        score.clamp(0.0, 1.0)
    } else {
        0.0
    };
    // No scorer is no evidence: an example without scorers does not pass.
    let pass = !results.is_empty()
        && results
            .iter()
            .filter(|r| r.weight > 0.0 || total_weight == 0.0)
            .all(|r| r.pass);
    ExampleScore {
        score,
        pass,
        results,
    }
}

type Outcome = (f64, bool, String);

fn binary(pass: bool, reason: impl Into<String>) -> Outcome {
    (if pass { 1.0 } else { 0.0 }, pass, reason.into())
}

fn score_kind(
    kind: &Kind,
    observation: &Observation<'_>,
    verdict: Option<&Result<Verdict, String>>,
) -> Outcome {
    let (output, expected) = (observation.output, observation.expected);
    match kind {
        Kind::Exact(normalize) => text::score_exact(*normalize, output, expected),
        Kind::Contains {
            needles,
            any,
            normalize,
            negate,
        } => text::score_contains(
            needles.as_ref(),
            *any,
            *normalize,
            *negate,
            output,
            expected,
        ),
        Kind::Regex(regex) => text::score_regex(regex, output),
        Kind::JsonValid => json::score_valid(output),
        Kind::JsonSchema(own) => {
            json::score_schema(own.as_deref().or(observation.output_schema), output)
        }
        Kind::JsonFields(fields) => json::score_fields(fields, output, expected),
        Kind::Similarity {
            method,
            normalize,
            threshold,
        } => text::score_similarity(*method, *normalize, *threshold, output, expected),
        Kind::Numeric {
            tolerance,
            relative,
        } => numeric::score(output, expected, *tolerance, *relative),
        Kind::LlmJudge(spec) => score_judge(spec, verdict),
        Kind::Latency { max_ms } => budget::latency(observation.latency_ms, *max_ms),
        Kind::Cost { max_usd } => budget::cost(observation.cost_usd, *max_usd),
    }
}

/// `llm_judge`: the judge's verdict (the command asked the judge; scoring stays pure).
fn score_judge(spec: &JudgeSpec, verdict: Option<&Result<Verdict, String>>) -> Outcome {
    match verdict {
        None => binary(false, "the judge was not asked"),
        Some(Err(error)) => binary(false, format!("the judge's answer is unusable: {error}")),
        Some(Ok(verdict)) => {
            // The threshold always applies; a `pass: false` from the judge also fails.
            let pass = crate::domain::eval::stats::reaches(verdict.score, spec.threshold)
                && verdict.pass != Some(false);
            let reason = if verdict.pass == Some(true) && !pass {
                format!(
                    "judge: {} (score {} is below the threshold {})",
                    verdict.reason, verdict.score, spec.threshold
                )
            } else {
                format!("judge: {}", verdict.reason)
            };
            (verdict.score, pass, reason)
        }
    }
}

#[cfg(test)]
mod tests;
