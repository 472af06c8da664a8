//! Reading a model's answer: as text, or as JSON (in a Markdown code fence or not). Shared by
//! the scorers and the judge.

use serde_json::Value;

/// A JSON value as text: a string as it is, anything else as compact JSON.
pub fn as_text(expected: &Value) -> String {
    match expected {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
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
