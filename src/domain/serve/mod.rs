//! What `promptops serve` answers, as pure values: a release bundle loaded once into a
//! [`Catalog`] (checked as `validate` checks a repository), and one function per route that
//! turns a request's parts into a [`Reply`]. The HTTP adapter only moves bytes.

pub mod access;
pub mod metrics;

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::analysis::{self, Options};
use super::bundle::{self, Bundle, RELEASE_FILE};
use super::diagnostic::{Code, Diagnostic, Position, Severity, Shown};
use super::eval::render::Renderer;
use super::file_checks::{VariableProblem, variable_problems};
use super::layout;
use super::model::{InputSpec, ModelSpec, OutputSpec, PromptFile};
use super::source::{FileContent, InputFile, sha256_hex};

/// The largest request body `serve` reads by default (a render's variables).
pub const DEFAULT_BODY_LIMIT: usize = 1 << 20;

/// A loaded release: every answer that does not depend on the request is built here, once.
pub struct Catalog {
    release_id: String,
    tasks: BTreeMap<String, Served>,
    list: Bytes,
    release: Bytes,
}

/// One production prompt, ready to serve.
struct Served {
    version: String,
    sha256: String,
    /// The quoted strong entity tag: `"<sha256>"`.
    etag: Bytes,
    document: Bytes,
    renderer: Renderer,
    inputs: BTreeMap<String, InputSpec>,
    model: ModelSpec,
    output: OutputSpec,
}

/// An answer: status, JSON body, and the entity tag when it has one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body: Bytes,
    pub etag: Option<Bytes>,
}

impl Reply {
    fn json(status: u16, value: &impl Serialize) -> Reply {
        let mut body = serde_json::to_vec(value).expect("a reply serialises");
        body.push(b'\n');
        Reply {
            status,
            body: Bytes::from(body),
            etag: None,
        }
    }

    /// An error: `{"error": message, "hint": ...}` and any details.
    pub fn error(status: u16, message: &str, hint: Option<&str>) -> Reply {
        let mut value = json!({ "error": message });
        if let Some(hint) = hint {
            value["hint"] = json!(hint);
        }
        Reply::json(status, &value)
    }
}

/// The virtual repository path a bundle file is checked under, and back.
fn repository_path(bundle_path: &str) -> Option<String> {
    let (dir, name) = bundle_path.split_once('/')?;
    let layer = match dir {
        "prompts" => layout::PRODUCTION,
        "metadata" => layout::METADATA,
        _ => return None,
    };
    Some(format!("{}/{layer}/{name}", layout::PROMPTS_DIR))
}

fn bundle_path(repository_path: &str) -> String {
    let production = format!("{}/{}/", layout::PROMPTS_DIR, layout::PRODUCTION);
    let metadata = format!("{}/{}/", layout::PROMPTS_DIR, layout::METADATA);
    if let Some(name) = repository_path.strip_prefix(&production) {
        format!("prompts/{name}")
    } else if let Some(name) = repository_path.strip_prefix(&metadata) {
        format!("metadata/{name}")
    } else {
        repository_path.to_owned()
    }
}

/// Findings that are about the repository around a release, not the release: a bundle has no
/// examples, registry or project config by design.
const NOT_ABOUT_A_RELEASE: [&str; 4] = [
    Code::MissingExamples.as_str(),
    Code::RegistryMissing.as_str(),
    Code::RegistryStale.as_str(),
    Code::UnknownProvider.as_str(),
];

fn error_at(file: &str, message: String, hint: &str) -> Diagnostic {
    Diagnostic::error(Code::InvalidValue, file, Position::START, message).with_hint(hint)
}

impl Catalog {
    /// Loads a bundle, checking it as `validate` checks a repository (the same file checks and
    /// cross-checks), plus that each file is the one `release.json` names by hash and version.
    /// The error holds every finding, with the paths of the bundle.
    // Long on purpose: the bundle's checks in the order they depend on each other (release.json,
    // each file against it, then the repository's own checks), all into one finding list.
    pub fn load(bundle: &Bundle) -> Result<Catalog, Shown> {
        const REBUILD: &str =
            "rebuild it with `promptops bundle`; a bundle is never edited by hand";
        let Some(index_bytes) = bundle.files.get(RELEASE_FILE) else {
            return Err(Shown::new(
                vec![error_at(
                    RELEASE_FILE,
                    "the bundle has no release.json".to_owned(),
                    REBUILD,
                )],
                &HashMap::new(),
            ));
        };
        let index = bundle::read_index(index_bytes).map_err(|message| {
            Shown::new(
                vec![error_at(
                    RELEASE_FILE,
                    format!("release.json cannot be read: {message}"),
                    REBUILD,
                )],
                &HashMap::new(),
            )
        })?;
        let mut findings = Vec::new();
        let mut inputs = Vec::new();
        for (task, indexed) in &index.tasks {
            let (prompt, metadata) = bundle::task_paths(task);
            for (path, expected) in [
                (&prompt, &indexed.prompt_sha256),
                (&metadata, &indexed.metadata_sha256),
            ] {
                match bundle.files.get(path) {
                    None => findings.push(error_at(
                        path,
                        format!("release.json names task `{task}`, but {path} is missing"),
                        REBUILD,
                    )),
                    Some(bytes) => {
                        let actual = sha256_hex(bytes);
                        if &actual != expected {
                            findings.push(error_at(
                                path,
                                format!("{path} has sha256 {actual}, release.json says {expected}: the file was changed after the bundle was written"),
                                REBUILD,
                            ));
                        }
                        inputs.push(InputFile {
                            path: repository_path(path).expect("a bundle task path"),
                            content: FileContent::Bytes(bytes.clone()),
                        });
                    }
                }
            }
        }
        let analysis = analysis::analyze(
            &inputs,
            Options {
                strict: true,
                threads: 1,
                spawn: &crate::domain::parallel::Sequential,
            },
        );
        findings.extend(
            analysis
                .findings
                .iter()
                .filter(|finding| !NOT_ABOUT_A_RELEASE.contains(&finding.code))
                .cloned()
                .map(|mut finding| {
                    finding.file = bundle_path(&finding.file);
                    finding
                }),
        );
        let mut tasks = BTreeMap::new();
        for (task, indexed) in &index.tasks {
            let entry = analysis.tasks.get(task);
            let prompt = entry
                .and_then(|entry| entry.production.as_ref())
                .and_then(|production| production.parsed.as_ref());
            let metadata = entry
                .and_then(|entry| entry.metadata.as_ref())
                .and_then(|metadata| metadata.parsed.as_ref());
            let (Some(prompt), Some(metadata)) = (prompt, metadata) else {
                continue;
            };
            let (prompt_path, _) = bundle::task_paths(task);
            if prompt.prompt.version != indexed.version {
                findings.push(error_at(
                    &prompt_path,
                    format!(
                        "{prompt_path} is version {}, release.json says {}",
                        prompt.prompt.version, indexed.version
                    ),
                    REBUILD,
                ));
                continue;
            }
            match served(task, &prompt.prompt, &indexed.prompt_sha256, metadata) {
                Ok(served) => {
                    tasks.insert(task.clone(), served);
                }
                Err(message) => findings.push(error_at(&prompt_path, message, REBUILD)),
            }
        }
        if findings
            .iter()
            .any(|finding| finding.severity == Severity::Error)
        {
            let sources = analysis
                .sources
                .iter()
                .map(|(path, text)| (bundle_path(path), text.clone()))
                .collect();
            return Err(Shown::new(findings, &sources));
        }
        let list = Reply::json(
            200,
            &json!({
                "release_id": bundle.release_id,
                "tasks": tasks.iter().map(|(task, served)| json!({
                    "task": task,
                    "version": served.version,
                    "sha256": served.sha256,
                })).collect::<Vec<_>>(),
            }),
        )
        .body;
        let release = Reply::json(
            200,
            &json!({
                "release_id": bundle.release_id,
                "tasks": tasks.iter().map(|(task, served)| (task.clone(), json!({
                    "version": served.version,
                    "sha256": served.sha256,
                }))).collect::<Map<String, Value>>(),
            }),
        )
        .body;
        Ok(Catalog {
            release_id: bundle.release_id.to_string(),
            tasks,
            list,
            release,
        })
    }

    pub fn release_id(&self) -> &str {
        &self.release_id
    }

    /// Each task with its version and sha256, in task order.
    pub fn tasks(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        self.tasks.iter().map(|(task, served)| {
            (
                task.as_str(),
                served.version.as_str(),
                served.sha256.as_str(),
            )
        })
    }

    /// `GET /v1/prompts`.
    pub fn list(&self) -> Reply {
        Reply {
            status: 200,
            body: self.list.clone(),
            etag: None,
        }
    }

    /// `GET /v1/release`.
    pub fn release(&self) -> Reply {
        Reply {
            status: 200,
            body: self.release.clone(),
            etag: None,
        }
    }

    /// `GET /v1/prompts/{task}`, with `If-None-Match` when the request has one.
    pub fn prompt(&self, task: &str, if_none_match: Option<&[u8]>) -> Reply {
        let Some(served) = self.tasks.get(task) else {
            return self.unknown_task(task);
        };
        if if_none_match.is_some_and(|header| etag_matches(header, &served.etag)) {
            return Reply {
                status: 304,
                body: Bytes::new(),
                etag: Some(served.etag.clone()),
            };
        }
        Reply {
            status: 200,
            body: served.document.clone(),
            etag: Some(served.etag.clone()),
        }
    }

    /// `POST /v1/prompts/{task}/render`: the body is a JSON object of the task's input
    /// variables; the answer is the rendered messages with the model settings.
    pub fn render(&self, task: &str, body: &[u8]) -> Reply {
        let Some(served) = self.tasks.get(task) else {
            return self.unknown_task(task);
        };
        let shape = "send a JSON object of the task's input variables, e.g. {\"title\": \"...\"}";
        let Ok(text) = std::str::from_utf8(body) else {
            return Reply::error(400, "the body is not UTF-8", Some(shape));
        };
        let vars = match super::json::parse(text) {
            Ok(Value::Object(vars)) => vars,
            Ok(other) => {
                return Reply::error(
                    400,
                    &format!(
                        "the body is {}, not a JSON object",
                        super::schema::with_article(super::schema::type_name(&other))
                    ),
                    Some(shape),
                );
            }
            Err(error) => {
                return Reply::error(
                    400,
                    &format!(
                        "the body is not valid JSON (line {}, column {}): {}",
                        error.line, error.column, error.message
                    ),
                    Some(shape),
                );
            }
        };
        let problems = variable_problems(&served.inputs, &vars);
        if !problems.is_empty() {
            let messages: Vec<String> = problems.iter().map(describe).collect();
            let declared: Vec<String> = served
                .inputs
                .iter()
                .map(|(name, spec)| {
                    format!(
                        "{name}: {}{}",
                        spec.kind.as_str(),
                        if spec.optional { " (optional)" } else { "" }
                    )
                })
                .collect();
            return Reply::json(
                400,
                &json!({
                    "error": format!("the variables do not fit task `{task}`: {}", messages.join("; ")),
                    "hint": format!("the task's inputs are: {}", declared.join(", ")),
                    "problems": problems
                        .iter()
                        .zip(&messages)
                        .map(|(problem, message)| {
                            let mut value = serde_json::to_value(problem).expect("a problem serialises");
                            value["message"] = json!(message);
                            value
                        })
                        .collect::<Vec<_>>(),
                }),
            );
        }
        match served.renderer.render(&vars) {
            Ok(messages) => Reply::json(
                200,
                &json!({
                    "task": task,
                    "version": served.version,
                    "sha256": served.sha256,
                    "release_id": self.release_id,
                    "model": served.model,
                    "messages": messages,
                    "output": served.output,
                }),
            ),
            Err(message) => Reply::error(
                422,
                &format!("task `{task}` cannot be rendered with these variables: {message}"),
                None,
            ),
        }
    }

    fn unknown_task(&self, task: &str) -> Reply {
        let known: Vec<&str> = self.tasks.keys().map(String::as_str).collect();
        let shown: String = task.chars().take(100).collect();
        Reply::error(
            404,
            &format!(
                "no task `{}` in release {}",
                shown.escape_debug(),
                short(&self.release_id)
            ),
            Some(&format!("the tasks are: {}", known.join(", "))),
        )
    }
}

fn short(release_id: &str) -> &str {
    crate::domain::bundle::short_release(release_id)
}

fn describe(problem: &VariableProblem) -> String {
    match problem {
        VariableProblem::Missing { name } => format!("required input `{name}` is missing"),
        VariableProblem::Undeclared { name } => {
            let shown: String = name.chars().take(100).collect();
            format!("`{}` is not an input of the task", shown.escape_debug())
        }
        VariableProblem::WrongType {
            name,
            expected,
            found,
        } => format!(
            "`{name}` must be {}, found {found}",
            super::schema::with_article(expected)
        ),
    }
}

fn served(
    task: &str,
    prompt: &PromptFile,
    sha256: &str,
    metadata: &super::file_checks::ParsedMetadata,
) -> Result<Served, String> {
    let renderer = Renderer::new(prompt).map_err(|error| error.to_string())?;
    let document = Reply::json(
        200,
        &json!({
            "task": task,
            "version": prompt.version,
            "sha256": sha256,
            "prompt": prompt,
        }),
    )
    .body;
    Ok(Served {
        version: prompt.version.clone(),
        sha256: sha256.to_owned(),
        etag: Bytes::from(format!("\"{sha256}\"")),
        document,
        renderer,
        inputs: metadata.metadata.inputs.clone(),
        model: prompt.model.clone(),
        output: prompt.output.clone(),
    })
}

/// Whether an `If-None-Match` header names `etag` (or is `*`). Weak tags compare by their
/// opaque part, as RFC 9110 asks for `If-None-Match`.
pub fn etag_matches(header: &[u8], etag: &[u8]) -> bool {
    header.split(|byte| *byte == b',').any(|candidate| {
        let candidate = candidate.trim_ascii();
        let candidate = candidate.strip_prefix(b"W/").unwrap_or(candidate);
        candidate == b"*" || candidate == etag
    })
}

/// The routes `serve` knows, for metrics and logs (a fixed set: a label never comes from the
/// request, so a client cannot grow the metrics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Healthz,
    Readyz,
    List,
    Prompt,
    Render,
    Release,
    Metrics,
    Other,
}

impl Route {
    pub const ALL: [Route; 8] = [
        Route::Healthz,
        Route::Readyz,
        Route::List,
        Route::Prompt,
        Route::Render,
        Route::Release,
        Route::Metrics,
        Route::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Route::Healthz => "/healthz",
            Route::Readyz => "/readyz",
            Route::List => "/v1/prompts",
            Route::Prompt => "/v1/prompts/{task}",
            Route::Render => "/v1/prompts/{task}/render",
            Route::Release => "/v1/release",
            Route::Metrics => "/metrics",
            Route::Other => "other",
        }
    }

    /// The route of a matched path pattern.
    pub fn of(pattern: Option<&str>) -> Route {
        Route::ALL
            .into_iter()
            .find(|route| pattern == Some(route.as_str()))
            .unwrap_or(Route::Other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(prompt: &str, metadata: &str) -> Bundle {
        let mut files = BTreeMap::new();
        files.insert("prompts/t.yaml".to_owned(), prompt.as_bytes().to_vec());
        files.insert("metadata/t.yaml".to_owned(), metadata.as_bytes().to_vec());
        let index = json!({
            "schema_version": 1,
            "tasks": {"t": {
                "version": "1.0.0",
                "prompt": "prompts/t.yaml",
                "prompt_sha256": sha256_hex(prompt.as_bytes()),
                "metadata": "metadata/t.yaml",
                "metadata_sha256": sha256_hex(metadata.as_bytes()),
            }},
        });
        files.insert(RELEASE_FILE.to_owned(), serde_json::to_vec(&index).unwrap());
        bundle::from_files(files)
    }

    const PROMPT: &str = "id: t\nversion: 1.0.0\ndescription: d\nmodel: {provider: openai, name: m}\nmessages:\n  - {role: user, content: \"Title: {{ title }} {{ n }}\"}\noutput: {format: text}\n";
    const METADATA: &str = "id: t\nversion: 1.0.0\ndescription: d\nowner: o\ninputs:\n  title: {type: string}\n  n: {type: integer}\noutput: text\nthreshold: 0.5\nscorers:\n  - {name: exact}\n";

    #[test]
    fn renders_and_names_every_bad_variable() {
        let catalog = Catalog::load(&bundle(PROMPT, METADATA)).unwrap();
        let ok = catalog.render("t", br#"{"title": "x", "n": 2}"#);
        assert_eq!(ok.status, 200, "{:?}", ok.body);
        let value: Value = serde_json::from_slice(&ok.body).unwrap();
        assert_eq!(value["messages"][0]["content"], "Title: x 2");
        let bad = catalog.render("t", br#"{"n": "2", "extra": 1}"#);
        assert_eq!(bad.status, 400);
        let value: Value = serde_json::from_slice(&bad.body).unwrap();
        let problems: Vec<(&str, &str)> = value["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["problem"].as_str().unwrap(), p["name"].as_str().unwrap()))
            .collect();
        assert_eq!(
            problems,
            [
                ("missing", "title"),
                ("wrong-type", "n"),
                ("undeclared", "extra")
            ]
        );
        assert_eq!(catalog.render("t", b"[1]").status, 400);
        assert_eq!(catalog.render("t", b"{").status, 400);
        assert_eq!(catalog.render("nope", b"{}").status, 404);
    }

    #[test]
    fn a_changed_file_or_a_broken_prompt_refuses_the_bundle() {
        let mut changed = bundle(PROMPT, METADATA);
        changed
            .files
            .insert("prompts/t.yaml".into(), PROMPT.replace("Title", "T").into());
        let error = Catalog::load(&changed).err().unwrap();
        assert!(
            error.findings[0].message.contains("changed after"),
            "{:?}",
            error.findings
        );
        let undeclared = PROMPT.replace("{{ n }}", "{{ n }} {{ other }}");
        let error = Catalog::load(&bundle(&undeclared, METADATA)).err().unwrap();
        let codes: Vec<&str> = error.findings.iter().map(|f| f.code).collect();
        assert!(codes.contains(&"undeclared-variable"), "{codes:?}");
        assert_eq!(error.findings[0].file, "prompts/t.yaml");
    }

    #[test]
    fn etags_match_strong_weak_lists_and_star() {
        let etag = b"\"abc\"";
        assert!(etag_matches(b"\"abc\"", etag));
        assert!(etag_matches(b"W/\"abc\"", etag));
        assert!(etag_matches(b"\"x\", \"abc\"", etag));
        assert!(etag_matches(b"*", etag));
        assert!(!etag_matches(b"\"abd\"", etag));
        assert!(!etag_matches(b"abc", etag));
    }

    #[test]
    fn unknown_task_names_are_bounded_and_escaped() {
        let catalog = Catalog::load(&bundle(PROMPT, METADATA)).unwrap();
        let reply = catalog.prompt(&format!("{}\n", "x".repeat(10_000)), None);
        assert_eq!(reply.status, 404);
        assert!(reply.body.len() < 500, "{}", reply.body.len());
    }
}
