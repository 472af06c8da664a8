//! The `OpenAI` Chat Completions API, and every server that speaks it (`Azure OpenAI` behind
//! a compatible gateway, `vLLM`, Ollama, `LiteLLM`…).

use serde::Deserialize;
use serde_json::json;

use super::{CallError, Provider};
use crate::domain::eval::request::{ChatRequest, ChatResponse, parameters_object};
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

/// A Chat Completions answer, as far as promptops reads it.
#[derive(Deserialize)]
struct Answer {
    #[serde(default, deserialize_with = "super::lenient")]
    choices: Option<Vec<Choice>>,
    #[serde(default, deserialize_with = "super::lenient")]
    usage: Option<super::Tokens>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default, deserialize_with = "super::lenient")]
    message: Option<Message>,
    #[serde(default, deserialize_with = "super::lenient")]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    content: Content,
}

#[derive(Default, Deserialize)]
#[serde(untagged)]
enum Content {
    /// No `content` field at all.
    #[default]
    #[serde(skip)]
    Missing,
    /// `null`: the model said nothing.
    Null(()),
    Text(String),
    /// Some compatible servers answer with content parts.
    Parts(Vec<Part>),
    Other(serde::de::IgnoredAny),
}

/// A content part: its text when it has one.
#[derive(Deserialize)]
#[serde(untagged)]
enum Part {
    Text {
        #[serde(default, deserialize_with = "super::lenient")]
        text: Option<String>,
    },
    Other(serde::de::IgnoredAny),
}

fn parse(text: &str) -> Result<ChatResponse, CallError> {
    let answer: Answer = super::answer_json(text)?;
    let Some(choice) = answer.choices.into_iter().flatten().next() else {
        return Err(CallError::transient(
            "the answer has no `choices[0]`".to_owned(),
        ));
    };
    let content = choice
        .message
        .map_or(Content::Missing, |message| message.content);
    let text = match content {
        Content::Missing => {
            return Err(CallError::transient(
                "the answer has no `choices[0].message.content`".to_owned(),
            ));
        }
        Content::Text(text) => text,
        Content::Null(()) => String::new(),
        Content::Parts(parts) => parts
            .into_iter()
            .filter_map(|part| match part {
                Part::Text { text } => text,
                Part::Other(_) => None,
            })
            .collect(),
        Content::Other(_) => {
            return Err(CallError::transient(
                "`choices[0].message.content` is not text".to_owned(),
            ));
        }
    };
    Ok(ChatResponse {
        text,
        usage: answer.usage.and_then(super::Tokens::usage),
        latency_ms: 0,
        finish_reason: choice.finish_reason,
    })
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn each_shape_of_answer_reads_or_says_what_is_missing() {
        let ok = parse(r#"{"choices":[{"message":{"content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1}}"#).unwrap();
        assert_eq!(ok.text, "hi");
        assert_eq!(ok.finish_reason.as_deref(), Some("stop"));
        assert_eq!(
            ok.usage.map(|u| (u.input_tokens, u.output_tokens)),
            Some((3, 1))
        );
        let parts = parse(r#"{"choices":[{"message":{"content":[{"text":"a"},7,{"type":"x"},{"text":"b"}]}}],"usage":{"prompt_tokens":"3"}}"#).unwrap();
        assert_eq!(parts.text, "ab");
        assert!(parts.usage.is_none());
        assert_eq!(
            parse(r#"{"choices":[{"message":{"content":null}}]}"#)
                .unwrap()
                .text,
            ""
        );
        for (body, said) in [
            (r#"{"choices":[]}"#, "no `choices[0]`"),
            (r#"{"choices":"x"}"#, "no `choices[0]`"),
            (
                r#"{"choices":[{"message":{}}]}"#,
                "no `choices[0].message.content`",
            ),
            (r#"{"choices":[{}]}"#, "no `choices[0].message.content`"),
            (r#"{"choices":[{"message":{"content":5}}]}"#, "is not text"),
            ("<html>", "not JSON"),
        ] {
            let error = parse(body).unwrap_err();
            assert!(error.message.contains(said), "{body}: {}", error.message);
        }
    }
}
