//! Text scorers: `exact`, `contains`/`not_contains`, `regex`, `similarity`.

use regex::Regex;
use serde_json::Value;

use super::options::{ContainsOptions, OptionError, RegexOptions, SimilarityMethod};
use super::{Kind, Normalize, Outcome, binary, json};
use crate::domain::eval::answer::{as_text, parse_json_output};

/// `contains`/`not_contains`: the needles normalised once, here, not per answer.
pub(super) fn compile_contains(
    options: ContainsOptions,
    negate: bool,
    at: &str,
) -> Result<Kind, OptionError> {
    let normalize = options.normalize();
    let ContainsOptions {
        value, values, any, ..
    } = options;
    let needles = match (value, values) {
        (Some(_), Some(_)) => {
            return Err(OptionError::new(
                format!("{at}/values"),
                "give `value` or `values`, not both",
            ));
        }
        (Some(value), None) => Some(vec![value]),
        // An empty list would pass every answer with score 0.
        (None, Some(values)) if values.is_empty() => {
            return Err(OptionError::new(
                format!("{at}/values"),
                "`values` is empty; list at least one string, or remove the scorer",
            ));
        }
        (None, values) => values,
    };
    Ok(Kind::Contains {
        needles: needles.map(|needles| needles.iter().map(|n| normalize.apply(n)).collect()),
        any,
        normalize,
        negate,
    })
}

pub(super) fn compile_regex(options: &RegexOptions, at: &str) -> Result<Kind, OptionError> {
    let regex = regex::RegexBuilder::new(&options.pattern)
        .case_insensitive(options.ignore_case)
        .size_limit(1 << 20)
        .build()
        .map_err(|error| {
            OptionError::new(
                format!("{at}/pattern"),
                format!("`pattern` is not a valid regular expression: {error}"),
            )
        })?;
    Ok(Kind::Regex(regex))
}

pub(super) fn score_exact(normalize: Normalize, output: &str, expected: &Value) -> Outcome {
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
            let equal = json::json_equal(&value, expected, normalize);
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

pub(super) fn score_contains(
    needles: Option<&Vec<String>>,
    any: bool,
    normalize: Normalize,
    negate: bool,
    output: &str,
    expected: &Value,
) -> Outcome {
    let haystack = normalize.apply(output);
    let owned;
    let needles: &[String] = if let Some(needles) = needles {
        needles
    } else {
        owned = [normalize.apply(&as_text(expected))];
        &owned
    };
    let found: Vec<&String> = needles
        .iter()
        .filter(|needle| haystack.contains(needle.as_str()))
        .collect();
    let total = needles.len().max(1) as f64;
    if negate {
        let score = 1.0 - found.len() as f64 / total;
        match found.first() {
            None => (score, true, "contains none of the forbidden text".into()),
            Some(first) => (score, false, format!("contains forbidden text {first:?}")),
        }
    } else if any {
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

pub(super) fn score_regex(regex: &Regex, output: &str) -> Outcome {
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

pub(super) fn score_similarity(
    method: SimilarityMethod,
    normalize: Normalize,
    threshold: f64,
    output: &str,
    expected: &Value,
) -> Outcome {
    let a = normalize.apply(output);
    let b = normalize.apply(&as_text(expected));
    let score = match method {
        SimilarityMethod::EditDistance => edit_similarity(&a, &b),
        SimilarityMethod::TokenF1 => token_f1(&a, &b),
    };
    (
        score,
        score >= threshold,
        format!("similarity {score:.3} (pass at {threshold})"),
    )
}

/// 1 − Levenshtein distance ÷ the longer length, in characters. Two empty texts are equal.
pub fn edit_similarity(a: &str, b: &str) -> f64 {
    strsim::normalized_levenshtein(a, b)
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
