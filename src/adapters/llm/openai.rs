//! The `OpenAI` Chat Completions API, and every server that speaks it (`Azure OpenAI` behind
//! a compatible gateway, `vLLM`, Ollama, `LiteLLM`…).

use serde_json::{Value, json};

use super::{CallError, Provider};
use crate::domain::eval::request::{ChatRequest, ChatResponse, Usage, parameters_object};
use crate::domain::model::MaxTokensParameter;

pub(super) async fn complete(
    http: &reqwest::Client,
    provider: &Provider,
    request: &ChatRequest,
) -> Result<ChatResponse, CallError> {
    let mut body = parameters_object(&request.parameters);
    body.insert("model".into(), request.model.clone().into());
    if let Some(max_tokens) = request.parameters.max_tokens {
        // The OpenAI API's reasoning models refuse `max_tokens`; every current OpenAI model
        // takes `max_completion_tokens`. Compatible servers that need the old name say so.
        let name = match provider.max_tokens_parameter {
            MaxTokensParameter::MaxCompletionTokens => "max_completion_tokens",
            MaxTokensParameter::MaxTokens => "max_tokens",
        };
        body.insert(name.into(), max_tokens.into());
    }
    body.insert(
        "messages".into(),
        request
            .messages
            .iter()
            .map(|message| json!({"role": message.role, "content": message.content}))
            .collect(),
    );
    let mut call = http
        .post(format!("{}/chat/completions", provider.base_url))
        .json(&body);
    if let Some(key) = &provider.api_key {
        call = call.bearer_auth(key);
    }
    parse(&super::send(call, provider).await?)
}

fn parse(text: &str) -> Result<ChatResponse, CallError> {
    let value = super::answer_json(text)?;
    let choice = value
        .pointer("/choices/0")
        .ok_or_else(|| CallError::transient("the answer has no `choices[0]`".to_owned()))?;
    let content = choice.pointer("/message/content").ok_or_else(|| {
        CallError::transient("the answer has no `choices[0].message.content`".to_owned())
    })?;
    let text = match content {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        // Some compatible servers answer with content parts.
        Value::Array(parts) => parts
            .iter()
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect(),
        _ => {
            return Err(CallError::transient(
                "`choices[0].message.content` is not text".to_owned(),
            ));
        }
    };
    let usage = value.get("usage").and_then(|usage| {
        Some(Usage {
            input_tokens: usage.get("prompt_tokens")?.as_u64()?,
            output_tokens: usage.get("completion_tokens")?.as_u64()?,
        })
    });
    Ok(ChatResponse {
        text,
        usage,
        latency_ms: 0,
        finish_reason: choice
            .get("finish_reason")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}
