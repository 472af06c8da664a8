//! JSON Schemas generated from the format types, and schema errors turned into findings.
//!
//! The schemas serve two readers: editors (each YAML file points at its schema in a
//! `yaml-language-server` comment) and `validate`, which compiles them once and reports every
//! violation at the line of the offending value.

use jsonschema::Validator;
use jsonschema::error::{TypeKind, ValidationErrorKind};
use schemars::{JsonSchema, schema_for};
use serde_json::Value;

use super::diagnostic::{Code, Diagnostic, Position};
use super::model::{
    Example, ProjectConfig, PromptFile, Registry, SEMVER_PATTERN, SLUG_PATTERN, TaskMetadata,
};

/// The kinds of file that have a schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SchemaKind {
    Prompt,
    Metadata,
    Example,
    Config,
    Registry,
}

impl SchemaKind {
    pub const ALL: [SchemaKind; 5] = [
        SchemaKind::Prompt,
        SchemaKind::Metadata,
        SchemaKind::Example,
        SchemaKind::Config,
        SchemaKind::Registry,
    ];

    /// The schema's file name under `schemas/`.
    pub fn file_name(self) -> &'static str {
        match self {
            SchemaKind::Prompt => "prompt.schema.json",
            SchemaKind::Metadata => "metadata.schema.json",
            SchemaKind::Example => "example.schema.json",
            SchemaKind::Config => "config.schema.json",
            SchemaKind::Registry => "registry.schema.json",
        }
    }

    /// The JSON Schema generated from the format type.
    pub fn generate(self) -> Value {
        fn of<T: JsonSchema>() -> Value {
            schema_for!(T).to_value()
        }
        match self {
            SchemaKind::Prompt => of::<PromptFile>(),
            SchemaKind::Metadata => of::<TaskMetadata>(),
            SchemaKind::Example => of::<Example>(),
            SchemaKind::Config => of::<ProjectConfig>(),
            SchemaKind::Registry => of::<Registry>(),
        }
    }

    /// The schema as it is committed: pretty JSON with a final newline.
    pub fn render(self) -> String {
        let mut text = serde_json::to_string_pretty(&self.generate()).expect("a schema serialises");
        text.push('\n');
        text
    }
}

/// The compiled validators, built once per run.
pub struct Validators {
    validators: Vec<(SchemaKind, Validator)>,
}

impl Default for Validators {
    fn default() -> Self {
        Self::new()
    }
}

/// Where a value stands, given its JSON pointer; `key` asks for the key of a mapping entry.
pub trait Locate {
    fn locate(&self, pointer: &str, key: bool) -> Position;
}

impl Locate for super::yaml::Document {
    fn locate(&self, pointer: &str, key: bool) -> Position {
        if key {
            self.key_position(pointer)
        } else {
            self.position(pointer)
        }
    }
}

/// Every value of a JSONL line stands on that line.
pub struct OnLine(pub usize);

impl Locate for OnLine {
    fn locate(&self, _pointer: &str, _key: bool) -> Position {
        Position::new(self.0, 1)
    }
}

impl Validators {
    pub fn new() -> Self {
        let validators = SchemaKind::ALL
            .into_iter()
            .map(|kind| {
                let validator = jsonschema::validator_for(&kind.generate())
                    .expect("the generated schemas are valid JSON Schemas");
                (kind, validator)
            })
            .collect();
        Validators { validators }
    }

    fn validator(&self, kind: SchemaKind) -> &Validator {
        &self
            .validators
            .iter()
            .find(|(candidate, _)| *candidate == kind)
            .expect("every kind has a validator")
            .1
    }

    /// The JSON pointers of the unknown fields in `value`, if those are its only schema
    /// violations; `None` when anything else is wrong too.
    pub fn only_unknown_fields(&self, kind: SchemaKind, value: &Value) -> Option<Vec<String>> {
        let mut pointers = Vec::new();
        for error in self.validator(kind).iter_errors(value) {
            let ValidationErrorKind::AdditionalProperties { unexpected } = error.kind() else {
                return None;
            };
            let parent = error.instance_path().as_str();
            pointers.extend(
                unexpected
                    .iter()
                    .map(|name| format!("{parent}/{}", super::yaml::escape_pointer_token(name))),
            );
        }
        Some(pointers)
    }

    /// Checks `value` against the schema of `kind`; every violation becomes a finding.
    pub fn check(
        &self,
        kind: SchemaKind,
        value: &Value,
        file: &str,
        locate: &dyn Locate,
    ) -> Vec<Diagnostic> {
        let schema_hint = format!("see schemas/{}", kind.file_name());
        self.validator(kind)
            .iter_errors(value)
            .filter(|error| !in_scorer_options(error.instance_path().as_str()))
            .flat_map(|error| {
                let pointer = error.instance_path().as_str().to_owned();
                describe(error.kind(), &pointer, value, file, locate, &schema_hint)
            })
            .collect()
    }
}

/// Whether `pointer` is inside a scorer's `options` (`/scorers/N/options…`): those are checked
/// by reading them into their types, with messages made for them (`invalid-scorer-options`).
fn in_scorer_options(pointer: &str) -> bool {
    let Some(rest) = pointer.strip_prefix("/scorers/") else {
        return false;
    };
    let (index, rest) = rest.split_once('/').unwrap_or((rest, ""));
    !index.is_empty()
        && index.bytes().all(|b| b.is_ascii_digit())
        && (rest == "options" || rest.starts_with("options/"))
}

// Long on purpose: one match over every kind of schema error: the table of messages, kept whole so
// no kind is missed.
fn describe(
    kind: &ValidationErrorKind,
    pointer: &str,
    root: &Value,
    file: &str,
    locate: &dyn Locate,
    schema_hint: &str,
) -> Vec<Diagnostic> {
    let instance = root.pointer(pointer).unwrap_or(&Value::Null);
    let at = locate.locate(pointer, false);
    let field = field_name(pointer);
    let finding = match kind {
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            return unexpected
                .iter()
                .map(|name| {
                    let child = format!("{pointer}/{}", super::yaml::escape_pointer_token(name));
                    Diagnostic::error(
                        Code::UnknownField,
                        file,
                        locate.locate(&child, true),
                        format!("unknown field `{name}`{}", in_field(pointer)),
                    )
                    .with_hint(format!("remove it or correct its spelling; {schema_hint}"))
                })
                .collect();
        }
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().map_or_else(|| property.to_string(), str::to_owned);
            Diagnostic::error(
                Code::MissingField,
                file,
                at,
                format!("missing required field `{name}`{}", in_field(pointer)),
            )
            .with_hint(format!("add `{name}`; {schema_hint}"))
        }
        ValidationErrorKind::Type { kind } => {
            let expected = match kind {
                TypeKind::Single(single) => single.to_string(),
                TypeKind::Multiple(set) => set
                    .iter()
                    .map(|t| t.to_string())
                    .filter(|t| t != "null")
                    .collect::<Vec<_>>()
                    .join(" or "),
            };
            let mut finding = Diagnostic::error(
                Code::WrongType,
                file,
                at,
                format!("`{field}` must be {}, found {}", with_article(&expected), type_name(instance)),
            );
            if expected == "string" && (instance.is_number() || instance.is_boolean()) {
                finding = finding.with_hint(format!(
                    "quote the value so YAML reads it as text: {field}: \"{instance}\""
                ));
            }
            finding
        }
        ValidationErrorKind::Pattern { pattern } if pattern == SLUG_PATTERN => Diagnostic::error(
            Code::InvalidId,
            file,
            at,
            format!("`{}` is not a valid task id", short(instance)),
        )
        .with_hint("a task id uses lowercase letters, digits and hyphens (at most 64), starts with a letter or digit, and equals the file name"),
        ValidationErrorKind::Pattern { pattern } if pattern == SEMVER_PATTERN => Diagnostic::error(
            Code::InvalidVersion,
            file,
            at,
            format!("`{}` is not a semantic version", short(instance)),
        )
        .with_hint("write MAJOR.MINOR.PATCH, e.g. 1.2.0 (quoted or not)"),
        ValidationErrorKind::Enum { options } => {
            let allowed = options
                .as_array()
                .map(|values| {
                    values
                        .iter()
                        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            Diagnostic::error(
                Code::InvalidValue,
                file,
                at,
                format!("`{}` is not a valid `{field}`", short(instance)),
            )
            .with_hint(format!("use one of: {allowed}"))
        }
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            // An optional value (`T | null`): report why it does not fit `T`, not the union.
            if let Some(branch) = context.iter().find(|errors| !errors.is_empty()) {
                return branch
                    .iter()
                    .flat_map(|error| {
                        describe(
                            error.kind(),
                            error.instance_path().as_str(),
                            root,
                            file,
                            locate,
                            schema_hint,
                        )
                    })
                    .collect();
            }
            Diagnostic::error(Code::InvalidValue, file, at, format!("`{field}` has an invalid value"))
        }
        other => Diagnostic::error(
            Code::InvalidValue,
            file,
            at,
            format!("`{field}`: {}", other_message(other, instance)),
        )
        .with_hint(schema_hint.to_owned()),
    };
    vec![finding]
}

fn other_message(kind: &ValidationErrorKind, instance: &Value) -> String {
    match kind {
        ValidationErrorKind::Minimum { limit } => {
            format!("{instance} is below the minimum {limit}")
        }
        ValidationErrorKind::Maximum { limit } => {
            format!("{instance} is above the maximum {limit}")
        }
        ValidationErrorKind::ExclusiveMinimum { limit } => {
            format!("{instance} must be greater than {limit}")
        }
        ValidationErrorKind::ExclusiveMaximum { limit } => {
            format!("{instance} must be less than {limit}")
        }
        ValidationErrorKind::MinLength { limit } if *limit == 1 => "must not be empty".to_owned(),
        ValidationErrorKind::MinItems { limit } => format!("needs at least {limit} item(s)"),
        ValidationErrorKind::MinLength { limit } => {
            format!("must be at least {limit} characters long")
        }
        ValidationErrorKind::Pattern { pattern } => {
            format!("`{}` does not match {pattern}", short(instance))
        }
        ValidationErrorKind::Format { format } => {
            format!("`{}` is not a valid {format}", short(instance))
        }
        _ => "has an invalid value".to_owned(),
    }
}

fn field_name(pointer: &str) -> String {
    match pointer.rsplit_once('/') {
        Some((_, last)) if !last.is_empty() => super::yaml::unescape_pointer_token(last),
        _ => "(document)".to_owned(),
    }
}

fn in_field(pointer: &str) -> String {
    if pointer.is_empty() {
        String::new()
    } else {
        format!(
            " in `{}`",
            pointer.trim_start_matches('/').replace('/', ".")
        )
    }
}

/// "a string", "an integer".
pub fn with_article(expected: &str) -> String {
    match expected.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => format!("an {expected}"),
        _ => format!("a {expected}"),
    }
}

/// The JSON type of a value, for messages.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// A value for a message, cut short.
fn short(value: &Value) -> String {
    let text = value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned);
    if text.chars().count() > 60 {
        format!("{}…", text.chars().take(60).collect::<String>())
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::yaml;

    fn findings(kind: SchemaKind, text: &str) -> Vec<Diagnostic> {
        let document = yaml::parse(text).unwrap().unwrap();
        Validators::new().check(kind, &document.value, "f.yaml", &document)
    }

    const PROMPT: &str = "id: a\nversion: 1.0.0\ndescription: d\nmodel:\n  provider: openai\n  name: m\nmessages:\n  - role: user\n    content: hi\noutput:\n  format: text\n";

    #[test]
    fn a_valid_prompt_has_no_findings() {
        assert_eq!(findings(SchemaKind::Prompt, PROMPT), vec![]);
    }

    #[test]
    fn unknown_fields_point_at_their_key() {
        let text = PROMPT.replace("  name: m\n", "  name: m\n  temprature: 0\n");
        let found = findings(SchemaKind::Prompt, &text);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].code, "unknown-field");
        assert_eq!((found[0].line, found[0].column), (7, 3));
        assert!(found[0].message.contains("temprature"));
    }

    #[test]
    fn wrong_role_and_bad_version_and_missing_output() {
        let text = PROMPT
            .replace("role: user", "role: robot")
            .replace("version: 1.0.0", "version: \"1.0\"")
            .replace("output:\n  format: text\n", "");
        let found = findings(SchemaKind::Prompt, &text);
        let codes: Vec<_> = found.iter().map(|d| (d.code, d.line)).collect();
        assert!(codes.contains(&("invalid-value", 8)), "{found:?}");
        assert!(codes.contains(&("invalid-version", 2)), "{found:?}");
        assert!(codes.contains(&("missing-field", 1)), "{found:?}");
    }

    #[test]
    fn unquoted_version_number_gets_a_quoting_hint() {
        let text = PROMPT.replace("version: 1.0.0", "version: 1.5");
        let found = findings(SchemaKind::Prompt, &text);
        assert_eq!(found[0].code, "wrong-type");
        assert!(
            found[0].hint.as_deref().unwrap().contains("quote"),
            "{found:?}"
        );
    }

    #[test]
    fn unknown_scorer_names_are_errors() {
        let text = "id: a\ndescription: d\nowner: o\nversion: 1.0.0\ninputs: {}\noutput: text\nthreshold: 0.8\nscorers:\n  - name: exactt\n";
        let found = findings(SchemaKind::Metadata, text);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!((found[0].code, found[0].line), ("invalid-value", 9));
        assert!(found[0].hint.as_deref().unwrap().contains("llm_judge"));
    }

    #[test]
    fn threshold_out_of_range_is_reported() {
        let text = "id: a\ndescription: d\nowner: o\nversion: 1.0.0\ninputs: {}\noutput: text\nthreshold: 1.5\nscorers:\n  - name: exact\n";
        let found = findings(SchemaKind::Metadata, text);
        assert_eq!(
            (found[0].code, found[0].line),
            ("invalid-value", 7),
            "{found:?}"
        );
    }
}
