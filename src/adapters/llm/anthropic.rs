//! The Anthropic Messages API.

use serde::Deserialize;
use serde_json::json;

use super::{CallError, Provider};
use crate::domain::eval::request::{ChatRequest, ChatResponse, parameters_object};
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

/// A Messages API answer, as far as promptops reads it.
#[derive(Deserialize)]
struct Answer {
    #[serde(default, deserialize_with = "super::lenient")]
    content: Option<Vec<Block>>,
    #[serde(default, deserialize_with = "super::lenient")]
    usage: Option<super::Tokens>,
    #[serde(default, deserialize_with = "super::lenient")]
    stop_reason: Option<String>,
}

/// A content block; only `text` blocks hold the answer.
#[derive(Deserialize)]
struct Block {
    #[serde(rename = "type", default, deserialize_with = "super::lenient")]
    kind: Option<String>,
    #[serde(default, deserialize_with = "super::lenient")]
    text: Option<String>,
}

fn parse(text: &str) -> Result<ChatResponse, CallError> {
    let answer: Answer = super::answer_json(text)?;
    let Some(content) = answer.content else {
        return Err(CallError::transient(
            "the answer has no `content` list".to_owned(),
        ));
    };
    let text = content
        .into_iter()
        .filter(|block| block.kind.as_deref() == Some("text"))
        .filter_map(|block| block.text)
        .collect();
    Ok(ChatResponse {
        text,
        usage: answer.usage.and_then(super::Tokens::usage),
        latency_ms: 0,
        finish_reason: answer.stop_reason,
    })
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn text_blocks_make_the_answer_and_a_missing_list_is_said() {
        let ok = parse(r#"{"content":[{"type":"text","text":"a"},{"type":"tool_use","id":"t"},{"type":"text","text":"b"}],"usage":{"input_tokens":2,"output_tokens":5},"stop_reason":"end_turn"}"#).unwrap();
        assert_eq!(ok.text, "ab");
        assert_eq!(
            ok.usage.map(|u| (u.input_tokens, u.output_tokens)),
            Some((2, 5))
        );
        assert_eq!(ok.finish_reason.as_deref(), Some("end_turn"));
        for body in [r#"{"content":"x"}"#, "{}"] {
            let error = parse(body).unwrap_err();
            assert!(
                error.message.contains("no `content` list"),
                "{body}: {}",
                error.message
            );
        }
    }
}
