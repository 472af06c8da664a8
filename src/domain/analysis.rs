//! The whole-repository analysis: every file checked, grouped into tasks, cross-checked.
//!
//! `validate`, `registry` and `status` all start here; they differ in what they do with the
//! findings and the task model.

use std::collections::{BTreeMap, BTreeSet};

use super::diagnostic::{Code, Diagnostic, Position, Severity, sort_findings};
use super::file_checks::{self, FileResult, Parsed, ParsedMetadata, ParsedPrompt};
use super::layout::{self, Role};
use super::model::{ProjectConfig, ProviderKind, Registry};
use super::registry;
use super::schema::Validators;
use super::source::InputFile;
pub use super::task::{Entry, PromptEntry, Task};
use super::template;
use super::yaml::Document;

#[derive(Clone, Copy)]
pub struct Options<'a> {
    /// Report problems of `00-templates/` as errors, not warnings.
    pub strict: bool,
    /// Worker threads for the per-file checks, and what starts them.
    pub threads: usize,
    pub spawn: &'a dyn super::parallel::Spawn,
}

impl Default for Options<'static> {
    /// Not strict, on this thread alone.
    fn default() -> Self {
        Options {
            strict: false,
            threads: 1,
            spawn: &super::parallel::Sequential,
        }
    }
}

/// The registry file as found.
#[derive(Clone, Debug)]
pub enum RegistryState {
    Missing,
    Broken,
    Parsed {
        registry: Box<Registry>,
        document: Box<Document>,
        text: String,
    },
}

/// The result of analysing a repository.
#[derive(Debug)]
pub struct Analysis {
    pub findings: Vec<Diagnostic>,
    pub tasks: BTreeMap<String, Task>,
    pub config: ProjectConfig,
    pub registry: RegistryState,
    /// The registry the files call for, keeping the history of the one on disk.
    pub expected_registry: Registry,
    pub files_read: usize,
    /// Every file the analysis was given, repository-relative.
    pub files: Vec<String>,
    /// The text of each file a finding points at, as the scan read it (of a streamed
    /// examples file, the lines findings point at), so a report never opens a file again.
    pub sources: std::collections::HashMap<String, String>,
}

/// Problems that stay errors even in the lenient `00-templates/` layer: they are about the
/// safety of reading the file at all, not about a draft being unfinished.
const NEVER_LENIENT: [&str; 6] = [
    Code::NestingTooDeep.as_str(),
    Code::FileTooLarge.as_str(),
    Code::InvalidUtf8.as_str(),
    Code::SymlinkOutsideRepository.as_str(),
    Code::UnreadableFile.as_str(),
    Code::YamlAliasLimit.as_str(),
];

/// Analyses the files of a repository.
// Long on purpose: the analysis's phases in the order they depend on each other (read, group,
// cross-check); each phase is a call, and the function is their table of contents.
pub fn analyze(inputs: &[InputFile], options: Options<'_>) -> Analysis {
    let validators = Validators::new();
    let results = check_files(inputs, &validators, (options.threads.max(1), options.spawn));

    let mut findings = Vec::new();
    let mut tasks: BTreeMap<String, Task> = BTreeMap::new();
    let mut config = ProjectConfig::default();
    let mut registry = RegistryState::Missing;
    let mut files_read = 0;
    // Examples files, checked once every task's metadata is known: (task, input index).
    let mut streamed: Vec<(String, usize)> = Vec::new();
    for (index, result) in results.into_iter().enumerate() {
        let FileResult {
            path,
            role,
            sha256,
            parsed,
            findings: file_findings,
        } = result;
        findings.extend(file_findings);
        files_read += usize::from(sha256.is_some());
        let sha256 = sha256.unwrap_or_default();
        match (role, parsed) {
            (Role::Registry, Parsed::Registry(parsed, document, text)) => {
                registry = RegistryState::Parsed {
                    registry: parsed,
                    document,
                    text,
                };
            }
            (Role::Registry, Parsed::Broken) => registry = RegistryState::Broken,
            (Role::Config, Parsed::Config(parsed)) => config = parsed,
            (Role::Production { task }, parsed) => {
                tasks.entry(task).or_default().production =
                    Some(prompt_entry(path, sha256, parsed));
            }
            (Role::Candidate { task }, parsed) => {
                tasks.entry(task).or_default().candidate = Some(prompt_entry(path, sha256, parsed));
            }
            (Role::Archive { task, .. }, parsed) => {
                tasks
                    .entry(task)
                    .or_default()
                    .archived
                    .push(prompt_entry(path, sha256, parsed));
            }
            (Role::Metadata { task }, parsed) => {
                let parsed = match parsed {
                    Parsed::Metadata(metadata) => Some(metadata),
                    _ => None,
                };
                tasks.entry(task).or_default().metadata = Some(Entry {
                    path,
                    sha256,
                    parsed,
                });
            }
            (Role::Examples { task }, parsed) => {
                if matches!(parsed, Parsed::ExamplesLater) {
                    streamed.push((task.clone(), index));
                }
                tasks.entry(task).or_default().examples = Some(Entry {
                    path,
                    sha256,
                    parsed: None,
                });
            }
            _ => {}
        }
    }
    for task in tasks.values_mut() {
        task.archived.sort_by_key(version_of);
    }
    let mut sources = std::collections::HashMap::new();
    let checked = check_examples(
        inputs,
        &tasks,
        &streamed,
        &validators,
        (options.threads.max(1), options.spawn),
    );
    for ((task, index), result) in streamed.iter().zip(checked) {
        let path = &inputs[*index].path;
        findings.extend(
            result
                .findings
                .into_iter()
                .map(|finding| finding.for_task(task)),
        );
        if !result.shown_lines.is_empty() {
            sources.insert(path.clone(), sparse_text(&result.shown_lines));
        }
        if let Some(entry) = tasks.get_mut(task).and_then(|task| task.examples.as_mut()) {
            files_read += usize::from(result.sha256.is_some());
            entry.sha256 = result.sha256.unwrap_or_default();
            entry.parsed = result.parsed;
        }
    }
    for (id, task) in &tasks {
        let mut task_findings = Vec::new();
        check_task(id, task, &config, &mut task_findings);
        findings.extend(
            task_findings
                .into_iter()
                .map(|finding| finding.for_task(id)),
        );
    }
    let previous = match &registry {
        RegistryState::Parsed { registry, .. } => Some(registry.as_ref()),
        _ => None,
    };
    let expected_registry = registry::build(&tasks, previous);
    let mut analysis = Analysis {
        findings,
        tasks,
        config,
        registry,
        expected_registry,
        files_read,
        files: inputs.iter().map(|input| input.path.clone()).collect(),
        sources,
    };
    let registry_findings = check_registry(&analysis);
    analysis.findings.extend(registry_findings);
    let shown: BTreeSet<&str> = analysis.findings.iter().map(|f| f.file.as_str()).collect();
    for input in inputs
        .iter()
        .filter(|input| shown.contains(input.path.as_str()))
    {
        if let super::source::FileContent::Bytes(bytes) = &input.content {
            analysis.sources.insert(
                input.path.clone(),
                String::from_utf8_lossy(bytes).into_owned(),
            );
        }
    }
    if !options.strict {
        let templates = format!("{}/{}/", layout::PROMPTS_DIR, layout::TEMPLATES);
        for finding in &mut analysis.findings {
            if finding.file.starts_with(&templates) && !NEVER_LENIENT.contains(&finding.code) {
                finding.severity = Severity::Warning;
            }
        }
    }
    sort_findings(&mut analysis.findings);
    analysis
}

fn version_of(entry: &PromptEntry) -> Option<semver::Version> {
    entry
        .version()
        .and_then(|version| semver::Version::parse(version).ok())
}

fn prompt_entry(path: String, sha256: String, parsed: Parsed) -> PromptEntry {
    let parsed = match parsed {
        Parsed::Prompt(prompt) => Some(prompt),
        _ => None,
    };
    Entry {
        path,
        sha256,
        parsed,
    }
}

fn check_files(
    inputs: &[InputFile],
    validators: &Validators,
    threads: (usize, &dyn super::parallel::Spawn),
) -> Vec<FileResult> {
    super::parallel::map(
        inputs,
        threads,
        template::environment,
        |environment, input| file_checks::check_file(input, validators, environment),
    )
}

/// Checks each examples file as a stream, with its task's metadata and output schema.
fn check_examples(
    inputs: &[InputFile],
    tasks: &BTreeMap<String, Task>,
    streamed: &[(String, usize)],
    validators: &Validators,
    threads: (usize, &dyn super::parallel::Spawn),
) -> Vec<file_checks::StreamedExamples> {
    super::parallel::map(
        streamed,
        threads,
        || (),
        |(), (task, index)| {
            let input = &inputs[*index];
            let task = &tasks[task];
            let metadata = task
                .metadata
                .as_ref()
                .and_then(|entry| entry.parsed.as_deref());
            let output_schema = [&task.production, &task.candidate]
                .into_iter()
                .flatten()
                .find_map(|entry| entry.parsed.as_ref())
                .and_then(|prompt| prompt.output_validator.as_ref());
            let context = file_checks::ExampleContext {
                metadata,
                output_schema,
            };
            match input.content.reader() {
                Some(Ok(mut reader)) => file_checks::check_examples_stream(
                    &input.path,
                    &mut reader,
                    validators,
                    &context,
                ),
                Some(Err(error)) => file_checks::StreamedExamples {
                    sha256: None,
                    parsed: None,
                    findings: vec![Diagnostic::error(
                        Code::UnreadableFile,
                        &input.path,
                        Position::START,
                        format!("cannot read the file: {error}"),
                    )],
                    shown_lines: BTreeMap::new(),
                },
                None => file_checks::StreamedExamples {
                    sha256: None,
                    parsed: None,
                    findings: Vec::new(),
                    shown_lines: BTreeMap::new(),
                },
            }
        },
    )
}

/// A text holding only the given lines at their numbers (the others empty), for showing the
/// lines findings point at without keeping a whole file.
fn sparse_text(lines: &BTreeMap<usize, String>) -> String {
    let mut text = String::new();
    let mut at = 1;
    for (number, line) in lines {
        while at < *number {
            text.push('\n');
            at += 1;
        }
        text.push_str(line);
    }
    text
}

// Long on purpose: one pass over a task's files making every cross-file check; split, each part
// would need the same six borrowed values.
fn check_task(id: &str, task: &Task, config: &ProjectConfig, findings: &mut Vec<Diagnostic>) {
    let metadata_path = format!("{}/{}/{id}.yaml", layout::PROMPTS_DIR, layout::METADATA);
    let examples_path = format!("{}/{}/{id}.jsonl", layout::PROMPTS_DIR, layout::EXAMPLES);
    if let Some(production) = &task.production {
        if task.metadata.is_none() {
            findings.push(
                Diagnostic::error(
                    Code::MissingMetadata,
                    &production.path,
                    Position::START,
                    format!("production prompt `{id}` has no task metadata"),
                )
                .with_hint(format!(
                    "create {metadata_path} (inputs, output, threshold, scorers)"
                )),
            );
        }
        if task.examples.is_none() {
            findings.push(
                Diagnostic::error(
                    Code::MissingExamples,
                    &production.path,
                    Position::START,
                    format!("production prompt `{id}` has no examples"),
                )
                .with_hint(format!(
                    "create {examples_path} with one JSON example per line"
                )),
            );
        }
    }
    // A task with archived versions and no prompt is retired (`promptops archive`): its
    // metadata and examples stay, for the history and a rollback.
    if let Some(metadata) = &task.metadata
        && task.production.is_none()
        && task.candidate.is_none()
        && task.archived.is_empty()
    {
        findings.push(
            Diagnostic::error(
                Code::OrphanMetadata,
                &metadata.path,
                Position::START,
                format!("metadata for `{id}`, but no prompt in 02-production/ or 00-templates/"),
            )
            .with_hint(format!(
                "add the prompt, or move retired tasks' metadata out of {}/",
                layout::METADATA
            )),
        );
    }
    if let Some(examples) = &task.examples
        && task.metadata.is_none()
    {
        findings.push(
            Diagnostic::error(
                Code::OrphanExamples,
                &examples.path,
                Position::START,
                format!("examples for `{id}`, but no task metadata"),
            )
            .with_hint(format!("create {metadata_path}, or remove the examples")),
        );
    }
    let metadata = task
        .metadata
        .as_ref()
        .and_then(|entry| entry.parsed.as_deref());
    let production = task
        .production
        .as_ref()
        .and_then(|entry| entry.parsed.as_deref().map(|p| (entry, p)));
    let candidate = task
        .candidate
        .as_ref()
        .and_then(|entry| entry.parsed.as_deref().map(|p| (entry, p)));

    if let (Some(metadata), Some((_, production))) = (metadata, production)
        && metadata.metadata.version != production.prompt.version
    {
        findings.push(
            Diagnostic::error(
                Code::MetadataVersionMismatch,
                &metadata_path,
                metadata.document.position("/version"),
                format!(
                    "metadata describes version {} but the production prompt is version {}",
                    metadata.metadata.version, production.prompt.version
                ),
            )
            .with_hint(format!(
                "check inputs, threshold and scorers still fit, then set `version: {}`",
                production.prompt.version
            )),
        );
    }
    if let (Some((_, production)), Some((entry, candidate))) = (production, candidate)
        && let (Ok(old), Ok(new)) = (
            semver::Version::parse(&production.prompt.version),
            semver::Version::parse(&candidate.prompt.version),
        )
        && new <= old
    {
        findings.push(
            Diagnostic::warning(
                Code::CandidateNotNewer,
                &entry.path,
                candidate.document.position("/version"),
                format!("candidate version {new} is not newer than production version {old}"),
            )
            .with_hint("bump the candidate's version before promoting it"),
        );
    }
    for (entry, prompt) in production.into_iter().chain(candidate) {
        if !crate::domain::model::version_fits_a_tag(&prompt.prompt.version) {
            findings.push(
                Diagnostic::error(
                    Code::InvalidVersion,
                    &entry.path,
                    prompt.document.position("/version"),
                    format!(
                        "version {} cannot be a git tag: git refuses a name ending in `.lock`, and a promotion tags the version",
                        prompt.prompt.version
                    ),
                )
                .with_hint("end the version with another identifier, e.g. 1.1.0-rc.1"),
            );
        }
        check_provider(&entry.path, prompt, config, findings);
        if let Some(metadata) = metadata {
            check_prompt_against_metadata(&entry.path, prompt, metadata, &metadata_path, findings);
        }
    }
}

fn check_provider(
    path: &str,
    prompt: &ParsedPrompt,
    config: &ProjectConfig,
    findings: &mut Vec<Diagnostic>,
) {
    let provider = &prompt.prompt.model.provider;
    if !ProviderKind::NAMES.contains(&provider.as_str()) && !config.providers.contains_key(provider)
    {
        findings.push(
            Diagnostic::error(
                Code::UnknownProvider,
                path,
                prompt.document.position("/model/provider"),
                format!("unknown provider `{provider}`"),
            )
            .with_hint(format!(
                "use a provider kind ({}) or define `providers.{provider}` in {}",
                ProviderKind::NAMES.join(", "),
                layout::CONFIG_FILE
            )),
        );
    }
    let kind = config
        .providers
        .get(provider)
        .map(|provider| provider.kind)
        .or(match provider.as_str() {
            "openai" => Some(ProviderKind::Openai),
            _ => None,
        });
    if kind == Some(ProviderKind::Openai) && is_openai_reasoning_model(&prompt.prompt.model.name) {
        let parameters = &prompt.prompt.model.parameters;
        for (name, value) in [
            ("temperature", parameters.temperature),
            ("top_p", parameters.top_p),
        ] {
            if value.is_some_and(|value| (value - 1.0).abs() > f64::EPSILON) {
                findings.push(
                    Diagnostic::error(
                        Code::UnsupportedParameter,
                        path,
                        prompt.document.position(&format!("/model/parameters/{name}")),
                        format!(
                            "model `{}` is an OpenAI reasoning model, which refuses `{name}` other than 1 (every example would fail with HTTP 400)",
                            prompt.prompt.model.name
                        ),
                    )
                    .with_hint(format!("remove `{name}`, or use a model that takes it")),
                );
            }
        }
    }
}

/// OpenAI's reasoning models (o-series, the gpt-5 family) take neither `max_tokens` nor a
/// temperature or `top_p` other than the default.
fn is_openai_reasoning_model(model: &str) -> bool {
    let model = model
        .rsplit('/')
        .next()
        .unwrap_or(model)
        .to_ascii_lowercase();
    let o_series = model
        .strip_prefix('o')
        .is_some_and(|rest| rest.chars().next().is_some_and(|c| c.is_ascii_digit()));
    o_series || model.starts_with("gpt-5")
}

fn check_prompt_against_metadata(
    path: &str,
    prompt: &ParsedPrompt,
    metadata: &ParsedMetadata,
    metadata_path: &str,
    findings: &mut Vec<Diagnostic>,
) {
    let inputs = &metadata.metadata.inputs;
    for (name, at) in &prompt.variables {
        if !inputs.contains_key(name) {
            findings.push(
                Diagnostic::error(
                    Code::UndeclaredVariable,
                    path,
                    *at,
                    format!("the template uses `{name}`, which the task metadata does not declare"),
                )
                .with_hint(format!(
                    "declare `{name}` under `inputs:` in {metadata_path}, or correct the name"
                )),
            );
        }
    }
    if prompt.templates_compile {
        let used = file_checks::variable_names(prompt);
        for (name, input) in inputs {
            if !input.optional && !used.contains(name.as_str()) {
                findings.push(
                    Diagnostic::warning(Code::UnusedVariable, path, prompt.document.key_position("/messages"), format!("required input `{name}` is not used by any message"))
                        .with_hint(format!("use {{{{ {name} }}}} in a message, or mark it `optional: true` in {metadata_path}")),
                );
            }
        }
    }
    if prompt.prompt.output.format != metadata.metadata.output {
        findings.push(
            Diagnostic::error(
                Code::OutputTypeMismatch,
                path,
                prompt.document.position("/output/format"),
                format!(
                    "output format is {} but the task metadata says {}",
                    prompt.prompt.output.format.as_str(),
                    metadata.metadata.output.as_str()
                ),
            )
            .with_hint(format!(
                "make `output.format` here and `output` in {metadata_path} agree"
            )),
        );
    }
}

/// Production is locked: a production prompt whose version the registry records with other
/// content was edited in place instead of promoted.
fn production_changed(analysis: &Analysis, registry: &Registry) -> Vec<Diagnostic> {
    let mut findings = Vec::new();
    for (id, task) in &analysis.tasks {
        let Some(entry) = &task.production else {
            continue;
        };
        let Some(parsed) = &entry.parsed else {
            continue;
        };
        let recorded = registry
            .tasks
            .get(id)
            .and_then(|recorded| recorded.production.as_ref());
        let Some(recorded) = recorded.filter(|recorded| recorded.version == parsed.prompt.version)
        else {
            continue;
        };
        if recorded.sha256 == entry.sha256 {
            continue;
        }
        findings.push(
            Diagnostic::error(
                Code::ProductionChanged,
                &entry.path,
                parsed.document.key_position("/version"),
                format!(
                    "production version {} was changed in place: the registry records sha256 {}…, the file now has {}…",
                    recorded.version,
                    recorded.sha256.get(..12).unwrap_or(&recorded.sha256),
                    entry.sha256.get(..12).unwrap_or(&entry.sha256)
                ),
            )
            .for_task(id)
            .with_hint(format!(
                "production is locked: put the change in prompts/{}/{id}.yaml with a higher version and `promptops promote {id}` it (a hotfix: `promote --force --reason`), or restore the file with `git checkout`",
                layout::TEMPLATES
            )),
        );
    }
    findings
}

fn check_registry(analysis: &Analysis) -> Vec<Diagnostic> {
    let file = layout::REGISTRY_FILE;
    match &analysis.registry {
        RegistryState::Broken => Vec::new(),
        RegistryState::Missing if analysis.tasks.is_empty() => Vec::new(),
        RegistryState::Missing => vec![
            Diagnostic::error(
                Code::RegistryMissing,
                file,
                Position::START,
                format!("{file} is missing"),
            )
            .with_hint("run `promptops registry` and commit the file"),
        ],
        RegistryState::Parsed {
            registry, document, ..
        } => {
            // A task whose files have errors cannot be registered yet; saying its entry is
            // stale too would only repeat the real problem.
            let broken: BTreeSet<&str> = analysis
                .findings
                .iter()
                .filter(|finding| finding.severity == Severity::Error)
                .filter_map(|finding| finding.task.as_deref())
                .collect();
            let changed = production_changed(analysis, registry);
            let broken: BTreeSet<&str> = broken
                .into_iter()
                .chain(changed.iter().filter_map(|finding| finding.task.as_deref()))
                .collect();
            let mut findings: Vec<Diagnostic> =
                registry::compare(&analysis.expected_registry, registry, document, file)
                    .into_iter()
                    .filter(|finding| {
                        finding
                            .task
                            .as_deref()
                            .is_none_or(|task| !broken.contains(task))
                    })
                    .collect();
            findings.extend(changed);
            findings
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::source::FileContent;

    fn file(path: &str, text: &str) -> InputFile {
        InputFile {
            path: path.to_owned(),
            content: FileContent::Bytes(text.as_bytes().to_vec()),
        }
    }

    const PROMPT: &str = "id: t\nversion: 1.0.0\ndescription: d\nmodel:\n  provider: openai\n  name: m\nmessages:\n  - role: user\n    content: \"{{ a }} {{ b }}\"\noutput:\n  format: text\n";
    const METADATA: &str = "id: t\ndescription: d\nowner: o\nversion: 1.0.0\ninputs:\n  a:\n    type: string\noutput: text\nthreshold: 0.5\nscorers:\n  - name: exact\n";

    #[test]
    fn analysis_is_a_function_of_the_files() {
        let inputs = vec![
            file("prompts/02-production/t.yaml", PROMPT),
            file("prompts/03-metadata/t.yaml", METADATA),
            file(
                "prompts/01-examples/t.jsonl",
                "{\"id\": \"1\", \"vars\": {\"a\": \"x\"}, \"expected\": \"y\"}\n",
            ),
        ];
        let analysis = analyze(
            &inputs,
            Options {
                strict: false,
                threads: 1,
                spawn: &crate::domain::parallel::Sequential,
            },
        );
        let codes: Vec<(&str, usize)> =
            analysis.findings.iter().map(|f| (f.code, f.line)).collect();
        assert_eq!(codes, [("registry-missing", 1), ("undeclared-variable", 9)]);
        assert_eq!(
            analysis.tasks["t"]
                .examples
                .as_ref()
                .unwrap()
                .parsed
                .as_ref()
                .unwrap()
                .count,
            1
        );
        // The same files give the same registry, whatever the thread count.
        let parallel = analyze(
            &inputs,
            Options {
                strict: false,
                threads: 4,
                spawn: &crate::domain::parallel::Sequential,
            },
        );
        assert_eq!(
            registry::render(&analysis.expected_registry),
            registry::render(&parallel.expected_registry)
        );
    }

    #[test]
    fn a_task_with_errors_gets_no_stale_registry_noise() {
        let mut inputs = vec![
            file(
                "prompts/02-production/t.yaml",
                &PROMPT.replace(" {{ b }}", ""),
            ),
            file("prompts/03-metadata/t.yaml", METADATA),
            file(
                "prompts/01-examples/t.jsonl",
                "{\"id\": \"1\", \"vars\": {\"a\": \"x\"}, \"expected\": \"y\"}\n",
            ),
        ];
        let clean = analyze(&inputs, Options::default());
        inputs.push(file(
            layout::REGISTRY_FILE,
            &registry::render(&clean.expected_registry),
        ));
        assert_eq!(analyze(&inputs, Options::default()).findings, vec![]);
        inputs[1] = file(
            "prompts/03-metadata/t.yaml",
            &METADATA.replace("threshold: 0.5", "threshold: 0.6"),
        );
        let stale = analyze(&inputs, Options::default());
        assert_eq!(
            stale.findings.iter().map(|f| f.code).collect::<Vec<_>>(),
            ["registry-stale", "registry-stale"]
        );
        inputs[1] = file(
            "prompts/03-metadata/t.yaml",
            &METADATA.replace("version: 1.0.0", "version: 2.0.0"),
        );
        let broken = analyze(&inputs, Options::default());
        assert_eq!(
            broken.findings.iter().map(|f| f.code).collect::<Vec<_>>(),
            ["metadata-version-mismatch"]
        );
    }
}
