//! JSON scorers: `json_valid`, `json_schema`, `json_fields`.

use serde_json::Value;

use super::options::{JsonFieldsOptions, JsonSchemaOptions, OptionError};
use super::{Field, Kind, Normalize, Observation, Outcome, binary, score_kind};
use crate::domain::eval::answer::{as_text, parse_json_output};
use crate::domain::model::ScorerName;

pub(super) fn compile_schema(options: JsonSchemaOptions, at: &str) -> Result<Kind, OptionError> {
    match options.schema {
        None => Ok(Kind::JsonSchema(None)),
        Some(schema) => {
            let validator = jsonschema::validator_for(&schema).map_err(|error| {
                OptionError::new(
                    format!("{at}/schema"),
                    format!("`schema` is not a valid JSON Schema: {error}"),
                )
            })?;
            Ok(Kind::JsonSchema(Some(Box::new(validator))))
        }
    }
}

/// Each field: `scorer` (exact, contains, regex, similarity or numeric; default exact),
/// `weight` (default 1), and that scorer's options.
pub(super) fn compile_fields(options: &JsonFieldsOptions, at: &str) -> Result<Kind, OptionError> {
    if options.fields.is_empty() {
        return Err(OptionError::new(
            format!("{at}/fields"),
            "`fields` names at least one field",
        ));
    }
    let mut compiled = Vec::new();
    for (field, settings) in &options.fields {
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
        let kind = super::compile_kind(scorer_name, &rest, &field_at)?;
        compiled.push(Field {
            name: field.clone(),
            weight,
            kind,
        });
    }
    Ok(Kind::JsonFields(compiled))
}

pub(super) fn score_valid(output: &str) -> Outcome {
    match parse_json_output(output) {
        Ok(_) => binary(true, "valid JSON"),
        Err(error) => binary(false, format!("not valid JSON: {error}")),
    }
}

pub(super) fn score_schema(validator: Option<&jsonschema::Validator>, output: &str) -> Outcome {
    let Some(validator) = validator else {
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

/// JSON equality where `1` equals `1.0` and strings compare after normalisation.
pub(super) fn json_equal(a: &Value, b: &Value, normalize: Normalize) -> bool {
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

pub(super) fn score_fields(fields: &[Field], output: &str, expected: &Value) -> Outcome {
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
