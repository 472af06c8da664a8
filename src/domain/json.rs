//! JSON as promptops reads it from files: duplicate keys are an error (`serde_json` keeps the
//! last one silently) and nesting is bounded, so no later walk over the value can exhaust a
//! thread's stack.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::yaml::MAX_NESTING;

/// Why a JSON text was refused: `serde_json`'s message without its position, and the 1-based
/// line and column where reading stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonError {
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// The nesting limit was hit (rather than a syntax error).
    pub too_deep: bool,
}

const TOO_DEEP: &str = "nested more than the limit";

/// Parses one JSON text strictly.
pub fn parse(text: &str) -> Result<Value, JsonError> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = Strict { depth: 0 }
        .deserialize(&mut deserializer)
        .and_then(|value| deserializer.end().map(|()| value))
        .map_err(|error| {
            let text = error.to_string();
            let too_deep = text.contains(TOO_DEEP);
            let message = if too_deep {
                super::yaml::nesting_message()
            } else {
                match text.rfind(" at line ") {
                    Some(index) => text[..index].to_owned(),
                    None => text,
                }
            };
            JsonError {
                line: error.line().max(1),
                column: error.column().max(1),
                message,
                too_deep,
            }
        })?;
    Ok(value)
}

struct Strict {
    depth: usize,
}

impl Strict {
    fn inner<E: serde::de::Error>(&self) -> Result<Strict, E> {
        if self.depth >= MAX_NESTING {
            return Err(E::custom(TOO_DEEP));
        }
        Ok(Strict {
            depth: self.depth + 1,
        })
    }
}

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(value)
            .map(Value::Number)
            .ok_or_else(|| E::custom("infinite and NaN numbers are not supported"))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut values = Vec::new();
        while let Some(value) = seq.next_element_seed(self.inner()?)? {
            values.push(value);
        }
        Ok(Value::Array(values))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut values = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(self.inner()?)?;
            if values.contains_key(&key) {
                return Err(A::Error::custom(format!(
                    "duplicate key `{key}`: it already appears in the same object"
                )));
            }
            values.insert(key, value);
        }
        Ok(Value::Object(values))
    }
}

/// The lines of a JSONL stream as `validate` and `eval` both read them: numbered from 1,
/// blank lines skipped, a UTF-8 byte order mark before the first line dropped, and the sha256
/// of every byte read kept, so a reader can tell whether it saw the bytes another one did.
pub struct JsonLines<R> {
    reader: R,
    hasher: Sha256,
    buffer: Vec<u8>,
    number: usize,
}

/// One non-blank line of a JSONL stream.
pub enum JsonLine<'a> {
    Text(&'a str),
    /// Not UTF-8 from this 1-based column on.
    NotUtf8 {
        column: usize,
    },
}

impl<R: std::io::BufRead> JsonLines<R> {
    pub fn new(reader: R) -> Self {
        JsonLines {
            reader,
            hasher: Sha256::new(),
            buffer: Vec::new(),
            number: 0,
        }
    }

    /// The next non-blank line and its number, `None` at the end of the stream.
    pub fn next_line(&mut self) -> std::io::Result<Option<(usize, JsonLine<'_>)>> {
        let (start, end) = loop {
            self.buffer.clear();
            if self.reader.read_until(b'\n', &mut self.buffer)? == 0 {
                return Ok(None);
            }
            self.hasher.update(&self.buffer);
            self.number += 1;
            let text = match std::str::from_utf8(&self.buffer) {
                Ok(text) => text,
                Err(error) => {
                    let valid = &self.buffer[..error.valid_up_to()];
                    let column = String::from_utf8_lossy(valid).chars().count() + 1;
                    return Ok(Some((self.number, JsonLine::NotUtf8 { column })));
                }
            };
            let mut line = text.trim_end_matches(['\n', '\r']);
            let mut start = 0;
            if self.number == 1 && line.starts_with('\u{feff}') {
                start = '\u{feff}'.len_utf8();
                line = &line[start..];
            }
            if !line.trim().is_empty() {
                break (start, start + line.len());
            }
        };
        // Checked as UTF-8 above; the slice ends on character boundaries.
        let text = std::str::from_utf8(&self.buffer[start..end]).unwrap_or_default();
        Ok(Some((self.number, JsonLine::Text(text))))
    }

    /// The hex sha256 of every byte read so far.
    pub fn sha256(self) -> String {
        super::source::sha256_hex_of_digest(&self.hasher.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        let error = parse(r#"{"id": "a", "vars": {"x": 1, "x": 2}, "expected": ""}"#).unwrap_err();
        assert!(error.message.contains("duplicate key `x`"), "{error:?}");
        assert!(parse(r#"{"a": 1, "a": 1}"#).is_err());
        assert!(parse(r#"{"a": {"b": 1}, "c": [{"b": 2}]}"#).is_ok());
    }

    #[test]
    fn deep_nesting_is_refused() {
        let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
        let error = parse(&deep).unwrap_err();
        assert!(error.too_deep, "{error:?}");
        let fine = format!("{}1{}", "[".repeat(MAX_NESTING), "]".repeat(MAX_NESTING));
        assert!(parse(&fine).is_ok());
    }

    #[test]
    fn lines_skip_blanks_and_a_leading_byte_order_mark_and_hash_every_byte() {
        let bytes = b"\xEF\xBB\xBF\n{\"a\": 1}\r\n\n  \n\xff\n{}";
        let mut lines = JsonLines::new(&bytes[..]);
        let mut seen = Vec::new();
        while let Some((number, line)) = lines.next_line().unwrap() {
            seen.push(match line {
                JsonLine::Text(text) => format!("{number}:{text}"),
                JsonLine::NotUtf8 { column } => format!("{number}:bad@{column}"),
            });
        }
        assert_eq!(seen, ["2:{\"a\": 1}", "5:bad@1", "6:{}"]);
        assert_eq!(lines.sha256(), super::super::source::sha256_hex(bytes));
    }

    #[test]
    fn trailing_text_and_syntax_errors_have_a_column() {
        let error = parse(r#"{"a": 1} x"#).unwrap_err();
        assert_eq!(error.column, 10);
        assert!(!error.too_deep);
    }
}
