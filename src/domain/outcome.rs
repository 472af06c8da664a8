//! What each command found or did, as plain values: the commands return them, `report/`
//! renders them, and `exit::status` maps them to the exit status.

use serde::Serialize;

pub use super::plan::ChangeResult;

use super::diagnostic::{Severity, Shown};
use super::eval::outcome::EvalOutcome;

/// What a command did, for rendering and for the exit status.
#[derive(Debug)]
pub enum Outcome {
    Validate(ValidateOutcome),
    Registry(RegistryOutcome),
    Status(StatusOutcome),
    Eval(EvalOutcome),
    Init(InitOutcome),
    Promote(Box<PromoteOutcome>),
    /// `promote --changed-since`: each changed candidate's promotion, in task order.
    Promotions(Vec<PromoteOutcome>),
    History(HistoryOutcome),
    Archive(Box<ChangeOutcome>),
    Regression(RegressionOutcome),
    /// `repair`: what was finished or undone (`None`: nothing was interrupted).
    Repaired(Option<String>),
    Bundle(BundleOutcome),
    /// A completion script or man page was printed.
    Generated,
    Image(ImageOutcome),
    Deploy(Box<DeployOutcome>),
    Pipeline(PipelineOutcome),
    Report(PrReport),
    /// `serve` stopped after a shutdown signal.
    Served(ServedOutcome),
    /// `healthcheck`: the server's answer status, or why there was none.
    Health(Result<u16, String>),
}

/// `validate`: the findings in what was checked, and how much was checked.
#[derive(Debug)]
pub struct ValidateOutcome {
    pub shown: Shown,
    pub files: usize,
    pub tasks: usize,
}

impl ValidateOutcome {
    pub fn errors(&self) -> usize {
        self.shown
            .findings
            .iter()
            .filter(|finding| finding.severity == Severity::Error)
            .count()
    }

    pub fn warnings(&self) -> usize {
        self.shown.findings.len() - self.errors()
    }
}

/// `registry`: what was found and done.
#[derive(Debug)]
pub enum RegistryOutcome {
    /// The registry file cannot be read, so its history cannot be kept; nothing was written.
    Unreadable { shown: Shown },
    /// The prompt files have errors; the registry was neither written nor checked.
    Blocked { shown: Shown, check: bool },
    /// `--dry-run`: the registry the files call for.
    DryRun { text: String },
    /// The registry on disk is the one the files call for.
    UpToDate { tasks: usize, check: bool },
    /// `--check`: the registry is stale (or missing); the difference.
    Stale { diff: String, missing: bool },
    /// The registry was written.
    Written { tasks: usize },
}

impl RegistryOutcome {
    /// Success unless the registry could not be kept, the files block it, or `--check` found
    /// it stale.
    pub fn passed(&self) -> Option<bool> {
        match self {
            RegistryOutcome::Unreadable { .. } => None,
            RegistryOutcome::Blocked { .. } | RegistryOutcome::Stale { .. } => Some(false),
            _ => Some(true),
        }
    }
}

/// `status`: one row per task.
#[derive(Debug, Serialize)]
pub struct StatusOutcome {
    pub tasks: Vec<TaskStatus>,
}

#[derive(Debug, Serialize)]
pub struct TaskStatus {
    pub task: String,
    pub production: Option<String>,
    pub candidate: Option<String>,
    pub threshold: Option<f64>,
    pub latest_score: Option<f64>,
    pub latest_passed: Option<bool>,
    /// Date (UTC) and what happened, from the registry history or git.
    pub last_change: Option<String>,
    pub errors: usize,
    pub warnings: usize,
    /// No prompt, only archived versions (`promptops archive`).
    pub retired: bool,
}

/// `init`: the repository that was created.
#[derive(Debug)]
pub struct InitOutcome {
    pub dir: String,
    pub files: Vec<String>,
    pub git_initialised: bool,
    pub gitignore_updated: bool,
    pub sample_task: String,
}

/// `promote`: every gate with its evidence, what was decided, and the plan.
#[derive(Debug, Serialize)]
pub struct PromoteOutcome {
    /// `--eval`: the run made for the evidence.
    #[serde(skip)]
    pub eval: Option<EvalOutcome>,
    pub task: String,
    /// The production version before, when there was one.
    pub from: Option<String>,
    pub to: String,
    pub gates: Vec<super::lifecycle::gate::GateResult>,
    pub result: ChangeResult,
    /// What the promotion changes (with `--dry-run`: would change).
    pub plan: Option<super::plan::Plan>,
}

/// `history`: every recorded decision about a task's versions, oldest first.
#[derive(Debug, Serialize)]
pub struct HistoryOutcome {
    pub task: String,
    pub rows: Vec<HistoryRow>,
}

/// One decision (or an archived version the registry holds no decision for).
#[derive(Debug, Serialize)]
pub struct HistoryRow {
    pub version: String,
    pub event: HistoryRowKind,
    pub at: String,
    pub by: Option<String>,
    pub from: Option<String>,
    pub score: Option<f64>,
    pub reason: Option<String>,
    /// The commit that carried it out (found by its `Promptops-Plan` trailer).
    pub commit: Option<String>,
}

/// What a history row tells: a recorded event, or a version found archived that the
/// registry holds no decision for (archived before promptops recorded decisions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HistoryRowKind {
    Event(super::model::EventKind),
    Archived,
}

impl HistoryRowKind {
    pub fn as_str(self) -> &'static str {
        match self {
            HistoryRowKind::Event(kind) => kind.as_str(),
            HistoryRowKind::Archived => "archived",
        }
    }
}

impl Serialize for HistoryRowKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A change to one task's prompt (`archive`, `rollback`): what was changed, or with
/// `--dry-run` the plan.
#[derive(Debug, Serialize)]
pub struct ChangeOutcome {
    pub task: String,
    pub version: String,
    /// `production` or `candidate`.
    pub which: String,
    /// `DryRun`, or `Promoted` (carried out; committed unless `--no-commit`).
    pub result: ChangeResult,
    pub plan: Option<super::plan::Plan>,
}

/// `rollback --on-regression`: each task's decision with its evidence, and the rollbacks made.
#[derive(Debug, Serialize)]
pub struct RegressionOutcome {
    pub decisions: Vec<RegressionDecision>,
    pub rollbacks: Vec<ChangeOutcome>,
}

#[derive(Debug, Serialize)]
pub struct RegressionDecision {
    pub task: String,
    pub regressed: bool,
    /// The figures the decision was taken on.
    pub evidence: String,
    /// What was done: nothing, rolled back, or a person is needed.
    pub action: String,
}

/// `bundle`: the release written.
#[derive(Debug, Serialize)]
pub struct BundleOutcome {
    pub release_id: super::bundle::ReleaseId,
    pub dir: String,
    /// Each file with its sha256, in the order the release id hashes them.
    pub files: Vec<(String, String)>,
}

/// How `serve` ended.
#[derive(Debug)]
pub struct ServedOutcome {
    pub release_id: String,
    /// Requests were still running when the shutdown time was up.
    pub abandoned_connections: bool,
}

/// `image`: what was pushed (or written as an OCI layout).
#[derive(Debug, Serialize)]
pub struct ImageOutcome {
    /// `REPO@sha256:…`, or `oci:DIR:TAG`.
    pub reference: String,
    pub digest: String,
    pub tag: String,
    pub release_id: String,
    pub base: String,
    pub base_digest: String,
    pub layer_digest: String,
    pub config_digest: String,
    pub bytes_uploaded: u64,
    pub blobs_uploaded: usize,
    pub blobs_mounted: usize,
    pub blobs_present: usize,
    pub manifest_pushed: bool,
    /// Written as an OCI layout folder (nothing was pushed).
    pub oci_layout: bool,
}

/// Which `deploy` verb ran.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeployAction {
    #[default]
    Deploy,
    Rollback,
    Status,
}

/// How a `deploy` verb ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeployResult {
    /// Deployed, verified, scores checked, recorded and tagged.
    Succeeded,
    /// The release already runs with that image.
    NoOp,
    #[default]
    DryRun,
    /// `--no-wait`: the service was updated; nothing verified or recorded.
    Started,
    /// A failed deploy was rolled back (or `deploy rollback` went back).
    RolledBack,
    /// The rollout's outcome could not be known (exit 4).
    Unknown,
    /// `deploy rollback` did not finish.
    Failed,
    /// `deploy status`.
    Shown,
}

impl DeployResult {
    pub fn as_str(self) -> &'static str {
        match self {
            DeployResult::Succeeded => "succeeded",
            DeployResult::NoOp => "no-op",
            DeployResult::DryRun => "dry-run",
            DeployResult::Started => "started",
            DeployResult::RolledBack => "rolled-back",
            DeployResult::Unknown => "unknown",
            DeployResult::Failed => "failed",
            DeployResult::Shown => "shown",
        }
    }
}

/// `deploy`, `deploy rollback` and `deploy status`: what was found, done and decided.
#[derive(Debug, Default, Serialize)]
pub struct DeployOutcome {
    pub action: DeployAction,
    pub result: DeployResult,
    /// Whether the command reached what it was asked for (else exit 1).
    pub ok: bool,
    pub cluster: String,
    pub service: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_definition: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_task_definition: Option<String>,
    /// Why it failed or was rolled back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scores: Vec<ScoreCheck>,
    /// The task-definition difference (dry run and deploy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// The steps a dry run would take (`DeployPlan`, as words).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub calls: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// `deploy status`: each deployment of the service.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deployments: Vec<DeploymentLine>,
}

#[derive(Debug, Serialize)]
pub struct ScoreCheck {
    pub task: String,
    pub ok: bool,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct DeploymentLine {
    pub status: String,
    pub task_definition: String,
    pub rollout_state: Option<String>,
    pub running: i64,
    pub desired: i64,
    pub image: Option<String>,
    pub release_id: Option<String>,
    /// The prompt versions of that release, from the registry's deploy records.
    pub versions: Vec<(String, String)>,
}

/// `pipeline`: each stage's line, and the exit status of the first failing stage.
#[derive(Debug, Serialize)]
pub struct PipelineOutcome {
    pub stages: Vec<crate::domain::pipeline::LogLine>,
    /// The exit code of the stage that failed (none: every stage passed or was skipped).
    pub failed: Option<(String, i32)>,
}

/// `report pr`: what a pull request changes, task by task.
#[derive(Debug, Default, Serialize)]
pub struct PrReport {
    pub base: String,
    pub tasks: Vec<PrTask>,
    /// Deploy target (`cluster/service`) when the repository has one.
    pub deploy: Option<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct PrTask {
    pub task: String,
    /// What changed: `candidate 1.3.0`, `production`, `metadata or examples`.
    pub change: String,
    pub production: Option<(String, f64)>,
    pub candidate: Option<(String, f64)>,
    pub threshold: Option<f64>,
    /// Candidate − production on the same examples: mean, 95% interval, n.
    pub delta: Option<(f64, [f64; 2], u64)>,
    /// Each gate: name, passed (None: not applicable), evidence.
    pub gates: Vec<(String, Option<bool>, String)>,
    pub promotes: bool,
    pub worst: Vec<WorstExample>,
}

#[derive(Debug, Default, Serialize)]
pub struct WorstExample {
    pub id: String,
    pub input: String,
    pub expected: String,
    pub candidate: String,
    pub production: String,
    pub delta: f64,
}
