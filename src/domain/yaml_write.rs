//! A small, deterministic YAML writer for files promptops generates.
//!
//! Block style, two-space indent, keys in the order given, strings plain when YAML 1.2 would
//! read them back as the same string and JSON-quoted otherwise (a JSON string is a valid YAML
//! double-quoted scalar). The same value always gives the same bytes.

use serde_json::Value;

/// Renders a mapping or list as a YAML document (no `---`), ending in a newline.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_map(&mut out, map, 0),
        Value::Array(items) if !items.is_empty() => write_list(&mut out, items, 0),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
}

fn indent(out: &mut String, level: usize) {
    for _ in 0..level {
        out.push_str("  ");
    }
}

fn write_map(out: &mut String, map: &serde_json::Map<String, Value>, level: usize) {
    let mut first = true;
    for (key, value) in map {
        // The first key of a list item shares the line with its `- `.
        if !first || level == 0 || !out.ends_with("- ") {
            indent(out, level);
        }
        first = false;
        out.push_str(&string(key));
        out.push(':');
        write_value_after_key(out, value, level);
    }
}

fn write_value_after_key(out: &mut String, value: &Value, level: usize) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            write_map(out, map, level + 1);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            write_list(out, items, level + 1);
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

fn write_list(out: &mut String, items: &[Value], level: usize) {
    for item in items {
        indent(out, level);
        out.push_str("- ");
        match item {
            Value::Object(map) if !map.is_empty() => write_map(out, map, level + 1),
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                write_list(out, inner, level + 1);
            }
            other => {
                out.push_str(&scalar(other));
                out.push('\n');
            }
        }
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => number.to_string(),
        Value::String(text) => string(text),
        Value::Array(_) => "[]".to_owned(),
        Value::Object(_) => "{}".to_owned(),
    }
}

/// A string as a YAML scalar: plain when that reads back as the same string.
pub fn string(text: &str) -> String {
    if is_plain_safe(text) {
        text.to_owned()
    } else {
        serde_json::to_string(text).expect("a string serialises")
    }
}

fn is_plain_safe(text: &str) -> bool {
    let Some(first) = text.chars().next() else {
        return false;
    };
    // Would a YAML 1.2 reader take it for a number, boolean or null? Ask the reader we use.
    if !matches!(
        saphyr::Scalar::parse_from_cow(text.into()),
        saphyr::Scalar::String(_)
    ) {
        return false;
    }
    // YAML 1.1 readers (PyYAML, many editors) also take these for booleans.
    if [
        "yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF", "y", "Y",
        "n", "N",
    ]
    .contains(&text)
    {
        return false;
    }
    // YAML 1.1 readers also take dates, times and sexagesimals (2026-11-01, 1:30) for non-strings.
    if first.is_ascii_digit() && text.contains(['-', ':']) {
        return false;
    }
    if !(first.is_alphanumeric() || matches!(first, '/' | '.' | '_' | '(')) {
        return false;
    }
    if text.ends_with(' ') || text.ends_with(':') || text.contains(": ") || text.contains(" #") {
        return false;
    }
    text.chars()
        .all(|c| c.is_alphanumeric() || " _-./+@()=,;'`:".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::yaml;
    use serde_json::json;

    fn round_trip(value: &Value) {
        let text = to_yaml(value);
        let back = yaml::parse(&text).unwrap().unwrap().value;
        assert_eq!(&back, value, "through:\n{text}");
    }

    #[test]
    fn writes_block_yaml_that_reads_back_the_same() {
        round_trip(&json!({
            "schema_version": 1,
            "tasks": {
                "a-task": {
                    "production": {"version": "1.2.0", "path": "prompts/02-production/a-task.yaml", "sha256": "00ab"},
                    "threshold": 0.85,
                    "archived": [{"version": "1.0.0", "reason": "superseded: scored 0.71 < 0.85", "at": "2026-10-01T12:00:00Z"}],
                    "history": [],
                    "empty": {},
                    "nested": [[1, 2], ["x"]],
                }
            }
        }));
    }

    #[test]
    fn ambiguous_strings_are_quoted() {
        for text in [
            "no",
            "yes",
            "null",
            "1.0",
            "0x1F",
            "1e3",
            "",
            " lead",
            "trail ",
            "a: b",
            "x #y",
            "- item",
            "{a}",
            "* x",
            "line\nbreak",
            "tab\there",
            "\"q\"",
            "2026-10-01",
        ] {
            round_trip(&json!({ "k": text }));
        }
        assert_eq!(string("1.2.0"), "1.2.0");
        assert_eq!(string("1.2"), "\"1.2\"");
        assert_eq!(string("d9a15c41"), "d9a15c41");
        assert_eq!(string("1e3"), "\"1e3\"");
        assert_eq!(string("2026-11-01T10:00:00Z"), "\"2026-11-01T10:00:00Z\"");
        assert_eq!(string("normalize-product-title"), "normalize-product-title");
        assert_eq!(
            string("prompts/02-production/a.yaml"),
            "prompts/02-production/a.yaml"
        );
    }
}
