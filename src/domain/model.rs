//! The file formats promptops reads and writes, as Rust types.
//!
//! These types are the contract: the JSON Schemas under `schemas/` are generated from them
//! (`promptops schema` writes them, a test compares), and every YAML file is checked against
//! those schemas before it is read into these types.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A task id: lowercase letters, digits and hyphens, starting with a letter or digit.
pub const SLUG_PATTERN: &str = "^[a-z0-9][a-z0-9-]{0,63}$";
/// A semantic version without a leading `v`, such as `1.2.0` or `2.0.0-rc.1`.
pub const SEMVER_PATTERN: &str =
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$";

/// Whether a semantic version can stand in a git tag (`prompt/<task>/v<version>`): of git's
/// rules for ref names, the only one a semantic version can break is a name ending in `.lock`.
pub fn version_fits_a_tag(version: &str) -> bool {
    version.strip_suffix(".lock").is_none()
}

/// A prompt: a draft or candidate in `00-templates/`, the locked production prompt in
/// `02-production/`, or a retired version in `99-archive/<task>/<version>.yaml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "promptops prompt file")]
pub struct PromptFile {
    /// The task id; equals the file name (and the archive folder name).
    #[schemars(regex(pattern = SLUG_PATTERN))]
    pub id: String,
    /// Semantic version of this prompt, e.g. `1.2.0`.
    #[schemars(regex(pattern = SEMVER_PATTERN))]
    pub version: String,
    /// What this prompt does, for people.
    #[schemars(length(min = 1))]
    pub description: String,
    pub model: ModelSpec,
    /// Chat messages; each `content` is a minijinja template over the task's inputs.
    #[schemars(length(min = 1))]
    pub messages: Vec<Message>,
    pub output: OutputSpec,
    /// Present only on archived versions: why and when the version was retired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archived: Option<ArchiveNote>,
}

/// Which model answers the prompt, and how.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// A provider kind (`openai`, `anthropic`, `exec`) or a provider named in `promptops.yaml`.
    #[schemars(regex(pattern = SLUG_PATTERN))]
    pub provider: String,
    /// The model name the provider knows, e.g. `gpt-4o-mini`.
    #[schemars(length(min = 1))]
    pub name: String,
    #[serde(default)]
    pub parameters: Parameters,
}

/// Sampling parameters. Anything a provider accepts beyond these goes under `extra`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Parameters {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 2.0))]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Vec<String>>,
    /// Provider-specific parameters passed through as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Map<String, Value>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Message {
    pub role: Role,
    /// A minijinja template; `{{ name }}` inserts the input variable `name`.
    pub content: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

/// What the model is expected to answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    pub format: OutputFormat,
    /// For `format: json`, a JSON Schema the answer (and every example's `expected`) must fit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    Text,
    Json,
}

impl OutputFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            OutputFormat::Text => "text",
            OutputFormat::Json => "json",
        }
    }
}

/// Why and when a version was retired.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArchiveNote {
    #[schemars(length(min = 1))]
    pub reason: String,
    /// When it was archived (RFC 3339, e.g. `2026-10-01T12:00:00Z`).
    #[schemars(length(min = 1))]
    pub at: String,
    /// Who archived it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// Task metadata in `03-metadata/<task>.yaml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "promptops task metadata")]
pub struct TaskMetadata {
    #[schemars(regex(pattern = SLUG_PATTERN))]
    pub id: String,
    #[schemars(length(min = 1))]
    pub description: String,
    /// Team or person responsible for the task.
    #[schemars(length(min = 1))]
    pub owner: String,
    /// The version of the production prompt this metadata describes.
    #[schemars(regex(pattern = SEMVER_PATTERN))]
    pub version: String,
    /// The input variables the templates may use, by name.
    pub inputs: BTreeMap<String, InputSpec>,
    /// The type of answer: `text` or `json`; must agree with the prompt's `output.format`.
    pub output: OutputFormat,
    /// The examples file; defaults to `prompts/01-examples/<id>.jsonl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub examples: Option<String>,
    /// The score (0 to 1) a prompt must reach to pass its eval.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub threshold: f64,
    /// How outputs are scored; an example's score is the weighted mean.
    #[schemars(length(min = 1))]
    pub scorers: Vec<ScorerSpec>,
    /// How much lower than production a candidate may score before promotion refuses it.
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub regression_tolerance: f64,
}

/// One input variable.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    #[serde(rename = "type")]
    pub kind: InputType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// An optional input may be missing from an example and unused by a template.
    #[serde(default)]
    pub optional: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum InputType {
    String,
    Number,
    Integer,
    Boolean,
    Array,
    Object,
}

impl InputType {
    pub fn as_str(self) -> &'static str {
        match self {
            InputType::String => "string",
            InputType::Number => "number",
            InputType::Integer => "integer",
            InputType::Boolean => "boolean",
            InputType::Array => "array",
            InputType::Object => "object",
        }
    }

    /// Whether a JSON value is of this type.
    pub fn accepts(self, value: &Value) -> bool {
        match self {
            InputType::String => value.is_string(),
            InputType::Number => value.is_number(),
            InputType::Integer => value.is_i64() || value.is_u64(),
            InputType::Boolean => value.is_boolean(),
            InputType::Array => value.is_array(),
            InputType::Object => value.is_object(),
        }
    }
}

/// A scorer and its weight. Its JSON Schema (with each scorer's options) is written by hand
/// in `eval/scorers/options.rs`, next to the option types it is generated from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScorerSpec {
    pub name: ScorerName,
    /// Relative weight in the example's score (default 1).
    #[serde(default = "default_weight")]
    pub weight: f64,
    /// Scorer settings (normalisation, pattern, fields, tolerance, rubric…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Map<String, Value>>,
}

fn default_weight() -> f64 {
    1.0
}

/// The scorers promptops knows. An unknown name is an error, never silently ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScorerName {
    Exact,
    Contains,
    NotContains,
    Regex,
    JsonValid,
    JsonSchema,
    JsonFields,
    Similarity,
    Numeric,
    LlmJudge,
    Latency,
    Cost,
}

/// One line of `01-examples/<task>.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "promptops example (one JSONL line)")]
pub struct Example {
    /// Unique within the file.
    #[schemars(length(min = 1))]
    pub id: String,
    /// Values for the task's input variables.
    #[serde(default)]
    pub vars: Map<String, Value>,
    /// The ground truth: a string for text tasks, any JSON value for JSON tasks.
    pub expected: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// Scorers for this example instead of the task's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub scorers: Option<Vec<ScorerSpec>>,
}

/// The optional project configuration, `promptops.yaml`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "promptops project configuration")]
pub struct ProjectConfig {
    /// Named providers; a prompt's `model.provider` names one of these or a provider kind.
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderConfig>,
    #[serde(default)]
    pub defaults: Defaults,
    /// Where `promptops deploy` deploys to (its flags win).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy: Option<DeployConfig>,
}

/// The `deploy:` section of `promptops.yaml`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployConfig {
    /// The ECS cluster: its name (letters, digits, `-`, `_`) or its ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([A-Za-z0-9_-]{1,255}|arn:aws[a-z-]*:ecs:\S+)$"))]
    pub cluster: Option<String>,
    /// The ECS service: its name (letters, digits, `-`, `_`) or its ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([A-Za-z0-9_-]{1,255}|arn:aws[a-z-]*:ecs:\S+)$"))]
    pub service: Option<String>,
    /// The container that serves the prompts (default: the only one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9_-]{1,255}$"))]
    pub container: Option<String>,
    /// The ECR repository `promptops image` pushes to; the release's tag is deployed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^\S+$"))]
    pub image_repository: Option<String>,
    /// Seconds to wait for the rollout (default 600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1.0, max = 86400.0))]
    pub timeout_seconds: Option<f64>,
    /// An http(s) URL whose `GET /v1/release` must serve the deployed release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^https?://\S+$"))]
    pub verify_url: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    pub kind: ProviderKind,
    /// API base URL (OpenAI-compatible servers, proxies, test servers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// The environment variable that holds the API key (never the key itself). `null` is not
    /// "no key": a server that needs none takes `keyless: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String", regex(pattern = "^[A-Za-z_][A-Za-z0-9_]*$"))]
    pub api_key_env: Option<String>,
    /// A server that needs no API key (a local Ollama or vLLM): no key is read or sent.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keyless: bool,
    /// For `kind: exec`: the command and its arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Seconds one request may take (default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.1, max = 3600.0))]
    pub timeout_seconds: Option<f64>,
    /// Retries of a failing request (default 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 20))]
    pub max_retries: Option<u32>,
    /// Requests per second at most (default: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.01, max = 100_000.0))]
    pub requests_per_second: Option<f64>,
    /// Seconds one example may take across all its attempts and waits, `Retry-After` included
    /// (default 600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1.0, max = 86_400.0))]
    pub example_deadline_seconds: Option<f64>,
    /// The largest answer body accepted, in bytes (default 8 MiB); a larger one fails its
    /// example and is neither logged nor cached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1024, max = 1_073_741_824))]
    pub max_response_bytes: Option<u64>,
    /// For `kind: openai`: the name of the output-length parameter. The OpenAI API takes
    /// `max_completion_tokens` (the default; its reasoning models refuse `max_tokens`); some
    /// compatible servers need `max_tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens_parameter: Option<MaxTokensParameter>,
    /// Prices per model, for the `cost` scorer and the cost column of eval reports.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub prices: BTreeMap<String, Price>,
}

/// How an OpenAI-compatible API names the output-length limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MaxTokensParameter {
    MaxCompletionTokens,
    MaxTokens,
}

/// What a model costs, in US dollars per million tokens.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Price {
    #[schemars(range(min = 0.0, max = 1_000_000.0))]
    pub input_per_million: f64,
    #[schemars(range(min = 0.0, max = 1_000_000.0))]
    pub output_per_million: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Openai,
    Anthropic,
    Exec,
}

impl ProviderKind {
    pub const NAMES: &'static [&'static str] = &["openai", "anthropic", "exec"];
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Requests in flight during an eval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1024))]
    pub concurrency: Option<u32>,
}

/// `prompt_registry.yaml`: written only by promptops.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "promptops prompt registry (generated)")]
pub struct Registry {
    pub schema_version: u32,
    pub tasks: BTreeMap<String, RegistryTask>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistryTask {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub production: Option<VersionedFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate: Option<VersionedFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<HashedFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub examples: Option<ExamplesFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// The newest eval of the production prompt, when one is logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_eval: Option<LatestEval>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub archived: Vec<ArchivedVersion>,
    /// Lifecycle events (promotions, archives, overrides, deploys), oldest first. Kept across
    /// rewrites; appended to by the commands that cause them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<HistoryEvent>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionedFile {
    pub version: String,
    pub path: String,
    /// sha256 of the file's bytes, hex.
    pub sha256: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HashedFile {
    pub path: String,
    pub sha256: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExamplesFile {
    pub path: String,
    pub sha256: String,
    pub count: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LatestEval {
    pub score: f64,
    pub passed: bool,
    pub at: String,
    /// Path of the eval summary under `prompts/04-evals/`.
    pub summary: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArchivedVersion {
    pub version: String,
    pub path: String,
    pub sha256: String,
    pub reason: String,
    pub at: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoryEvent {
    /// What happened.
    pub event: EventKind,
    pub version: String,
    pub at: String,
    pub by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The version this event replaced (a promotion's previous production version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The eval evidence the decision was taken on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<PromotionEvidence>,
    /// The id of the plan that made this change; its commit carries it as the
    /// `Promptops-Plan` trailer (the commit's own hash cannot be written into it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// For `deploy` and `deploy-rollback` events: where and what was deployed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<DeploymentRecord>,
}

impl HistoryEvent {
    /// An event with what every event has; the rest is filled in by field.
    pub fn new(event: EventKind, version: String, at: String, by: String) -> HistoryEvent {
        HistoryEvent {
            event,
            version,
            at,
            by,
            reason: None,
            commit: None,
            from: None,
            evidence: None,
            plan: None,
            deployment: None,
        }
    }
}

/// The kinds of decision the registry history records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// A candidate went to production through its gates.
    Promote,
    /// A candidate went to production with `--force` over a failed gate.
    Override,
    Archive,
    Rollback,
    /// A release was deployed, verified and its scores checked.
    Deploy,
    /// A deploy failed and the service was put back.
    DeployRollback,
    /// A deploy's outcome could not be known.
    DeployUnknown,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Promote => "promote",
            EventKind::Override => "override",
            EventKind::Archive => "archive",
            EventKind::Rollback => "rollback",
            EventKind::Deploy => "deploy",
            EventKind::DeployRollback => "deploy-rollback",
            EventKind::DeployUnknown => "deploy-unknown",
        }
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// A deploy to Amazon ECS, as the registry history records it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeploymentRecord {
    pub cluster: String,
    pub service: String,
    /// The image, pinned by digest: `REPO@sha256:…`.
    pub image: String,
    /// The task-definition revision deployed (ARN).
    pub task_definition: String,
    /// The revision that ran before (the rollback target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_task_definition: Option<String>,
    pub release_id: String,
    /// The task's latest eval score in the release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// The CI run that deployed (GitHub Actions), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_url: Option<String>,
}

/// The eval evidence behind a promotion (or an override of its gates).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PromotionEvidence {
    pub score: f64,
    pub threshold: f64,
    /// Examples scored.
    pub n: u64,
    /// Mean of candidate − production on the same examples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<f64>,
    /// 95% bootstrap interval of `delta`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_95: Option<[f64; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcnemar_p: Option<f64>,
    /// The eval summary, under `prompts/04-evals/`.
    pub summary: String,
    /// Gates that failed and were overridden by a person.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overridden: Vec<String>,
}
