//! Checks of one file on its own: read, parse, schema, id, templates, examples lines.
//!
//! These run in parallel over all files; what needs two files at once is in `analysis`.

use std::collections::{BTreeSet, HashMap};

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::diagnostic::{Code, Diagnostic, Position};
use super::eval::scorers;
use super::json;
use super::layout::{self, Role};
use super::model::{Example, OutputFormat, ProjectConfig, PromptFile, Registry, TaskMetadata};
use super::schema::{Locate, OnLine, SchemaKind, Validators};
use super::source::{self, FileContent, InputFile};
use super::template;
use super::yaml::{self, Document};

/// A prompt file that parsed and fits its schema.
#[derive(Clone, Debug)]
pub struct ParsedPrompt {
    pub prompt: PromptFile,
    pub document: Document,
    /// Each variable the templates use, with where it is first used.
    pub variables: Vec<(String, Position)>,
    /// Every template compiled (otherwise `variables` is incomplete).
    pub templates_compile: bool,
    /// The compiled `output.schema`, when there is a valid one.
    pub output_validator: Option<jsonschema::Validator>,
}

#[derive(Clone, Debug)]
pub struct ParsedMetadata {
    pub metadata: TaskMetadata,
    pub document: Document,
}

/// What the analysis keeps of an examples file: its figures, not its examples (they are read
/// again as a stream by `eval`, so memory does not grow with the data set).
#[derive(Clone, Debug)]
pub struct ParsedExamples {
    /// Non-blank lines, valid or not.
    pub count: u64,
}

/// The outcome of checking an examples file as a stream.
#[derive(Debug)]
pub struct StreamedExamples {
    /// `None` when the file could not be read to its end.
    pub sha256: Option<String>,
    pub parsed: Option<ParsedExamples>,
    pub findings: Vec<Diagnostic>,
    /// The text of the lines findings point at (the file is not kept, nor read again).
    pub shown_lines: std::collections::BTreeMap<usize, String>,
}

/// What the examples of a task are checked against.
pub struct ExampleContext<'a> {
    pub metadata: Option<&'a ParsedMetadata>,
    pub output_schema: Option<&'a jsonschema::Validator>,
}

/// Lines shown for findings of one examples file at most; the findings themselves are all
/// kept.
const SHOWN_LINES: usize = 200;

/// What one file turned into.
#[derive(Clone, Debug)]
pub enum Parsed {
    Prompt(Box<ParsedPrompt>),
    Metadata(Box<ParsedMetadata>),
    Examples(ParsedExamples),
    Config(ProjectConfig),
    /// The registry, the spans of its entries, and its text (for `registry --check`).
    Registry(Box<Registry>, Box<Document>, String),
    /// The file exists but could not be read into its type; its findings say why.
    Broken,
    /// Not a file promptops reads.
    Skipped,
    /// An examples file, checked later as a stream with its task's metadata.
    ExamplesLater,
}

/// The result of checking one file.
#[derive(Clone, Debug)]
pub struct FileResult {
    pub path: String,
    pub role: Role,
    /// Present when the file's bytes were read.
    pub sha256: Option<String>,
    pub parsed: Parsed,
    pub findings: Vec<Diagnostic>,
}

/// The positions of a prompt that the cross-file checks report at (see `analysis`).
const PROMPT_POSITIONS: [&str; 8] = [
    "",
    "/id",
    "/version",
    "/model/provider",
    "/model/parameters/temperature",
    "/model/parameters/top_p",
    "/messages",
    "/output/format",
];
/// The positions of task metadata that the cross-file checks report at.
const METADATA_POSITIONS: [&str; 2] = ["", "/version"];

/// Checks one file.
pub fn check_file(
    input: &InputFile,
    validators: &Validators,
    environment: &minijinja::Environment<'_>,
) -> FileResult {
    let role = layout::classify(&input.path);
    let mut result = FileResult {
        path: input.path.clone(),
        role: role.clone(),
        sha256: None,
        parsed: Parsed::Skipped,
        findings: Vec::new(),
    };
    let task = role.task().map(str::to_owned);
    if let Role::Misplaced {
        code,
        message,
        hint,
        ..
    } = &role
    {
        result.findings.push(
            Diagnostic::error(*code, &input.path, Position::START, message.clone())
                .with_hint(hint.clone()),
        );
    } else if let Some(finding) = source::unreadable_finding(&input.path, &input.content) {
        result.findings.push(finding);
        result.parsed = Parsed::Broken;
    } else if role.size_limit().is_none() {
        // Not a file promptops reads (README.md, .gitkeep, eval logs), whatever was handed in.
    } else if matches!(role, Role::Examples { .. }) {
        // Checked as a stream once the task's metadata is known (`check_examples_stream`).
        result.parsed = Parsed::ExamplesLater;
    } else if let FileContent::Bytes(bytes) = &input.content {
        result.sha256 = Some(source::sha256_hex(bytes));
        match source::decode(&input.path, bytes) {
            Err(finding) => {
                result.findings.push(finding);
                result.parsed = Parsed::Broken;
            }
            Ok(text) => {
                let mut findings = Vec::new();
                result.parsed = parse_by_role(
                    &input.path,
                    &role,
                    text,
                    validators,
                    environment,
                    &mut findings,
                );
                result.findings = findings;
            }
        }
    }
    if let Some(task) = task {
        for finding in &mut result.findings {
            finding.task = Some(task.clone());
        }
    }
    result
}

fn parse_by_role(
    path: &str,
    role: &Role,
    text: &str,
    validators: &Validators,
    environment: &minijinja::Environment<'_>,
    findings: &mut Vec<Diagnostic>,
) -> Parsed {
    match role {
        Role::Examples { .. } => Parsed::ExamplesLater,
        Role::Candidate { task } | Role::Production { task } => {
            check_prompt(path, task, None, text, validators, environment, findings)
        }
        Role::Archive { task, version } => check_prompt(
            path,
            task,
            Some(version),
            text,
            validators,
            environment,
            findings,
        ),
        Role::Metadata { task } => {
            let Some((metadata, document)) =
                parse_typed::<TaskMetadata>(path, text, SchemaKind::Metadata, validators, findings)
            else {
                return Parsed::Broken;
            };
            check_metadata(path, task, &metadata, &document, findings);
            let mut document = document;
            document.keep_spans(|pointer| METADATA_POSITIONS.contains(&pointer));
            Parsed::Metadata(Box::new(ParsedMetadata { metadata, document }))
        }
        Role::Config => {
            match parse_typed::<ProjectConfig>(path, text, SchemaKind::Config, validators, findings)
            {
                Some((config, document)) => {
                    check_config(path, &config, &document, findings);
                    Parsed::Config(config)
                }
                None => Parsed::Broken,
            }
        }
        Role::Registry => {
            match parse_typed::<Registry>(path, text, SchemaKind::Registry, validators, findings) {
                Some((registry, mut document)) => {
                    // Registry findings point at a task or one of its fields: `/tasks/<id>/<field>`.
                    document.keep_spans(|pointer| pointer.matches('/').count() <= 3);
                    Parsed::Registry(Box::new(registry), Box::new(document), text.to_owned())
                }
                None => Parsed::Broken,
            }
        }
        Role::EvalLog | Role::Ignored | Role::Misplaced { .. } => Parsed::Skipped,
    }
}

/// Parses YAML, checks it against its schema, and reads it into its type.
fn parse_typed<T: DeserializeOwned>(
    path: &str,
    text: &str,
    kind: SchemaKind,
    validators: &Validators,
    findings: &mut Vec<Diagnostic>,
) -> Option<(T, Document)> {
    let mut document = match yaml::parse(text) {
        Ok(Some(document)) => document,
        Ok(None) => {
            findings.push(
                Diagnostic::error(
                    Code::EmptyFile,
                    path,
                    Position::START,
                    "the file holds no YAML document",
                )
                .with_hint("fill it in or delete it"),
            );
            return None;
        }
        Err(error) => {
            findings.push(Diagnostic::error(error.code, path, error.at, error.message));
            return None;
        }
    };
    if !document.value.is_object() {
        findings.push(
            Diagnostic::error(
                Code::WrongType,
                path,
                Position::START,
                "the document must be a mapping of fields",
            )
            .with_hint(format!("see schemas/{}", kind.file_name())),
        );
        return None;
    }
    let schema_findings = validators.check(kind, &document.value, path, &document);
    // The typed value is all that is needed from here on; the document keeps the spans.
    let mut value = std::mem::take(&mut document.value);
    if !schema_findings.is_empty() {
        findings.extend(schema_findings);
        // A misspelt field should not hide the file's other problems: without the unknown
        // fields, the rest can still take part in the cross-file checks.
        let unknown = validators.only_unknown_fields(kind, &value)?;
        for pointer in unknown {
            remove_pointer(&mut value, &pointer);
        }
        return serde_json::from_value::<T>(value)
            .ok()
            .map(|parsed| (parsed, document));
    }
    match serde_json::from_value::<T>(value) {
        Ok(value) => Some((value, document)),
        Err(error) => {
            findings.push(Diagnostic::error(
                Code::InvalidValue,
                path,
                Position::START,
                error.to_string(),
            ));
            None
        }
    }
}

fn remove_pointer(value: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    if let Some(Value::Object(map)) = value.pointer_mut(parent) {
        map.shift_remove(&yaml::unescape_pointer_token(last));
    }
}

fn id_mismatch(
    path: &str,
    document: &Document,
    id: &str,
    expected: &str,
    what: &str,
) -> Option<Diagnostic> {
    (id != expected).then(|| {
        Diagnostic::error(
            Code::IdMismatch,
            path,
            document.position("/id"),
            format!("id `{id}` does not match the {what} `{expected}`"),
        )
        .with_hint(format!(
            "the id and the {what} must agree: change one of them"
        ))
    })
}

// Long on purpose: every check of one prompt file, in the order of the file's fields, so a reader
// finds a check by the field it is about.
fn check_prompt(
    path: &str,
    task: &str,
    archived_version: Option<&String>,
    text: &str,
    validators: &Validators,
    environment: &minijinja::Environment<'_>,
    findings: &mut Vec<Diagnostic>,
) -> Parsed {
    let Some((prompt, document)) =
        parse_typed::<PromptFile>(path, text, SchemaKind::Prompt, validators, findings)
    else {
        return Parsed::Broken;
    };
    let what = if archived_version.is_some() {
        "archive folder"
    } else {
        "file name"
    };
    findings.extend(id_mismatch(path, &document, &prompt.id, task, what));
    match (archived_version, &prompt.archived) {
        (Some(version), _) if *version != prompt.version => findings.push(
            Diagnostic::error(
                Code::ArchiveVersionMismatch,
                path,
                document.position("/version"),
                format!("this archive file is named {version}.yaml but holds version {}", prompt.version),
            )
            .with_hint(format!("rename the file to {}.yaml", prompt.version)),
        ),
        (Some(_), None) => findings.push(
            Diagnostic::error(Code::ArchiveMissingReason, path, Position::START, "an archived version must say why and when it was retired")
                .with_hint("add `archived: {reason: \"...\", at: \"2026-01-31T12:00:00Z\"}`"),
        ),
        (None, Some(_)) => findings.push(
            Diagnostic::error(
                Code::ArchivedOutsideArchive,
                path,
                document.key_position("/archived"),
                "only files in prompts/99-archive/ carry an `archived` note",
            )
            .with_hint("remove the `archived` block, or move the file to prompts/99-archive/<task>/<version>.yaml"),
        ),
        _ => {}
    }
    let mut output_validator = None;
    match (prompt.output.format, &prompt.output.schema) {
        (OutputFormat::Text, Some(_)) => findings.push(
            Diagnostic::error(
                Code::OutputSchemaInvalid,
                path,
                document.key_position("/output/schema"),
                "a text output has no JSON Schema",
            )
            .with_hint("set `format: json`, or remove `schema`"),
        ),
        (OutputFormat::Json, Some(schema)) => match jsonschema::validator_for(schema) {
            Ok(validator) => output_validator = Some(validator),
            Err(error) => findings.push(
                Diagnostic::error(
                    Code::OutputSchemaInvalid,
                    path,
                    document.position(&format!("/output/schema{}", error.instance_path().as_str())),
                    format!("the output schema is not a valid JSON Schema: {error}"),
                )
                .with_hint("fix the schema; remote `$ref`s are not fetched"),
            ),
        },
        _ => {}
    }
    let mut variables: Vec<(String, Position)> = Vec::new();
    let mut templates_compile = true;
    for (index, message) in prompt.messages.iter().enumerate() {
        let pointer = format!("/messages/{index}/content");
        match template::usage(environment, &message.content) {
            Ok(usage) => {
                for unknown in &usage.unknown {
                    let (column_line, column) =
                        template::find_variable(&message.content, &unknown.name);
                    let column = if column_line == unknown.line {
                        column
                    } else {
                        1
                    };
                    findings.push(
                        Diagnostic::error(
                            Code::UnknownTemplateCallable,
                            path,
                            yaml::position_in_string(&document, &pointer, unknown.line, column),
                            format!(
                                "the template uses the {} `{}`, which the template engine does not have; every render would fail",
                                unknown.kind, unknown.name
                            ),
                        )
                        .with_hint("the README lists the filters, tests and functions minijinja provides (e.g. `tojson` instead of `dump`)"),
                    );
                }
                for name in usage.variables {
                    if variables.iter().any(|(known, _)| *known == name) {
                        continue;
                    }
                    let (line, column) = template::find_variable(&message.content, &name);
                    let at = yaml::position_in_string(&document, &pointer, line, column);
                    variables.push((name, at));
                }
            }
            Err(error) => {
                templates_compile = false;
                findings.push(
                    Diagnostic::error(
                        Code::TemplateSyntax,
                        path,
                        yaml::position_in_string(&document, &pointer, error.line, 1),
                        error.message,
                    )
                    .with_hint("templates are minijinja (Jinja2) syntax: {{ variable }}, {% if %}…{% endif %}"),
                );
            }
        }
    }
    let mut document = document;
    document.keep_spans(|pointer| PROMPT_POSITIONS.contains(&pointer));
    Parsed::Prompt(Box::new(ParsedPrompt {
        prompt,
        document,
        variables,
        templates_compile,
        output_validator,
    }))
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn check_metadata(
    path: &str,
    task: &str,
    metadata: &TaskMetadata,
    document: &Document,
    findings: &mut Vec<Diagnostic>,
) {
    findings.extend(id_mismatch(path, document, &metadata.id, task, "file name"));
    for (index, spec) in metadata.scorers.iter().enumerate() {
        if let Err(error) = scorers::compile(spec) {
            let pointer = format!("/scorers/{index}/options{}", error.pointer);
            findings.push(
                Diagnostic::error(
                    Code::InvalidScorerOptions,
                    path,
                    document.key_position(&pointer),
                    error.message,
                )
                .with_hint("the README's scorer reference lists the options each scorer takes"),
            );
        }
    }
    for name in metadata.inputs.keys() {
        if !is_identifier(name) {
            findings.push(
                Diagnostic::error(
                    Code::InvalidValue,
                    path,
                    document.key_position(&format!("/inputs/{}", yaml::escape_pointer_token(name))),
                    format!("input name `{name}` cannot be used in a template"),
                )
                .with_hint(
                    "use letters, digits and underscores, starting with a letter or underscore",
                ),
            );
        }
    }
    let default_examples = format!("{}/{}/{task}.jsonl", layout::PROMPTS_DIR, layout::EXAMPLES);
    if let Some(examples) = &metadata.examples
        && *examples != default_examples
    {
        findings.push(
            Diagnostic::error(
                Code::ExamplesPathMismatch,
                path,
                document.position("/examples"),
                format!(
                    "`examples` is `{examples}`, but a task's examples live in `{default_examples}`"
                ),
            )
            .with_hint(format!(
                "set `examples: {default_examples}` or remove the field"
            )),
        );
    }
    if metadata.scorers.iter().all(|scorer| scorer.weight == 0.0) {
        findings.push(
            Diagnostic::error(
                Code::InvalidValue,
                path,
                document.position("/scorers"),
                "every scorer has weight 0",
            )
            .with_hint("give at least one scorer a positive weight"),
        );
    }
}

fn check_config(
    path: &str,
    config: &ProjectConfig,
    document: &Document,
    findings: &mut Vec<Diagnostic>,
) {
    for (name, provider) in &config.providers {
        let pointer = format!("/providers/{}", yaml::escape_pointer_token(name));
        if !layout::is_slug(name) {
            findings.push(
                Diagnostic::error(
                    Code::InvalidValue,
                    path,
                    document.key_position(&pointer),
                    format!("provider name `{name}` is not a slug"),
                )
                .with_hint("use lowercase letters, digits and hyphens"),
            );
        }
        if provider.kind == super::model::ProviderKind::Exec
            && provider.command.as_ref().is_none_or(Vec::is_empty)
        {
            findings.push(
                Diagnostic::error(
                    Code::MissingField,
                    path,
                    document.position(&pointer),
                    format!("provider `{name}` is of kind exec but has no `command`"),
                )
                .with_hint("add `command: [program, arg, ...]`"),
            );
        }
        if let Some(url) = &provider.base_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            findings.push(
                Diagnostic::error(
                    Code::InvalidValue,
                    path,
                    document.position(&format!("{pointer}/base_url")),
                    format!("`{url}` is not an http(s) URL"),
                )
                .with_hint("write it as https://host[:port]/path"),
            );
        }
    }
}

/// Checks an examples file line by line from `reader`: each line with the one example reader
/// (`read_example`), ids unique, and, with the task's metadata, every example against its
/// inputs and output type. Keeps no example, so a file of any size is checked in flat memory.
// Long on purpose: one streaming loop over an examples file whose state (ids seen, line, counts)
// every check shares.
pub fn check_examples_stream(
    path: &str,
    reader: &mut dyn std::io::BufRead,
    validators: &Validators,
    context: &ExampleContext<'_>,
) -> StreamedExamples {
    use sha2::Digest;
    let mut lines = json::JsonLines::new(reader);
    let mut findings = Vec::new();
    let mut shown_lines = std::collections::BTreeMap::new();
    let mut count = 0u64;
    // Ids by a 128-bit digest: unique ids stay unique, and memory stays small.
    let mut seen: HashMap<[u8; 16], usize> = HashMap::new();
    loop {
        let (number, line) = match lines.next_line() {
            Ok(Some(next)) => next,
            Ok(None) => break,
            Err(error) => {
                findings.push(Diagnostic::error(
                    Code::UnreadableFile,
                    path,
                    Position::START,
                    format!("cannot read the file: {error}"),
                ));
                return StreamedExamples {
                    sha256: None,
                    parsed: None,
                    findings,
                    shown_lines,
                };
            }
        };
        count += 1;
        let before = findings.len();
        let text = match line {
            json::JsonLine::Text(text) => text,
            json::JsonLine::NotUtf8 { column } => {
                findings.push(
                    Diagnostic::error(
                        Code::InvalidUtf8,
                        path,
                        Position::new(number, column),
                        format!("line {number} is not valid UTF-8"),
                    )
                    .with_hint("save the file as UTF-8"),
                );
                continue;
            }
        };
        match read_example(path, number, text, validators) {
            Err(line_findings) => findings.extend(line_findings),
            Ok(example) if example.id.chars().any(char::is_control) => {
                // An id is printed in reports, logs and CI output: a newline in it could start
                // a line of its own there (a GitHub workflow command).
                findings.push(
                    Diagnostic::error(
                        Code::InvalidValue,
                        path,
                        Position::new(number, 1),
                        format!(
                            "example id {:?} contains a control character (a newline, a tab…)",
                            example.id
                        ),
                    )
                    .with_hint("use letters, digits and punctuation in ids"),
                );
            }
            Ok(example) => {
                let digest = sha2::Sha256::digest(example.id.as_bytes());
                let mut key = [0u8; 16];
                key.copy_from_slice(&digest[..16]);
                if let Some(first) = seen.insert(key, number) {
                    findings.push(
                        Diagnostic::error(
                            Code::DuplicateExampleId,
                            path,
                            Position::new(number, 1),
                            format!(
                                "example id `{}` is already used on line {first}",
                                example.id
                            ),
                        )
                        .with_hint("give every example its own id"),
                    );
                } else if let Some(metadata) = context.metadata {
                    check_example_against_metadata(
                        path,
                        number,
                        &example,
                        metadata,
                        context.output_schema,
                        &mut findings,
                    );
                }
            }
        }
        if findings.len() > before && shown_lines.len() < SHOWN_LINES {
            shown_lines.insert(number, text.to_owned());
        }
    }
    if count == 0 {
        findings.push(
            Diagnostic::error(Code::EmptyFile, path, Position::START, "the file is empty")
                .with_hint("fill it in or delete it"),
        );
    }
    StreamedExamples {
        sha256: Some(lines.sha256()),
        parsed: (count > 0).then_some(ParsedExamples { count }),
        findings,
        shown_lines,
    }
}

/// What is wrong with a set of variables for a task's declared inputs. `eval` (through
/// `validate`'s example checks) and `serve`'s render endpoint both judge variables with this.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "problem", rename_all = "kebab-case")]
pub enum VariableProblem {
    /// A required input has no value.
    Missing { name: String },
    /// A value for an input the task does not declare.
    Undeclared { name: String },
    /// A value of another type than declared.
    WrongType {
        name: String,
        expected: &'static str,
        found: &'static str,
    },
}

/// Every problem of `vars` against `inputs`: required inputs first (in name order), then the
/// values (in their order). A `null` for an optional input counts as absent.
pub fn variable_problems(
    inputs: &std::collections::BTreeMap<String, super::model::InputSpec>,
    vars: &serde_json::Map<String, Value>,
) -> Vec<VariableProblem> {
    let mut problems: Vec<VariableProblem> = inputs
        .iter()
        .filter(|(name, spec)| !spec.optional && !vars.contains_key(*name))
        .map(|(name, _)| VariableProblem::Missing { name: name.clone() })
        .collect();
    for (name, value) in vars {
        match inputs.get(name) {
            None => problems.push(VariableProblem::Undeclared { name: name.clone() }),
            Some(spec) if value.is_null() && spec.optional => {}
            Some(spec) if !spec.kind.accepts(value) => problems.push(VariableProblem::WrongType {
                name: name.clone(),
                expected: spec.kind.as_str(),
                found: super::schema::type_name(value),
            }),
            Some(_) => {}
        }
    }
    problems
}

/// One example against its task's metadata: required inputs present, no undeclared ones, each
/// of its declared type, and `expected` of the task's output type.
fn check_example_against_metadata(
    path: &str,
    line: usize,
    example: &Example,
    metadata: &ParsedMetadata,
    output_schema: Option<&jsonschema::Validator>,
    findings: &mut Vec<Diagnostic>,
) {
    use super::schema::{type_name, with_article};
    let inputs = &metadata.metadata.inputs;
    let at = Position::new(line, 1);
    let id = &example.id;
    for problem in variable_problems(inputs, &example.vars) {
        let finding = match problem {
            VariableProblem::Missing { name } => Diagnostic::error(
                Code::MissingExampleVariable,
                path,
                at,
                format!("example `{id}` (line {line}) has no value for required input `{name}`"),
            )
            .with_hint(format!(
                "add \"{name}\" to its \"vars\", or mark the input optional"
            )),
            VariableProblem::Undeclared { name } => Diagnostic::error(
                Code::UndeclaredExampleVariable,
                path,
                at,
                format!("example `{id}` (line {line}) sets `{name}`, which the task metadata does not declare"),
            )
            .with_hint("remove it from \"vars\", or declare it under `inputs:`"),
            VariableProblem::WrongType {
                name,
                expected,
                found,
            } => Diagnostic::error(
                Code::ExampleVariableType,
                path,
                at,
                format!(
                    "example `{id}` (line {line}): `{name}` must be {}, found {found}",
                    with_article(expected)
                ),
            )
            .with_hint(format!("the input is declared `type: {expected}`")),
        };
        findings.push(finding);
    }
    match metadata.metadata.output {
        OutputFormat::Text if !example.expected.is_string() => findings.push(
            Diagnostic::error(Code::ExpectedType, path, at, format!("example `{id}` (line {line}): `expected` must be a string for a text task, found {}", type_name(&example.expected)))
                .with_hint("write the expected answer as a JSON string"),
        ),
        OutputFormat::Json => {
            if let Some(error) = output_schema.and_then(|schema| schema.iter_errors(&example.expected).next()) {
                let place = error.instance_path().as_str();
                let place = if place.is_empty() { String::new() } else { format!(" at {place}") };
                findings.push(
                    Diagnostic::error(Code::ExpectedSchema, path, at, format!("example `{id}` (line {line}): `expected` does not fit the output schema{place}: {error}"))
                        .with_hint("fix the example, or the prompt's `output.schema`"),
                );
            }
        }
        OutputFormat::Text => {}
    }
}

/// One line of an examples file (as `json::JsonLines` yields it) as an example, or the
/// findings that say why it is not one.
/// `validate` and `eval` both read examples with this, so what validates, evaluates.
pub fn read_example(
    path: &str,
    number: usize,
    line: &str,
    validators: &Validators,
) -> Result<Example, Vec<Diagnostic>> {
    const SHAPE: &str =
        "each line is one JSON object: {\"id\": \"...\", \"vars\": {...}, \"expected\": ...}";
    let value = json::parse(line).map_err(|error| {
        let code = if error.too_deep {
            Code::NestingTooDeep
        } else {
            Code::ExamplesJson
        };
        vec![
            Diagnostic::error(
                code,
                path,
                Position::new(number, error.column),
                format!("line {number} is not valid JSON: {}", error.message),
            )
            .with_hint(SHAPE),
        ]
    })?;
    if !value.is_object() {
        return Err(vec![
            Diagnostic::error(
                Code::WrongType,
                path,
                Position::new(number, 1),
                format!("line {number} is not a JSON object"),
            )
            .with_hint(SHAPE),
        ]);
    }
    let schema_findings = validators.check(SchemaKind::Example, &value, path, &OnLine(number));
    if !schema_findings.is_empty() {
        return Err(schema_findings
            .into_iter()
            .map(|mut finding| {
                finding.message = format!("line {number}: {}", finding.message);
                finding
            })
            .collect());
    }
    let example = serde_json::from_value::<Example>(value).map_err(|error| {
        vec![Diagnostic::error(
            Code::InvalidValue,
            path,
            OnLine(number).locate("", false),
            format!("line {number} is not a valid example: {error}"),
        )]
    })?;
    let scorer_findings: Vec<Diagnostic> = example
        .scorers
        .iter()
        .flatten()
        .filter_map(|spec| scorers::compile(spec).err())
        .map(|error| {
            Diagnostic::error(
                Code::InvalidScorerOptions,
                path,
                Position::new(number, 1),
                format!("line {number}: {}", error.message),
            )
            .with_hint("the README's scorer reference lists the options each scorer takes")
        })
        .collect();
    if scorer_findings.is_empty() {
        Ok(example)
    } else {
        Err(scorer_findings)
    }
}

/// The variables of a prompt, as a set.
pub fn variable_names(prompt: &ParsedPrompt) -> BTreeSet<&str> {
    prompt
        .variables
        .iter()
        .map(|(name, _)| name.as_str())
        .collect()
}
