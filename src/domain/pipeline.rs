//! `promptops pipeline` as values: the stages in order, which of them a run takes
//! (`--from`, `--until`, `--only`), what each stage runs or why it has nothing to do, the
//! content hash of each stage's inputs, whether a stage can be skipped (its last successful
//! run had the same inputs), what a stage's command told the stages after it, and the log line
//! of a stage. The command runs the commands and carries the answers between stages.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::analysis::Analysis;
use super::layout;
use super::source::{FileContent, InputFile};

/// The stages, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    Validate,
    Eval,
    Gate,
    Promote,
    Image,
    Deploy,
    Verify,
}

impl Stage {
    pub const ALL: [Stage; 7] = [
        Stage::Validate,
        Stage::Eval,
        Stage::Gate,
        Stage::Promote,
        Stage::Image,
        Stage::Deploy,
        Stage::Verify,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Validate => "validate",
            Stage::Eval => "eval",
            Stage::Gate => "gate",
            Stage::Promote => "promote",
            Stage::Image => "image",
            Stage::Deploy => "deploy",
            Stage::Verify => "verify",
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// How a stage ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StageOutcome {
    Passed,
    Failed,
    Skipped,
    TimedOut,
    /// A dry run's stage that only planned (every command `would run`).
    Planned,
}

impl StageOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            StageOutcome::Passed => "passed",
            StageOutcome::Failed => "failed",
            StageOutcome::Skipped => "skipped",
            StageOutcome::TimedOut => "timed-out",
            StageOutcome::Planned => "planned",
        }
    }

    /// Whether the run stops after a stage that ended so.
    pub fn stops(self) -> bool {
        matches!(self, StageOutcome::Failed | StageOutcome::TimedOut)
    }
}

impl std::fmt::Display for StageOutcome {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// The log every run appends to, one line per stage.
pub const LOG_FILE: &str = "prompts/04-evals/pipeline-log.jsonl";
const _: () =
    assert!(LOG_FILE.len() == "prompts/04-evals/".len() + super::layout::PIPELINE_LOG.len());

/// The stages a run takes, in order.
pub fn selected(
    from: Option<Stage>,
    until: Option<Stage>,
    only: Option<Stage>,
) -> Result<Vec<Stage>, String> {
    if let Some(only) = only {
        return Ok(vec![only]);
    }
    let start = from.unwrap_or(Stage::Validate);
    let end = until.unwrap_or(Stage::Verify);
    if start > end {
        return Err(format!("--from {start} comes after --until {end}"));
    }
    Ok(Stage::ALL
        .into_iter()
        .filter(|stage| (start..=end).contains(stage))
        .collect())
}

/// A promptops command line (without the executable).
pub type Argv = Vec<String>;

/// What a stage will do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StagePlan {
    Skip(String),
    Run(Vec<Argv>),
}

/// The run's settings that decide what the stages run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options<'a> {
    pub dry_run: bool,
    pub force: bool,
    pub offline: bool,
    pub no_cache: bool,
    /// `--image-base` and `--image-push`.
    pub image: Option<(&'a str, &'a str)>,
    pub insecure_registries: &'a [String],
    pub verify_url: Option<&'a str>,
}

/// What the stages learn from each other in one run.
#[derive(Clone, Debug, Default)]
pub struct Carried {
    /// Candidates whose gates passed (task names).
    pub passed_gates: Vec<String>,
    /// The candidate runs this invocation's eval stage made, by task: only these may decide a
    /// promotion (a committed summary never does).
    pub evaluated: BTreeMap<String, Vec<String>>,
    /// Whether the gate stage ran in this run (else promote asks the gates itself).
    pub gated: bool,
    /// A dry run planned evals it did not run: the gates it shows read the evals as they
    /// stand, not the ones the run would make, so promote is planned for every candidate.
    pub evals_not_run: bool,
    /// The image the image stage pushed (`REPO@sha256:…`).
    pub image: Option<String>,
    /// A dry run planned a stage that changes the release (a promotion, an image): what
    /// deploy would deploy is known only after they run.
    pub release_planned: bool,
    pub deployed: bool,
}

fn words(words: &[&str]) -> Argv {
    words.iter().map(|word| (*word).to_owned()).collect()
}

/// A command as a person would type it (quoted for a POSIX shell where it must be).
pub fn shown(command: &[String]) -> String {
    let mut line = String::from("promptops");
    for word in command {
        line.push(' ');
        if word.is_empty() || word.contains(|c: char| c.is_whitespace() || "\"'$`\\".contains(c)) {
            line.push_str(&format!("'{}'", word.replace('\'', "'\\''")));
        } else {
            line.push_str(word);
        }
    }
    line
}

/// Commands that change nothing, which a dry run may run (validate, and the gates).
pub fn read_only(stage: Stage, command: &[String]) -> bool {
    stage == Stage::Validate || command.iter().any(|word| word == "--dry-run")
}

/// The tasks with a candidate, in task order.
fn candidates(analysis: &Analysis) -> Vec<String> {
    analysis
        .tasks
        .iter()
        .filter(|(_, task)| task.candidate.is_some())
        .map(|(name, _)| name.clone())
        .collect()
}

fn eval_options(options: &Options<'_>) -> Argv {
    let mut words = Vec::new();
    if options.offline {
        words.push("--offline".to_owned());
    }
    if options.no_cache {
        words.push("--no-cache".to_owned());
    }
    words
}

fn deploy_configured(analysis: &Analysis) -> bool {
    analysis
        .config
        .deploy
        .as_ref()
        .is_some_and(|deploy| deploy.cluster.is_some() && deploy.service.is_some())
}

/// `--evidence RUN` for each run this invocation made of the task's candidate.
fn evidence_options(carried: &Carried, task: &str) -> Argv {
    carried
        .evaluated
        .get(task)
        .into_iter()
        .flatten()
        .flat_map(|run| ["--evidence".to_owned(), run.clone()])
        .collect()
}

/// The task a stage's command evaluates as a candidate (`eval TASK --candidate …`).
pub fn evaluated_task(stage: Stage, command: &[String]) -> Option<&str> {
    (stage == Stage::Eval && command.iter().any(|word| word == "--candidate"))
        .then(|| command.get(1).map(String::as_str))
        .flatten()
}

/// What a stage runs this time: its [`plan`], unless its inputs are those of its last passed
/// run (and not `--force`), when it is skipped; a dry run shows the skips a run would make. A
/// run that promotes still evaluates its candidates (`promotes`): a promotion decides only on
/// evals made in this run (a cached one that changes nothing writes nothing and names the run
/// it repeats). Production's unchanged evals stay skipped.
pub fn decide(
    stage: Stage,
    (analysis, options, carried): (&Analysis, &Options<'_>, &Carried),
    (log, inputs_hash): (&[LogLine], &str),
    promotes: bool,
) -> StagePlan {
    match plan(stage, analysis, options, carried) {
        StagePlan::Run(commands)
            if !options.force
                && let Some(reason) = skip_reason(log, stage, inputs_hash) =>
        {
            let candidate_evals: Vec<Argv> = commands
                .into_iter()
                .filter(|command| promotes && evaluated_task(stage, command).is_some())
                .collect();
            if candidate_evals.is_empty() {
                StagePlan::Skip(reason)
            } else {
                StagePlan::Run(candidate_evals)
            }
        }
        plan => plan,
    }
}

/// What each stage runs, or why it has nothing to do.
// Long on purpose: one arm per stage, so the stages' commands read side by side.
pub fn plan(
    stage: Stage,
    analysis: &Analysis,
    options: &Options<'_>,
    carried: &Carried,
) -> StagePlan {
    let dry = |mut command: Argv| {
        if options.dry_run {
            command.push("--dry-run".to_owned());
        }
        command
    };
    match stage {
        Stage::Validate => StagePlan::Run(vec![words(&["validate"])]),
        Stage::Eval => {
            let mut commands = vec![[vec!["eval".to_owned()], eval_options(options)].concat()];
            for task in candidates(analysis) {
                let paired = analysis.tasks[&task].production.is_some();
                let mut command = vec!["eval".to_owned(), task, "--candidate".to_owned()];
                if paired {
                    command.extend(["--baseline".to_owned(), "production".to_owned()]);
                }
                command.extend(eval_options(options));
                commands.push(command);
            }
            StagePlan::Run(commands)
        }
        // The gates are a promotion's dry run, on this run's evals.
        Stage::Gate => each_candidate(analysis, |task| promote(&task, carried, true)),
        // A dry run whose evals did not run shows every candidate as `would run` (each goes
        // ahead only if its gates pass after the evals).
        Stage::Promote if options.dry_run && carried.evals_not_run => {
            each_candidate(analysis, |task| vec!["promote".to_owned(), task])
        }
        Stage::Promote => plan_promote(analysis, carried).map_or_else(StagePlan::Skip, |tasks| {
            StagePlan::Run(
                tasks
                    .into_iter()
                    .map(|task| promote(&task, carried, options.dry_run))
                    .collect(),
            )
        }),
        Stage::Image => match options.image {
            Some((base, push)) => {
                let mut command = words(&["image", "--base", base, "--push", push]);
                for registry in options.insecure_registries {
                    command.extend(["--insecure-registry".to_owned(), registry.clone()]);
                }
                command.extend(["--format".to_owned(), "json".to_owned()]);
                StagePlan::Run(vec![command])
            }
            None => StagePlan::Skip("no --image-base and --image-push".to_owned()),
        },
        Stage::Deploy => {
            if !deploy_configured(analysis) {
                return StagePlan::Skip(
                    "no deploy target (deploy.cluster and deploy.service in promptops.yaml)"
                        .to_owned(),
                );
            }
            let mut command = vec!["deploy".to_owned()];
            if let Some(image) = &carried.image {
                command.extend(["--image".to_owned(), image.clone()]);
            }
            if let Some(url) = options.verify_url {
                command.extend(["--verify-url".to_owned(), url.to_owned()]);
            }
            // A dry run that planned a promotion or an image cannot ask AWS about the image
            // of a release that does not exist yet: the deploy is planned, not looked up.
            if options.dry_run && carried.release_planned {
                return StagePlan::Run(vec![command]);
            }
            StagePlan::Run(vec![dry(command)])
        }
        Stage::Verify => {
            if !deploy_configured(analysis) {
                return StagePlan::Skip("no deploy target to verify".to_owned());
            }
            if !carried.deployed && !options.dry_run {
                return StagePlan::Skip("nothing was deployed in this run".to_owned());
            }
            StagePlan::Run(vec![words(&["deploy", "status", "--format", "json"])])
        }
    }
}

/// One command per task with a candidate, or a skip when none has one.
fn each_candidate(analysis: &Analysis, command: impl Fn(String) -> Argv) -> StagePlan {
    let tasks = candidates(analysis);
    if tasks.is_empty() {
        return StagePlan::Skip("no task has a candidate".to_owned());
    }
    StagePlan::Run(tasks.into_iter().map(command).collect())
}

/// `promote TASK` on the runs this invocation made of its candidate.
fn promote(task: &str, carried: &Carried, dry_run: bool) -> Argv {
    let mut command = vec!["promote".to_owned(), task.to_owned()];
    command.extend(evidence_options(carried, task));
    if dry_run {
        command.push("--dry-run".to_owned());
    }
    command
}

/// The tasks the promote stage promotes, or why none: only candidates this run's own eval
/// stage evaluated (a committed summary never decides a promotion in CI) and, when the gate
/// stage ran, whose gates passed.
fn plan_promote(analysis: &Analysis, carried: &Carried) -> Result<Vec<String>, String> {
    let all = candidates(analysis);
    if all.is_empty() {
        return Err("no task has a candidate".to_owned());
    }
    let evaluated: Vec<String> = all
        .into_iter()
        .filter(|task| {
            carried
                .evaluated
                .get(task)
                .is_some_and(|runs| !runs.is_empty())
        })
        .collect();
    if evaluated.is_empty() {
        return Err(
            "no candidate was evaluated in this run, and the pipeline promotes only on evals it \
             made itself (run the eval stage, or promote by hand)"
                .to_owned(),
        );
    }
    let tasks: Vec<String> = if carried.gated {
        evaluated
            .into_iter()
            .filter(|task| carried.passed_gates.contains(task))
            .collect()
    } else {
        evaluated
    };
    if tasks.is_empty() {
        return Err("no candidate passed its gates".to_owned());
    }
    Ok(tasks)
}

/// A stage's command said the stage failed (a non-zero exit, or an answer that does not
/// read).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StageFailed;

/// What one command of a stage told the stages after it, with the change to log; `Err` when
/// the stage fails. `release` is the release in production (the verify stage checks that the
/// service serves it).
pub fn understand(
    stage: Stage,
    command: &[String],
    (code, stdout): (i32, &str),
    carried: &mut Carried,
    release: Option<&str>,
) -> Result<Option<String>, StageFailed> {
    match stage {
        // A candidate that fails its gates is not promoted; that is not a failure of the run.
        Stage::Gate if code == 1 => Ok(None),
        Stage::Gate if code == 0 => {
            carried.passed_gates.push(command[1].clone());
            Ok(None)
        }
        Stage::Promote if code == 0 && !command.iter().any(|word| word == "--dry-run") => {
            Ok(Some(format!("promoted {}", command[1])))
        }
        Stage::Image if code == 0 => {
            let value: serde_json::Value = serde_json::from_str(stdout).map_err(|_| StageFailed)?;
            let reference = value["reference"].as_str().ok_or(StageFailed)?.to_owned();
            carried.image = Some(reference.clone());
            Ok(Some(format!("pushed {reference}")))
        }
        Stage::Deploy if code == 0 => {
            carried.deployed = !command.iter().any(|word| word == "--dry-run");
            Ok(carried.deployed.then(|| "deployed".to_owned()))
        }
        Stage::Verify if code == 0 => {
            let value: serde_json::Value = serde_json::from_str(stdout).map_err(|_| StageFailed)?;
            let primary = value["deployments"]
                .as_array()
                .and_then(|all| all.iter().find(|d| d["status"] == "PRIMARY"))
                .and_then(|d| d["release_id"].as_str());
            if primary.is_some() && primary == release {
                Ok(None)
            } else {
                Err(StageFailed)
            }
        }
        _ if code == 0 => Ok(None),
        _ => Err(StageFailed),
    }
}

/// What a stage that ran tells the stages after it, beyond its commands' answers.
pub fn after_stage(stage: Stage, planned_only: bool, carried: &mut Carried) {
    if stage == Stage::Gate {
        carried.gated = true;
    }
    if planned_only && stage == Stage::Eval {
        carried.evals_not_run = true;
    }
    if planned_only && matches!(stage, Stage::Promote | Stage::Image) {
        carried.release_planned = true;
    }
}

/// What a dry run says under a stage about what it cannot know yet.
pub fn dry_run_note(stage: Stage, carried: &Carried) -> Option<&'static str> {
    match stage {
        Stage::Gate if carried.evals_not_run => Some(
            "note: a dry run does not run the evals above, so the evidence, threshold and \
             not-worse gates read the evals as they stand now; a run decides them after its evals",
        ),
        Stage::Promote if carried.evals_not_run => {
            Some("each candidate only if its gates pass after the evals")
        }
        Stage::Deploy if carried.release_planned => Some(
            "the release it deploys is the one the planned stages above make; its image is \
             looked up when they have run",
        ),
        _ => None,
    }
}

/// The candidate runs an eval recorded (`--record-runs`): `(task, run)`, each checked to be a
/// task id and a run name (the file is the child's, but its lines are data all the same).
pub fn recorded_runs(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.split('\t');
            let (task, variant, run) = (parts.next()?, parts.next()?, parts.next()?);
            (variant == "candidate"
                && layout::is_slug(task)
                && super::eval::record::is_run_name(run))
            .then(|| (task.to_owned(), run.to_owned()))
        })
        .collect()
}

/// The content a stage depends on, hashed: the stage's own command settings, and the files
/// (by sha256) that decide what it does. `exec_fingerprints`: each `exec` provider's script,
/// fingerprinted (an eval's cache key covers it, so a changed script is asked again).
pub fn stage_inputs(
    stage: Stage,
    (inputs, analysis): (&[InputFile], &Analysis),
    options: &Options<'_>,
    carried: &Carried,
    exec_fingerprints: &[(String, String)],
) -> Inputs {
    let mut hashed = Inputs::default();
    hashed.add("stage", stage.as_str());
    hashed.add("eval options", eval_options(options).join(" "));
    // Prompts, metadata and examples by sha256 (the registry the files call for lists them
    // all), without the history and evals that later stages write.
    let mut registry = analysis.expected_registry.clone();
    for task in registry.tasks.values_mut() {
        task.history.clear();
        if matches!(stage, Stage::Validate | Stage::Eval) {
            task.latest_eval = None;
        }
    }
    hashed.add("files", super::registry::render(&registry));
    // The config as the scan read it (its bytes are kept: it is small and always read).
    hashed.add(
        "config",
        inputs
            .iter()
            .find(|input| input.path == layout::CONFIG_FILE)
            .map_or_else(String::new, |input| match &input.content {
                FileContent::Bytes(bytes) => super::source::sha256_hex(bytes),
                other => format!("{other:?}"),
            }),
    );
    if stage == Stage::Eval {
        for (name, fingerprint) in exec_fingerprints {
            hashed.add(format!("exec provider {name}"), fingerprint.clone());
        }
    }
    if matches!(stage, Stage::Gate | Stage::Promote) {
        let evals = format!("{}/{}/", layout::PROMPTS_DIR, layout::EVALS);
        let summaries: Vec<&str> = inputs
            .iter()
            .map(|input| input.path.as_str())
            .filter(|path| path.starts_with(&evals) && path.ends_with(".summary.json"))
            .collect();
        hashed.add("eval summaries", summaries.join("\n"));
    }
    if matches!(stage, Stage::Image | Stage::Deploy | Stage::Verify) {
        hashed.add(
            "image",
            format!(
                "{:?} {:?}",
                options.image.map(|(base, _)| base),
                options.image.map(|(_, push)| push)
            ),
        );
        hashed.add("pushed", carried.image.clone().unwrap_or_default());
        hashed.add("verify", options.verify_url.unwrap_or_default());
    }
    hashed
}

/// A stage's inputs: named parts (file paths with their sha256, settings), hashed in order.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    parts: BTreeMap<String, String>,
}

impl Inputs {
    pub fn add(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.parts.insert(name.into(), value.into());
    }

    /// sha256 over every part in name order.
    pub fn hash(&self) -> String {
        let mut hasher = Sha256::new();
        for (name, value) in &self.parts {
            hasher.update(name.as_bytes());
            hasher.update([0]);
            hasher.update(value.as_bytes());
            hasher.update([b'\n']);
        }
        super::source::sha256_hex_of_digest(&hasher.finalize())
    }
}

/// One line of the pipeline log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    pub run: String,
    pub stage: Stage,
    pub started: String,
    pub duration_ms: u64,
    pub outcome: StageOutcome,
    /// The sha256 of the stage's inputs.
    pub inputs: String,
    /// The commands the stage ran.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<String>,
    /// What it changed (tasks promoted, image pushed, revision deployed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
}

/// Why a stage may be skipped: its newest passed run had these same inputs.
pub fn skip_reason(log: &[LogLine], stage: Stage, inputs: &str) -> Option<String> {
    let last = log
        .iter()
        .rev()
        .find(|line| line.stage == stage && line.outcome == StageOutcome::Passed)?;
    (last.inputs == inputs).then(|| {
        format!(
            "its inputs (sha256 {}) are those of its passed run {} at {}",
            &inputs[..12],
            last.run,
            last.started
        )
    })
}

/// The log's lines; lines that do not read are passed over (the log is a record, not input).
/// The records of a pipeline log, and the lines that are not records (a run killed mid-line,
/// conflict markers from a merge) by number with what is wrong with them. Such a line only
/// costs a skip: the stages run again.
pub fn read_log(text: &str) -> (Vec<LogLine>, Vec<(usize, String)>) {
    let mut records = Vec::new();
    let mut problems = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(line) {
            Ok(record) => records.push(record),
            Err(error) => problems.push((index + 1, error.to_string())),
        }
    }
    (records, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_line_that_is_not_a_record_is_named_by_its_number() {
        let good = r#"{"run":"r","stage":"eval","started":"s","duration_ms":1,"outcome":"passed","inputs":"h","commands":[],"changed":[],"skip_reason":null,"exit_code":0}"#;
        let text = format!("{good}\n\n<<<<<<< HEAD\n{good}\n{{\"run\": 1}}\n");
        let (records, problems) = read_log(&text);
        assert_eq!(records.len(), 2);
        let numbers: Vec<usize> = problems.iter().map(|(line, _)| *line).collect();
        assert_eq!(numbers, [3, 5]);
    }

    #[test]
    fn from_until_and_only_select_stages() {
        use Stage::*;
        assert_eq!(
            selected(None, Some(Gate), None).unwrap(),
            [Validate, Eval, Gate]
        );
        assert_eq!(
            selected(Some(Image), None, None).unwrap(),
            [Image, Deploy, Verify]
        );
        assert_eq!(selected(None, None, Some(Promote)).unwrap(), [Promote]);
        assert_eq!(
            selected(Some(Deploy), Some(Eval), None).unwrap_err(),
            "--from deploy comes after --until eval"
        );
    }

    #[test]
    fn a_stage_is_skipped_only_when_its_last_pass_had_the_same_inputs() {
        let line = |outcome: StageOutcome, inputs: &str| LogLine {
            run: "r".into(),
            stage: Stage::Eval,
            started: "t".into(),
            duration_ms: 1,
            outcome,
            inputs: inputs.into(),
            commands: vec![],
            changed: vec![],
            skip_reason: None,
            exit_code: Some(0),
        };
        let hash = "a".repeat(64);
        let other = "b".repeat(64);
        let passed = StageOutcome::Passed;
        assert!(skip_reason(&[line(passed, &hash)], Stage::Eval, &hash).is_some());
        assert!(skip_reason(&[line(passed, &hash)], Stage::Eval, &other).is_none());
        assert!(skip_reason(&[line(StageOutcome::Failed, &hash)], Stage::Eval, &hash).is_none());
        assert!(skip_reason(&[line(passed, &hash)], Stage::Gate, &hash).is_none());
        let mut one = Inputs::default();
        one.add("a", "1");
        let mut two = Inputs::default();
        two.add("a", "2");
        assert_ne!(one.hash(), two.hash());
    }

    mod planning {
        use crate::domain::analysis::{Options as AnalysisOptions, analyze};
        use crate::domain::pipeline::*;

        fn file(path: &str, text: &str) -> InputFile {
            InputFile {
                path: path.to_owned(),
                content: FileContent::Bytes(text.as_bytes().to_vec()),
            }
        }

        fn prompt(id: &str, version: &str) -> String {
            format!(
                "id: {id}\nversion: {version}\ndescription: d\nmodel:\n  provider: openai\n  name: m\nmessages:\n  - role: user\n    content: \"{{{{ a }}}}\"\noutput:\n  format: text\n"
            )
        }

        /// `a` has production and a candidate, `b` only a candidate, `c` only production; the
        /// deploy target is configured when `deploy` is set.
        fn repository(deploy: bool) -> Analysis {
            let mut inputs = Vec::new();
            for (id, production, candidate) in
                [("a", true, true), ("b", false, true), ("c", true, false)]
            {
                if production {
                    inputs.push(file(
                        &format!("prompts/02-production/{id}.yaml"),
                        &prompt(id, "1.0.0"),
                    ));
                }
                if candidate {
                    inputs.push(file(
                        &format!("prompts/00-templates/{id}.yaml"),
                        &prompt(id, "1.1.0"),
                    ));
                }
            }
            if deploy {
                inputs.push(file(
                    "promptops.yaml",
                    "deploy:\n  cluster: prod\n  service: api\n",
                ));
            }
            analyze(&inputs, AnalysisOptions::default())
        }

        fn argv(line: &str) -> Argv {
            line.split(' ').map(str::to_owned).collect()
        }

        fn run(lines: &[&str]) -> StagePlan {
            StagePlan::Run(lines.iter().map(|line| argv(line)).collect())
        }

        #[test]
        fn each_stage_plans_the_commands_a_person_would_type() {
            let plain = repository(false);
            let deployable = repository(true);
            let offline = Options {
                offline: true,
                ..Options::default()
            };
            let dry = Options {
                dry_run: true,
                ..Options::default()
            };
            let registries = ["127.0.0.1:5000".to_owned()];
            let imaging = Options {
                image: Some(("base:1", "repo")),
                insecure_registries: &registries,
                ..Options::default()
            };
            let mut evaluated = Carried::default();
            evaluated.evaluated.insert("a".into(), vec!["r1".into()]);
            evaluated.evaluated.insert("b".into(), vec!["r2".into()]);
            let mut gated = evaluated.clone();
            gated.gated = true;
            gated.passed_gates = vec!["b".into()];
            let not_run = Carried {
                evals_not_run: true,
                ..Carried::default()
            };
            let pushed = Carried {
                image: Some("repo@sha256:1".into()),
                ..Carried::default()
            };
            let none = Carried::default();
            let table: Vec<(&str, Stage, &Analysis, Options<'_>, &Carried, StagePlan)> = vec![
                (
                    "eval: production, then each candidate against production",
                    Stage::Eval,
                    &plain,
                    offline,
                    &none,
                    run(&[
                        "eval --offline",
                        "eval a --candidate --baseline production --offline",
                        "eval b --candidate --offline",
                    ]),
                ),
                (
                    "gate: on this run's evals",
                    Stage::Gate,
                    &plain,
                    Options::default(),
                    &evaluated,
                    run(&[
                        "promote a --evidence r1 --dry-run",
                        "promote b --evidence r2 --dry-run",
                    ]),
                ),
                (
                    "promote: nothing evaluated here",
                    Stage::Promote,
                    &plain,
                    Options::default(),
                    &none,
                    StagePlan::Skip(
                        "no candidate was evaluated in this run, and the pipeline promotes only \
                         on evals it made itself (run the eval stage, or promote by hand)"
                            .into(),
                    ),
                ),
                (
                    "promote: only what passed its gates",
                    Stage::Promote,
                    &plain,
                    Options::default(),
                    &gated,
                    run(&["promote b --evidence r2"]),
                ),
                (
                    "promote: a dry run whose evals did not run would run every candidate",
                    Stage::Promote,
                    &plain,
                    dry,
                    &not_run,
                    run(&["promote a", "promote b"]),
                ),
                (
                    "image: skipped without a base",
                    Stage::Image,
                    &plain,
                    Options::default(),
                    &none,
                    StagePlan::Skip("no --image-base and --image-push".into()),
                ),
                (
                    "image: pushed as JSON",
                    Stage::Image,
                    &plain,
                    imaging,
                    &none,
                    run(&[
                        "image --base base:1 --push repo --insecure-registry 127.0.0.1:5000 --format json",
                    ]),
                ),
                (
                    "deploy: skipped without a target",
                    Stage::Deploy,
                    &plain,
                    Options::default(),
                    &none,
                    StagePlan::Skip(
                        "no deploy target (deploy.cluster and deploy.service in promptops.yaml)"
                            .into(),
                    ),
                ),
                (
                    "deploy: the image pushed in this run",
                    Stage::Deploy,
                    &deployable,
                    dry,
                    &pushed,
                    run(&["deploy --image repo@sha256:1 --dry-run"]),
                ),
                (
                    "verify: nothing deployed",
                    Stage::Verify,
                    &deployable,
                    Options::default(),
                    &none,
                    StagePlan::Skip("nothing was deployed in this run".into()),
                ),
            ];
            for (name, stage, analysis, options, carried, expected) in table {
                assert_eq!(plan(stage, analysis, &options, carried), expected, "{name}");
            }
        }

        #[test]
        fn an_unchanged_stage_is_skipped_but_a_promoting_run_still_evaluates_its_candidates() {
            let analysis = repository(false);
            let options = Options::default();
            let carried = Carried::default();
            let hash = "h".repeat(64);
            let log = [LogLine {
                run: "r".into(),
                stage: Stage::Eval,
                started: "t".into(),
                duration_ms: 1,
                outcome: StageOutcome::Passed,
                inputs: hash.clone(),
                commands: vec![],
                changed: vec![],
                skip_reason: None,
                exit_code: Some(0),
            }];
            let decided = |promotes: bool, force: bool| {
                decide(
                    Stage::Eval,
                    (&analysis, &Options { force, ..options }, &carried),
                    (&log, &hash),
                    promotes,
                )
            };
            assert!(matches!(decided(false, false), StagePlan::Skip(_)));
            assert_eq!(
                decided(true, false),
                run(&[
                    "eval a --candidate --baseline production",
                    "eval b --candidate",
                ])
            );
            assert_eq!(
                decided(false, true),
                plan(Stage::Eval, &analysis, &options, &carried)
            );
        }

        #[test]
        fn a_commands_answer_is_carried_to_the_next_stages() {
            let mut carried = Carried::default();
            let gate = argv("promote a --dry-run");
            assert_eq!(
                understand(Stage::Gate, &gate, (1, ""), &mut carried, None),
                Ok(None)
            );
            assert_eq!(
                understand(Stage::Gate, &gate, (0, ""), &mut carried, None),
                Ok(None)
            );
            assert_eq!(carried.passed_gates, ["a"]);
            assert_eq!(
                understand(Stage::Gate, &gate, (2, ""), &mut carried, None),
                Err(StageFailed)
            );
            let image = argv("image --base b --push r --format json");
            assert_eq!(
                understand(
                    Stage::Image,
                    &image,
                    (0, r#"{"reference": "r@sha256:9"}"#),
                    &mut carried,
                    None
                ),
                Ok(Some("pushed r@sha256:9".into()))
            );
            assert_eq!(carried.image.as_deref(), Some("r@sha256:9"));
            assert_eq!(
                understand(Stage::Image, &image, (0, "not json"), &mut carried, None),
                Err(StageFailed)
            );
            let status = argv("deploy status --format json");
            let serving = r#"{"deployments": [{"status": "PRIMARY", "release_id": "rel"}]}"#;
            assert_eq!(
                understand(
                    Stage::Verify,
                    &status,
                    (0, serving),
                    &mut carried,
                    Some("rel")
                ),
                Ok(None)
            );
            assert_eq!(
                understand(
                    Stage::Verify,
                    &status,
                    (0, serving),
                    &mut carried,
                    Some("other")
                ),
                Err(StageFailed)
            );
            assert_eq!(
                recorded_runs(
                    "a\tcandidate\t20261201T000000Z-candidate\nb\tproduction\tx\n../x\tcandidate\ty\n"
                ),
                [("a".to_owned(), "20261201T000000Z-candidate".to_owned())]
            );
        }
    }
}
