//! The request sent to a model, and the cache key that identifies it.
//!
//! The key is the sha256 of a canonical JSON form (object keys sorted, no whitespace) of
//! everything that decides the answer: provider, model, parameters, rendered messages and the
//! repeat index. Credentials and base URLs are not part of a request, so they can never reach
//! the cache or the logs through it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::domain::model::{Parameters, Role};
use crate::domain::source::sha256_hex;

/// One rendered chat message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

/// Everything a provider needs to answer, and nothing secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The provider name the prompt uses (a `promptops.yaml` entry or a provider kind).
    pub provider: String,
    pub model: String,
    pub parameters: Parameters,
    pub messages: Vec<ChatMessage>,
    /// Which repetition of the same request this is (0 for the first).
    pub repeat: u32,
}

impl ChatRequest {
    /// The cache key: sha256 of the canonical JSON, hex.
    pub fn key(&self) -> String {
        let value = serde_json::to_value(self).expect("a request serialises");
        sha256_hex(canonical_json(&value).as_bytes())
    }
}

/// JSON with object keys sorted at every level and no insignificant whitespace, so equal
/// values give equal bytes whatever order their keys were written in.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (index, key) in keys.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Token counts as the API reported them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

impl Usage {
    /// What these tokens cost at `price` (US dollars per million tokens).
    pub fn cost_usd(self, price: crate::domain::model::Price) -> f64 {
        (self.input_tokens as f64 * price.input_per_million
            + self.output_tokens as f64 * price.output_per_million)
            / 1e6
    }
}

/// A model's answer as promptops keeps it (in the cache and the logs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Wall time of the call that produced it, in milliseconds.
    pub latency_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
}

/// Parameters as a JSON object for a provider body, `extra` merged in at the top level.
pub fn parameters_object(parameters: &Parameters) -> Map<String, Value> {
    let mut object = Map::new();
    if let Some(value) = parameters.temperature {
        object.insert("temperature".into(), value.into());
    }
    if let Some(value) = parameters.top_p {
        object.insert("top_p".into(), value.into());
    }
    if let Some(value) = parameters.seed {
        object.insert("seed".into(), value.into());
    }
    if let Some(value) = &parameters.stop {
        object.insert("stop".into(), value.clone().into());
    }
    if let Some(extra) = &parameters.extra {
        for (key, value) in extra {
            object.insert(key.clone(), value.clone());
        }
    }
    object
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request() -> ChatRequest {
        ChatRequest {
            provider: "openai".into(),
            model: "gpt-4o-mini".into(),
            parameters: Parameters {
                temperature: Some(0.0),
                ..Parameters::default()
            },
            messages: vec![ChatMessage {
                role: Role::User,
                content: "hi".into(),
            }],
            repeat: 0,
        }
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let a = json!({"b": 1, "a": {"y": [1, {"d": 2, "c": 3}], "x": "é"}});
        let b = json!({"a": {"x": "é", "y": [1, {"c": 3, "d": 2}]}, "b": 1});
        assert_eq!(canonical_json(&a), canonical_json(&b));
        assert_eq!(
            canonical_json(&a),
            r#"{"a":{"x":"é","y":[1,{"c":3,"d":2}]},"b":1}"#
        );
    }

    #[test]
    fn key_changes_with_every_part_of_the_request() {
        let base = request();
        let key = base.key();
        assert_eq!(key.len(), 64);
        assert_eq!(key, request().key());
        let mut other = request();
        other.repeat = 1;
        assert_ne!(other.key(), key);
        let mut other = request();
        other.model = "gpt-4o".into();
        assert_ne!(other.key(), key);
        let mut other = request();
        other.messages[0].content = "hi ".into();
        assert_ne!(other.key(), key);
        let mut other = request();
        other.parameters.temperature = Some(0.5);
        assert_ne!(other.key(), key);
    }
}
