//! `numeric`: the first number in the answer is within a tolerance of the expected one.

use regex::Regex;
use serde_json::Value;

use super::{Outcome, binary};

pub(super) fn score(output: &str, expected: &Value, tolerance: f64, relative: bool) -> Outcome {
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
