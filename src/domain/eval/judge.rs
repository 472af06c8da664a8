//! `llm_judge`: the grading meta-prompt sent to a judge model, and reading its verdict.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::answer::{as_text, parse_json_output};
use super::request::{ChatMessage, ChatRequest};
use crate::domain::model::{Parameters, Role};

/// The judge's settings: what to grade against, and with which model.
#[derive(Clone, Debug, PartialEq)]
pub struct JudgeSpec {
    pub rubric: String,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub threshold: f64,
}

const INSTRUCTIONS: &str = "\
You are a strict grader. You compare an answer against a rubric and a reference answer.
Reply with one JSON object and nothing else:
{\"score\": <number from 0 to 1>, \"pass\": <true or false>, \"reason\": \"<one sentence>\"}";

/// The judge's verdict on one answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub score: f64,
    #[serde(default)]
    pub pass: Option<bool>,
    #[serde(default)]
    pub reason: String,
}

/// The request that asks the judge about one answer. Temperature 0 so a cached verdict is
/// the one the judge would most likely give again.
pub fn request(
    spec: &JudgeSpec,
    provider: &str,
    model: &str,
    input: &str,
    output: &str,
    expected: &Value,
) -> ChatRequest {
    let expected = as_text(expected);
    let user = format!(
        "Rubric:\n{}\n\nInput given to the model:\n{input}\n\nReference answer:\n{expected}\n\nAnswer to grade:\n{output}\n",
        spec.rubric.trim()
    );
    ChatRequest {
        provider: spec.provider.clone().unwrap_or_else(|| provider.to_owned()),
        model: spec.model.clone().unwrap_or_else(|| model.to_owned()),
        parameters: Parameters {
            temperature: Some(0.0),
            max_tokens: Some(300),
            ..Parameters::default()
        },
        messages: vec![
            ChatMessage {
                role: Role::System,
                content: INSTRUCTIONS.to_owned(),
            },
            ChatMessage {
                role: Role::User,
                content: user,
            },
        ],
        repeat: 0,
    }
}

/// Reads the judge's reply: a JSON object (in a code fence or not) with a score in [0, 1].
pub fn parse_verdict(text: &str) -> Result<Verdict, String> {
    let value = match parse_json_output(text) {
        Ok(value) => value,
        // Judges sometimes add a sentence around the object: take the outermost braces.
        Err(error) => match (text.find('{'), text.rfind('}')) {
            (Some(start), Some(end)) if start < end => serde_json::from_str(&text[start..=end])
                .map_err(|_| format!("not a JSON verdict: {error}"))?,
            _ => return Err(format!("not a JSON verdict: {error}")),
        },
    };
    let Some(object) = value.as_object() else {
        return Err(format!(
            "the verdict is {}, not a JSON object with a `score`",
            crate::domain::schema::type_name(&value)
        ));
    };
    match object.get("score") {
        None => return Err("the verdict has no `score`".to_owned()),
        Some(score) if !score.is_number() => {
            return Err(format!(
                "the verdict's `score` is {}, not a number",
                crate::domain::schema::type_name(score)
            ));
        }
        Some(_) => {}
    }
    if let Some(pass) = object
        .get("pass")
        .filter(|pass| !pass.is_boolean() && !pass.is_null())
    {
        return Err(format!(
            "the verdict's `pass` is {}, not true or false",
            crate::domain::schema::type_name(pass)
        ));
    }
    let verdict: Verdict = serde_json::from_value(value)
        .map_err(|error| format!("the verdict cannot be read: {error}"))?;
    if !(0.0..=1.0).contains(&verdict.score) {
        return Err(format!(
            "the verdict's score {} is not between 0 and 1",
            verdict.score
        ));
    }
    Ok(verdict)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_plain_fenced_and_wrapped_verdicts() {
        let plain = parse_verdict(r#"{"score": 0.75, "pass": true, "reason": "ok"}"#).unwrap();
        assert_eq!((plain.score, plain.pass), (0.75, Some(true)));
        let fenced = parse_verdict("```json\n{\"score\": 1, \"reason\": \"x\"}\n```").unwrap();
        assert_eq!(fenced.pass, None);
        let wrapped =
            parse_verdict("Here you go: {\"score\": 0, \"reason\": \"no\"} Thanks").unwrap();
        assert!(wrapped.score.abs() < f64::EPSILON);
    }

    #[test]
    fn refuses_verdicts_without_a_usable_score() {
        assert!(parse_verdict("I think it is good").is_err());
        assert!(parse_verdict(r#"{"score": "high"}"#).is_err());
        assert!(
            parse_verdict(r#"{"score": 7}"#)
                .unwrap_err()
                .contains("between 0 and 1")
        );
    }

    #[test]
    fn the_request_carries_rubric_reference_and_answer() {
        let spec = JudgeSpec {
            rubric: "Names the manufacturer.".into(),
            provider: None,
            model: Some("judge-model".into()),
            threshold: 0.5,
        };
        let request = request(
            &spec,
            "openai",
            "gpt",
            "in",
            "out",
            &Value::String("ref".into()),
        );
        assert_eq!(request.model, "judge-model");
        assert_eq!(request.provider, "openai");
        let user = &request.messages[1].content;
        assert!(
            user.contains("Names the manufacturer.")
                && user.contains("ref")
                && user.contains("out")
        );
    }
}
