//! The Anthropic Messages API.

use serde_json::{Value, json};

use super::{CallError, Provider};
use crate::domain::eval::request::{ChatRequest, ChatResponse, Usage, parameters_object};
use crate::domain::model::Role;

const VERSION: &str = "2023-06-01";
/// The API requires `max_tokens`; this is used when the prompt sets none.
const DEFAULT_MAX_TOKENS: u32 = 1024;

pub(super) async fn complete(
    http: &reqwest::Client,
    provider: &Provider,
    request: &ChatRequest,
) -> Result<ChatResponse, CallError> {
    let mut body = parameters_object(&request.parameters);
    if let Some(stop) = body.remove("stop") {
        body.insert("stop_sequences".into(), stop);
    }
    // The Messages API has no seed.
    body.remove("seed");
    body.insert("model".into(), request.model.clone().into());
    body.insert(
        "max_tokens".into(),
        request
            .parameters
            .max_tokens
            .unwrap_or(DEFAULT_MAX_TOKENS)
            .into(),
    );
    let system: Vec<&str> = request
        .messages
        .iter()
        .filter(|message| message.role == Role::System)
        .map(|message| message.content.as_str())
        .collect();
    if !system.is_empty() {
        body.insert("system".into(), system.join("\n\n").into());
    }
    body.insert(
        "messages".into(),
        request
            .messages
            .iter()
            .filter(|message| message.role != Role::System)
            .map(|message| json!({"role": message.role, "content": message.content}))
            .collect(),
    );
    let mut call = http
        .post(format!("{}/v1/messages", provider.base_url))
        .header("anthropic-version", VERSION)
        .json(&body);
    if let Some(key) = &provider.api_key {
        call = call.header("x-api-key", key);
    }
    parse(&super::send(call, provider).await?)
}

fn parse(text: &str) -> Result<ChatResponse, CallError> {
    let value = super::answer_json(text)?;
    let Some(Value::Array(content)) = value.get("content") else {
        return Err(CallError::transient(
            "the answer has no `content` list".to_owned(),
        ));
    };
    let text = content
        .iter()
        .filter(|block| block.get("type").and_then(Value::as_str) == Some("text"))
        .filter_map(|block| block.get("text").and_then(Value::as_str))
        .collect();
    let usage = value.get("usage").and_then(|usage| {
        Some(Usage {
            input_tokens: usage.get("input_tokens")?.as_u64()?,
            output_tokens: usage.get("output_tokens")?.as_u64()?,
        })
    });
    Ok(ChatResponse {
        text,
        usage,
        latency_ms: 0,
        finish_reason: value
            .get("stop_reason")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}
