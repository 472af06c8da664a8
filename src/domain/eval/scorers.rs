//! Scorers: each turns a model's answer into a score in [0, 1], a pass/fail and a reason.
//!
//! A scorer's `options` are checked once, when the metadata is read (`compile`), so a typo in
//! an option is a finding with a line number, not a silent default halfway through a run.

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::judge::Verdict;
use crate::domain::model::{ScorerName, ScorerSpec};

/// A scorer's option that is wrong: where under `options` (a JSON pointer suffix) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptionError {
    pub pointer: String,
    pub message: String,
}

impl OptionError {
    fn new(pointer: impl Into<String>, message: impl Into<String>) -> OptionError {
        OptionError {
            pointer: pointer.into(),
            message: message.into(),
        }
    }
}

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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimilarityMethod {
    /// 1 − Levenshtein distance ÷ the longer length, over characters.
    EditDistance,
    /// F1 of the multisets of whitespace-separated tokens.
    TokenF1,
}

/// The judge's settings: what to grade against, and with which model.
#[derive(Clone, Debug, PartialEq)]
pub struct JudgeSpec {
    pub rubric: String,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub threshold: f64,
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

/// Reads a scorer's options, refusing unknown ones.
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

const NORMALIZE_KEYS: &[&str] = &[
    "ignore_case",
    "trim",
    "normalize_whitespace",
    "ignore_punctuation",
];

fn compile_kind(
    name: ScorerName,
    options: &Map<String, Value>,
    at: &str,
) -> Result<Kind, OptionError> {
    let reader = Options { options, at };
    let kind = match name {
        ScorerName::Exact => {
            reader.only(NORMALIZE_KEYS)?;
            Kind::Exact(reader.normalize()?)
        }
        ScorerName::Contains | ScorerName::NotContains => {
            reader.only(&[NORMALIZE_KEYS, &["value", "values", "any"]].concat())?;
            let mut needles = match (options.get("value"), options.get("values")) {
                (Some(_), Some(_)) => {
                    return Err(OptionError::new(
                        format!("{at}/values"),
                        "give `value` or `values`, not both",
                    ));
                }
                (Some(_), None) => Some(vec![reader.string("value")?.unwrap_or_default()]),
                (None, Some(Value::Array(items))) => Some(
                    items
                        .iter()
                        .enumerate()
                        .map(|(index, item)| {
                            item.as_str().map(str::to_owned).ok_or_else(|| {
                                OptionError::new(
                                    format!("{at}/values/{index}"),
                                    "`values` holds strings",
                                )
                            })
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                ),
                (None, Some(_)) => {
                    return Err(OptionError::new(
                        format!("{at}/values"),
                        "`values` is a list of strings",
                    ));
                }
                (None, None) => None,
            };
            if needles.as_ref().is_some_and(Vec::is_empty) {
                // An empty list would pass every answer with score 0.
                return Err(OptionError::new(
                    format!("{at}/values"),
                    "`values` is empty; list at least one string, or remove the scorer",
                ));
            }
            let normalize = reader.normalize()?;
            if let Some(needles) = &mut needles {
                for needle in needles.iter_mut() {
                    *needle = normalize.apply(needle);
                }
            }
            Kind::Contains {
                needles,
                any: reader.flag("any")?,
                normalize,
                negate: name == ScorerName::NotContains,
            }
        }
        ScorerName::Regex => {
            reader.only(&["pattern", "ignore_case"])?;
            let pattern = reader.string("pattern")?.ok_or_else(|| {
                OptionError::new(at.to_owned(), "`regex` needs `options.pattern`")
            })?;
            let regex = regex::RegexBuilder::new(&pattern)
                .case_insensitive(reader.flag("ignore_case")?)
                .size_limit(1 << 20)
                .build()
                .map_err(|error| {
                    OptionError::new(
                        format!("{at}/pattern"),
                        format!("`pattern` is not a valid regular expression: {error}"),
                    )
                })?;
            Kind::Regex(regex)
        }
        ScorerName::JsonValid => {
            reader.only(&[])?;
            Kind::JsonValid
        }
        ScorerName::JsonSchema => {
            reader.only(&["schema"])?;
            match options.get("schema") {
                None => Kind::JsonSchema(None),
                Some(schema) => {
                    let validator = jsonschema::validator_for(schema).map_err(|error| {
                        OptionError::new(
                            format!("{at}/schema"),
                            format!("`schema` is not a valid JSON Schema: {error}"),
                        )
                    })?;
                    Kind::JsonSchema(Some(Box::new(validator)))
                }
            }
        }
        ScorerName::JsonFields => {
            reader.only(&["fields"])?;
            let Some(Value::Object(fields)) = options.get("fields") else {
                return Err(OptionError::new(
                    at.to_owned(),
                    "`json_fields` needs `options.fields`: field name -> {scorer, weight, ...}",
                ));
            };
            if fields.is_empty() {
                return Err(OptionError::new(
                    format!("{at}/fields"),
                    "`fields` names at least one field",
                ));
            }
            let mut compiled = Vec::new();
            for (field, settings) in fields {
                let field_at = format!(
                    "{at}/fields/{}",
                    crate::domain::yaml::escape_pointer_token(field)
                );
                let Value::Object(settings) = settings else {
                    return Err(OptionError::new(
                        field_at,
                        "a field's settings are a mapping: {scorer: exact, weight: 1}",
                    ));
                };
                let scorer_name = match settings.get("scorer") {
                    None => ScorerName::Exact,
                    Some(value) => serde_json::from_value::<ScorerName>(value.clone())
                        .ok()
                        .filter(|name| {
                            matches!(
                                name,
                                ScorerName::Exact
                                    | ScorerName::Contains
                                    | ScorerName::Regex
                                    | ScorerName::Similarity
                                    | ScorerName::Numeric
                            )
                        })
                        .ok_or_else(|| {
                            OptionError::new(
                                format!("{field_at}/scorer"),
                                "a field's `scorer` is one of exact, contains, regex, similarity, numeric",
                            )
                        })?,
                };
                let weight = match settings.get("weight") {
                    None => 1.0,
                    Some(value) => value.as_f64().filter(|w| *w >= 0.0).ok_or_else(|| {
                        OptionError::new(
                            format!("{field_at}/weight"),
                            "`weight` is a number of at least 0",
                        )
                    })?,
                };
                let mut rest = settings.clone();
                rest.remove("scorer");
                rest.remove("weight");
                let kind = compile_kind(scorer_name, &rest, &field_at)?;
                compiled.push(Field {
                    name: field.clone(),
                    weight,
                    kind,
                });
            }
            Kind::JsonFields(compiled)
        }
        ScorerName::Similarity => {
            reader.only(&[NORMALIZE_KEYS, &["method", "threshold"]].concat())?;
            let method = match reader.string("method")?.as_deref() {
                None | Some("edit_distance" | "levenshtein") => SimilarityMethod::EditDistance,
                Some("token_f1") => SimilarityMethod::TokenF1,
                Some(other) => {
                    return Err(OptionError::new(
                        format!("{at}/method"),
                        format!("unknown method `{other}`; use `edit_distance` or `token_f1`"),
                    ));
                }
            };
            Kind::Similarity {
                method,
                normalize: reader.normalize()?,
                threshold: reader.fraction("threshold")?.unwrap_or(0.8),
            }
        }
        ScorerName::Numeric => {
            reader.only(&["tolerance", "relative"])?;
            Kind::Numeric {
                tolerance: reader.non_negative("tolerance")?.unwrap_or(0.0),
                relative: reader.flag("relative")?,
            }
        }
        ScorerName::LlmJudge => {
            reader.only(&["rubric", "provider", "model", "threshold"])?;
            let rubric = reader
                .string("rubric")?
                .filter(|r| !r.trim().is_empty())
                .ok_or_else(|| {
                    OptionError::new(
                        at.to_owned(),
                        "`llm_judge` needs `options.rubric`: what a good answer does",
                    )
                })?;
            Kind::LlmJudge(JudgeSpec {
                rubric,
                provider: reader.string("provider")?,
                model: reader.string("model")?,
                threshold: reader.fraction("threshold")?.unwrap_or(0.5),
            })
        }
        ScorerName::Latency => {
            reader.only(&["max_ms"])?;
            Kind::Latency {
                max_ms: reader.non_negative("max_ms")?.ok_or_else(|| {
                    OptionError::new(at.to_owned(), "`latency` needs `options.max_ms`")
                })?,
            }
        }
        ScorerName::Cost => {
            reader.only(&["max_usd"])?;
            Kind::Cost {
                max_usd: reader.non_negative("max_usd")?.ok_or_else(|| {
                    OptionError::new(at.to_owned(), "`cost` needs `options.max_usd`")
                })?,
            }
        }
    };
    Ok(kind)
}

struct Options<'a> {
    options: &'a Map<String, Value>,
    at: &'a str,
}

impl Options<'_> {
    fn pointer(&self, key: &str) -> String {
        format!("{}/{key}", self.at)
    }

    fn only(&self, allowed: &[&str]) -> Result<(), OptionError> {
        for key in self.options.keys() {
            if !allowed.contains(&key.as_str()) {
                let known = if allowed.is_empty() {
                    "this scorer takes no options".to_owned()
                } else {
                    format!("known options: {}", allowed.join(", "))
                };
                return Err(OptionError::new(
                    self.pointer(key),
                    format!("unknown option `{key}`; {known}"),
                ));
            }
        }
        Ok(())
    }

    fn flag(&self, key: &str) -> Result<bool, OptionError> {
        match self.options.get(key) {
            None => Ok(false),
            Some(Value::Bool(value)) => Ok(*value),
            Some(_) => Err(OptionError::new(
                self.pointer(key),
                format!("`{key}` is true or false"),
            )),
        }
    }

    fn string(&self, key: &str) -> Result<Option<String>, OptionError> {
        match self.options.get(key) {
            None => Ok(None),
            Some(Value::String(value)) => Ok(Some(value.clone())),
            Some(_) => Err(OptionError::new(
                self.pointer(key),
                format!("`{key}` is a string"),
            )),
        }
    }

    fn non_negative(&self, key: &str) -> Result<Option<f64>, OptionError> {
        match self.options.get(key) {
            None => Ok(None),
            Some(value) => value
                .as_f64()
                .filter(|number| *number >= 0.0)
                .map(Some)
                .ok_or_else(|| {
                    OptionError::new(
                        self.pointer(key),
                        format!("`{key}` is a number of at least 0"),
                    )
                }),
        }
    }

    fn fraction(&self, key: &str) -> Result<Option<f64>, OptionError> {
        match self.non_negative(key)? {
            Some(value) if value > 1.0 => Err(OptionError::new(
                self.pointer(key),
                format!("`{key}` is between 0 and 1"),
            )),
            other => Ok(other),
        }
    }

    fn normalize(&self) -> Result<Normalize, OptionError> {
        Ok(Normalize {
            ignore_case: self.flag("ignore_case")?,
            trim: self.flag("trim")?,
            whitespace: self.flag("normalize_whitespace")?,
            punctuation: self.flag("ignore_punctuation")?,
        })
    }
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

/// A JSON value as text: a string as it is, anything else as compact JSON.
pub fn as_text(expected: &Value) -> String {
    match expected {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn score_kind(
    kind: &Kind,
    observation: &Observation<'_>,
    verdict: Option<&Result<Verdict, String>>,
) -> Outcome {
    let output = observation.output;
    match kind {
        Kind::Exact(normalize) => score_exact(*normalize, output, observation.expected),
        Kind::Contains {
            needles,
            any,
            normalize,
            negate,
        } => {
            let haystack = normalize.apply(output);
            let owned;
            let needles: &[String] = if let Some(needles) = needles {
                needles
            } else {
                owned = [normalize.apply(&as_text(observation.expected))];
                &owned
            };
            let found: Vec<&String> = needles
                .iter()
                .filter(|needle| haystack.contains(needle.as_str()))
                .collect();
            let total = needles.len().max(1) as f64;
            if *negate {
                let score = 1.0 - found.len() as f64 / total;
                match found.first() {
                    None => (score, true, "contains none of the forbidden text".into()),
                    Some(first) => (score, false, format!("contains forbidden text {first:?}")),
                }
            } else if *any {
                binary(
                    !found.is_empty(),
                    if found.is_empty() {
                        format!("contains none of {needles:?}")
                    } else {
                        format!("contains {:?}", found[0])
                    },
                )
            } else {
                let missing: Vec<&String> = needles.iter().filter(|n| !found.contains(n)).collect();
                let score = found.len() as f64 / total;
                match missing.first() {
                    None => (score, true, "contains every expected text".into()),
                    Some(first) => (score, false, format!("does not contain {first:?}")),
                }
            }
        }
        Kind::Regex(regex) => {
            let matched = regex.is_match(output);
            binary(
                matched,
                if matched {
                    format!("matches /{}/", regex.as_str())
                } else {
                    format!("does not match /{}/", regex.as_str())
                },
            )
        }
        Kind::JsonValid => match parse_json_output(output) {
            Ok(_) => binary(true, "valid JSON"),
            Err(error) => binary(false, format!("not valid JSON: {error}")),
        },
        Kind::JsonSchema(own) => {
            let Some(validator) = own.as_deref().or(observation.output_schema) else {
                return binary(
                    false,
                    "no schema: give `options.schema` or the prompt's `output.schema`",
                );
            };
            match parse_json_output(output) {
                Err(error) => binary(false, format!("not valid JSON: {error}")),
                Ok(value) => match validator.iter_errors(&value).next() {
                    None => binary(true, "fits the schema"),
                    Some(error) => binary(
                        false,
                        format!(
                            "does not fit the schema at `{}`: {error}",
                            error.instance_path()
                        ),
                    ),
                },
            }
        }
        Kind::JsonFields(fields) => score_fields(fields, output, observation.expected),
        Kind::Similarity {
            method,
            normalize,
            threshold,
        } => {
            let a = normalize.apply(output);
            let b = normalize.apply(&as_text(observation.expected));
            let score = match method {
                SimilarityMethod::EditDistance => edit_similarity(&a, &b),
                SimilarityMethod::TokenF1 => token_f1(&a, &b),
            };
            (
                score,
                score >= *threshold,
                format!("similarity {score:.3} (pass at {threshold})"),
            )
        }
        Kind::Numeric {
            tolerance,
            relative,
        } => score_numeric(output, observation.expected, *tolerance, *relative),
        Kind::LlmJudge(spec) => match verdict {
            None => binary(false, "the judge was not asked"),
            Some(Err(error)) => binary(false, format!("the judge's answer is unusable: {error}")),
            Some(Ok(verdict)) => {
                // The threshold always applies; a `pass: false` from the judge also fails.
                let pass = verdict.score + 1e-12 >= spec.threshold && verdict.pass != Some(false);
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
        },
        Kind::Latency { max_ms } => {
            let latency = observation.latency_ms as f64;
            binary(
                latency <= *max_ms,
                format!("{} ms (budget {max_ms} ms)", observation.latency_ms),
            )
        }
        Kind::Cost { max_usd } => match observation.cost_usd {
            None => binary(false, "no cost: the API reported no token usage"),
            Some(cost) => binary(cost <= *max_usd, format!("${cost:.6} (budget ${max_usd})")),
        },
    }
}

fn score_exact(normalize: Normalize, output: &str, expected: &Value) -> Outcome {
    if let Value::String(expected) = expected {
        let equal = normalize.apply(output) == normalize.apply(expected);
        return binary(
            equal,
            if equal {
                "equal".to_owned()
            } else {
                format!("expected {expected:?}")
            },
        );
    }
    match parse_json_output(output) {
        Err(error) => binary(
            false,
            format!("expected JSON {expected}, got text that is not JSON: {error}"),
        ),
        Ok(value) => {
            let equal = json_equal(&value, expected, normalize);
            binary(
                equal,
                if equal {
                    "equal".to_owned()
                } else {
                    format!("expected {expected}")
                },
            )
        }
    }
}

/// JSON equality where `1` equals `1.0` and strings compare after normalisation.
fn json_equal(a: &Value, b: &Value, normalize: Normalize) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::String(x), Value::String(y)) => normalize.apply(x) == normalize.apply(y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_equal(x, y, normalize))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter().all(|(key, value)| {
                    y.get(key)
                        .is_some_and(|other| json_equal(value, other, normalize))
                })
        }
        _ => a == b,
    }
}

fn score_fields(fields: &[Field], output: &str, expected: &Value) -> Outcome {
    let parsed = match parse_json_output(output) {
        Ok(value) => value,
        Err(error) => return binary(false, format!("not valid JSON: {error}")),
    };
    let total_weight: f64 = fields.iter().map(|f| f.weight).sum();
    let mut sum = 0.0;
    let mut failed = Vec::new();
    for field in fields {
        let want = lookup(expected, &field.name);
        let got = lookup(&parsed, &field.name);
        let (score, pass) = match (want, got) {
            (None, None) => (1.0, true),
            (Some(_), None) | (None, Some(_)) => (0.0, false),
            (Some(want), Some(got)) => {
                let observation = Observation {
                    output: &as_text(got),
                    expected: want,
                    latency_ms: 0,
                    cost_usd: None,
                    output_schema: None,
                };
                let (score, pass, _) = match &field.kind {
                    Kind::Exact(normalize) if !want.is_string() => {
                        let equal = json_equal(got, want, *normalize);
                        binary(equal, "")
                    }
                    kind => score_kind(kind, &observation, None),
                };
                (score, pass)
            }
        };
        sum += field.weight * score;
        if !pass {
            failed.push(field.name.as_str());
        }
    }
    let score = if total_weight > 0.0 {
        sum / total_weight
    } else {
        0.0
    };
    if failed.is_empty() {
        (score, true, format!("all {} fields match", fields.len()))
    } else {
        (
            score,
            false,
            format!("fields that differ: {}", failed.join(", ")),
        )
    }
}

/// A field by name, or by JSON pointer when the name starts with `/`.
fn lookup<'a>(value: &'a Value, field: &str) -> Option<&'a Value> {
    if field.starts_with('/') {
        value.pointer(field)
    } else {
        value.get(field)
    }
}

fn score_numeric(output: &str, expected: &Value, tolerance: f64, relative: bool) -> Outcome {
    let want = match expected {
        Value::Number(number) => number.as_f64(),
        Value::String(text) => first_number(text),
        _ => None,
    };
    let Some(want) = want else {
        return binary(
            false,
            format!("the expected value {expected} is not a number"),
        );
    };
    let Some(got) = first_number(output) else {
        return binary(false, "the answer holds no number");
    };
    let allowed = if relative {
        tolerance * want.abs()
    } else {
        tolerance
    };
    let difference = (got - want).abs();
    binary(
        difference <= allowed,
        format!("{got} vs expected {want} (difference {difference}, tolerance {allowed})"),
    )
}

/// The answer as a number: all of it when it parses, else the first number in it.
fn first_number(text: &str) -> Option<f64> {
    static NUMBER: std::sync::LazyLock<Regex> = std::sync::LazyLock::new(|| {
        Regex::new(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?").expect("valid pattern")
    });
    let trimmed = text.trim();
    if let Ok(number) = trimmed.parse::<f64>() {
        return number.is_finite().then_some(number);
    }
    NUMBER
        .find(trimmed)
        .and_then(|found| found.as_str().parse::<f64>().ok())
        .filter(|number| number.is_finite())
}

/// The answer as JSON, accepting a Markdown code fence around it (models add one often).
pub fn parse_json_output(output: &str) -> Result<Value, String> {
    let trimmed = output.trim();
    let body = trimmed
        .strip_prefix("```json")
        .or_else(|| trimmed.strip_prefix("```"))
        .and_then(|rest| rest.strip_suffix("```"))
        .unwrap_or(trimmed);
    if body.trim().is_empty() {
        return Err("the answer is empty".into());
    }
    serde_json::from_str(body.trim()).map_err(|error| error.to_string())
}

/// 1 − Levenshtein distance ÷ the longer length, in characters. Two empty texts are equal.
pub fn edit_similarity(a: &str, b: &str) -> f64 {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let longest = a.len().max(b.len());
    if longest == 0 {
        return 1.0;
    }
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    1.0 - previous[b.len()] as f64 / longest as f64
}

/// F1 over the multisets of whitespace-separated tokens. Two empty texts are equal.
pub fn token_f1(a: &str, b: &str) -> f64 {
    let mut counts: std::collections::HashMap<&str, i64> = std::collections::HashMap::new();
    let a_tokens: Vec<&str> = a.split_whitespace().collect();
    let b_tokens: Vec<&str> = b.split_whitespace().collect();
    if a_tokens.is_empty() && b_tokens.is_empty() {
        return 1.0;
    }
    if a_tokens.is_empty() || b_tokens.is_empty() {
        return 0.0;
    }
    for token in &b_tokens {
        *counts.entry(token).or_default() += 1;
    }
    let mut common = 0usize;
    for token in &a_tokens {
        if let Some(count) = counts.get_mut(token)
            && *count > 0
        {
            *count -= 1;
            common += 1;
        }
    }
    if common == 0 {
        return 0.0;
    }
    let precision = common as f64 / a_tokens.len() as f64;
    let recall = common as f64 / b_tokens.len() as f64;
    2.0 * precision * recall / (precision + recall)
}

#[cfg(test)]
#[path = "scorers_tests.rs"]
mod tests;
