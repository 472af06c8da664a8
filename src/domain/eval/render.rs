//! Rendering a prompt's messages for one example, with the same strict environment that
//! `validate` checks templates with: a variable the example lacks is an error, not "".

/// How long one render of a prompt's messages may take, in `eval` and in `serve` alike. Fuel
/// bounds the instructions a template runs, not every operation's cost (minijinja materialises
/// deep list concatenations unmetered), so each render also runs against the clock.
pub const RENDER_DEADLINE: std::time::Duration = std::time::Duration::from_secs(2);

use minijinja::Environment;
use serde_json::{Map, Value};

use super::request::ChatMessage;
use crate::domain::model::PromptFile;
use crate::domain::template;

/// The most text one message may render to: far above any prompt, far below memory. A
/// template that writes more is stopped there, not after it has filled memory.
pub const MAX_RENDERED_BYTES: usize = 4 << 20;

/// A writer that refuses to grow past its limit, which stops the render.
struct Capped {
    bytes: Vec<u8>,
    overflowed: bool,
}

impl std::io::Write for Capped {
    fn write(&mut self, buffer: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + buffer.len() > MAX_RENDERED_BYTES {
            self.overflowed = true;
            return Err(std::io::Error::other("the rendered text is too large"));
        }
        self.bytes.extend_from_slice(buffer);
        Ok(buffer.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A prompt's message templates, compiled once for a whole run.
pub struct Renderer {
    environment: Environment<'static>,
    roles: Vec<crate::domain::model::Role>,
}

/// A message of the prompt that does not compile as a template.
#[derive(Debug, thiserror::Error)]
#[error("message {number} does not compile: {source}")]
pub struct CompileError {
    /// 1-based, as people count messages.
    pub number: usize,
    pub source: minijinja::Error,
}

impl Renderer {
    /// Compiles every message; the error names the message that does not compile.
    pub fn new(prompt: &PromptFile) -> Result<Renderer, CompileError> {
        let mut environment = template::environment();
        for (index, message) in prompt.messages.iter().enumerate() {
            environment
                .add_template_owned(index.to_string(), message.content.clone())
                .map_err(|source| CompileError {
                    number: index + 1,
                    source,
                })?;
        }
        Ok(Renderer {
            environment,
            roles: prompt.messages.iter().map(|message| message.role).collect(),
        })
    }

    /// The messages for one example's variables.
    pub fn render(&self, vars: &Map<String, Value>) -> Result<Vec<ChatMessage>, String> {
        let context = minijinja::Value::from(minijinja::value::Serde(vars));
        self.roles
            .iter()
            .enumerate()
            .map(|(index, role)| {
                let template = self
                    .environment
                    .get_template(&index.to_string())
                    .map_err(|error| error.to_string())?;
                let mut output = Capped {
                    bytes: Vec::new(),
                    overflowed: false,
                };
                let result = template.render_captured_to(&context, &mut output);
                if output.overflowed {
                    return Err(format!(
                        "message {} renders to more than {} bytes; refused",
                        index + 1,
                        MAX_RENDERED_BYTES
                    ));
                }
                let text = result
                    .map(|_| ())
                    .map_err(|error| {
                        let detail = match error.kind() {
                            minijinja::ErrorKind::UndefinedError => {
                                "a variable it uses is missing from the example's `vars`".to_owned()
                            }
                            _ => error
                                .detail()
                                .map_or_else(|| error.to_string(), str::to_owned),
                        };
                        format!("message {} cannot be rendered: {detail}", index + 1)
                    })
                    .and_then(|()| {
                        String::from_utf8(output.bytes)
                            .map_err(|_| format!("message {} rendered to invalid UTF-8", index + 1))
                    })?;
                Ok(ChatMessage {
                    role: *role,
                    content: text,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::{Message, ModelSpec, OutputFormat, OutputSpec, Role};
    use serde_json::json;

    fn prompt(content: &str) -> PromptFile {
        PromptFile {
            id: "t".into(),
            version: "1.0.0".into(),
            description: "d".into(),
            model: ModelSpec {
                provider: "openai".into(),
                name: "m".into(),
                parameters: crate::domain::model::Parameters::default(),
            },
            messages: vec![Message {
                role: Role::User,
                content: content.into(),
            }],
            output: OutputSpec {
                format: OutputFormat::Text,
                schema: None,
            },
            archived: None,
        }
    }

    #[test]
    fn renders_variables_and_keeps_the_trailing_newline() {
        let renderer = Renderer::new(&prompt("Title: {{ title }}\n")).unwrap();
        let vars = json!({"title": "Ω <b> & ü"});
        let messages = renderer.render(vars.as_object().unwrap()).unwrap();
        assert_eq!(messages[0].content, "Title: Ω <b> & ü\n");
    }

    #[test]
    fn a_missing_variable_is_an_error_not_an_empty_string() {
        let renderer = Renderer::new(&prompt("Title: {{ title }}")).unwrap();
        let error = renderer.render(&Map::new()).unwrap_err();
        assert!(error.contains("missing from the example"), "{error}");
    }

    #[test]
    fn optional_variables_can_be_tested_with_is_defined() {
        let renderer = Renderer::new(&prompt(
            "{% if limit is defined %}max {{ limit }}{% endif %}.",
        ))
        .unwrap();
        assert_eq!(renderer.render(&Map::new()).unwrap()[0].content, ".");
    }

    // Regression (defect 3): a render is bounded by its output size, not only by fuel.
    #[test]
    fn output_is_capped() {
        let big = "x".repeat(MAX_RENDERED_BYTES / 2 + 1);
        let vars = json!({"big": big});
        let error = Renderer::new(&prompt("{{ big }}{{ big }}{{ big }}"))
            .unwrap()
            .render(vars.as_object().unwrap())
            .unwrap_err();
        assert!(error.contains("renders to more than"), "{error}");
        let fine = Renderer::new(&prompt("{{ big }}"))
            .unwrap()
            .render(vars.as_object().unwrap())
            .unwrap();
        assert_eq!(fine[0].content.len(), MAX_RENDERED_BYTES / 2 + 1);
    }
}
