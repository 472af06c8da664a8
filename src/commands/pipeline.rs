//! `promptops pipeline`: the lifecycle as stages. Each stage runs the promptops commands a
//! person would type (this executable as a child, so each keeps its own output and exit
//! status and a stage can be stopped at its timeout); which stages run, and which are skipped
//! because their inputs are unchanged, is `domain::pipeline`.

use std::time::Instant;

use crate::adapters::{self, process};
use crate::cli::PipelineArgs;
use crate::domain::analysis::Analysis;
use crate::domain::layout;
use crate::domain::outcome::PipelineOutcome;
use crate::domain::pipeline::{self, Inputs, LogLine};
use crate::domain::source::InputFile;
use crate::domain::time;
use crate::exit::{ExitStatus, UserError};
use crate::report::Printer;
use crate::settings::Settings;

use super::Outcome;

/// What a stage will do.
enum Plan {
    Skip(String),
    Run(Vec<Vec<String>>),
}

/// What the stages learn from each other in one run.
#[derive(Default)]
struct Carried {
    /// Candidates whose gates passed (task names).
    passed_gates: Vec<String>,
    /// The candidate runs this invocation's eval stage made, by task: only these may decide a
    /// promotion (a committed summary never does).
    evaluated: std::collections::BTreeMap<String, Vec<String>>,
    /// Whether the gate stage ran in this run (else promote asks the gates itself).
    gated: bool,
    /// A dry run planned evals it did not run: the gates it shows read the evals as they
    /// stand, not the ones the run would make, so promote is planned for every candidate.
    evals_not_run: bool,
    /// The image the image stage pushed (`REPO@sha256:…`).
    image: Option<String>,
    /// A dry run planned a stage that changes the release (a promotion, an image): what
    /// deploy would deploy is known only after they run.
    release_planned: bool,
    deployed: bool,
}

fn words(words: &[&str]) -> Vec<String> {
    words.iter().map(|word| (*word).to_owned()).collect()
}

fn shown(command: &[String]) -> String {
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

pub fn run(
    settings: &Settings,
    args: &PipelineArgs,
    printer: &mut Printer<'_>,
) -> anyhow::Result<Outcome> {
    let stages = pipeline::selected(
        args.from.as_deref(),
        args.until.as_deref(),
        args.only.as_deref(),
    )
    .map_err(|message| UserError::new(ExitStatus::Error, message))?;
    let stage_timeout = super::deploy::duration(&args.stage_timeout, "stage-timeout")?;
    let root = super::root(settings)?;
    let log_path = root.join(pipeline::LOG_FILE);
    let log = if log_path.symlink_metadata().is_ok() {
        let (log, problems) = pipeline::read_log(&String::from_utf8_lossy(
            &adapters::fs::read_regular(&log_path, layout::JSONL_SIZE_LIMIT)?,
        ));
        for (line, problem) in problems {
            writeln!(
                printer.err,
                "warning: {}:{line}: not a pipeline record ({problem}); ignored, so the stages it \
                 recorded are not skipped\n  hint: remove the line (a merge conflict's markers, or \
                 a run killed while writing)",
                pipeline::LOG_FILE
            )?;
        }
        log
    } else {
        Vec::new()
    };
    let run_id = time::compact(settings.clock.now());
    let mut carried = Carried::default();
    let mut lines = Vec::new();
    let mut failed = None;
    let group = settings.github_actions();
    // Each stage sees the repository as the stages before it left it: it is read again only
    // after a stage ran a command that may write (not a skip, validate or a dry run).
    let mut scanned = None;
    // A promotion decides only on evals made in this run, so when this run promotes, the eval
    // stage runs even if unchanged (a cached eval that changes nothing costs nothing and
    // names the earlier run it repeats).
    let promotes = stages.contains(&"promote");
    for stage in stages {
        let (inputs, analysis) = match scanned.take() {
            Some(scan) => scan,
            None => super::scan(&root, false)?,
        };
        let mut wrote = false;
        let hash = stage_inputs(stage, (&root, &inputs), &analysis, args, &carried).hash();
        let started = time::rfc3339(settings.clock.now());
        let clock = Instant::now();
        // A stage with work is skipped when its inputs are those of its last passed run
        // (unless --force); a dry run shows the skips a run would make.
        let plan = match plan(stage, &analysis, args, &carried) {
            Plan::Run(commands)
                if !args.force
                    && let Some(reason) = pipeline::skip_reason(&log, stage, &hash) =>
            {
                // A run that promotes still evaluates its candidates: a promotion decides only
                // on evals made in this run (a cached one that changes nothing writes nothing
                // and names the run it repeats). Production's unchanged evals stay skipped.
                let candidate_evals: Vec<Vec<String>> = commands
                    .into_iter()
                    .filter(|command| promotes && evaluated_task(stage, command).is_some())
                    .collect();
                if candidate_evals.is_empty() {
                    Plan::Skip(reason)
                } else {
                    Plan::Run(candidate_evals)
                }
            }
            plan => plan,
        };
        let mut line = LogLine {
            run: run_id.clone(),
            stage: stage.to_owned(),
            started,
            duration_ms: 0,
            outcome: "skipped".to_owned(),
            inputs: hash,
            commands: Vec::new(),
            changed: Vec::new(),
            skip_reason: match &plan {
                Plan::Skip(reason) => Some(reason.clone()),
                Plan::Run(_) => None,
            },
            exit_code: None,
        };
        if group {
            writeln!(
                printer.err,
                "{}",
                crate::report::actions::command(&format!("::group::pipeline: {stage}"))
            )?;
        }
        match plan {
            Plan::Skip(reason) => {
                writeln!(printer.err, "== {stage}: skipped: {reason}")?;
            }
            Plan::Run(commands) => {
                writeln!(printer.err, "== {stage}")?;
                // A dry run's stage that only plans (every command `would run`) is "planned".
                let planned_only =
                    args.dry_run && commands.iter().all(|command| !read_only(stage, command));
                let outcome = if planned_only { "planned" } else { "passed" };
                outcome.clone_into(&mut line.outcome);
                for command in commands {
                    line.commands.push(shown(&command));
                    if args.dry_run && !read_only(stage, &command) {
                        writeln!(printer.err, "   would run: {}", shown(&command))?;
                        continue;
                    }
                    writeln!(printer.err, "$ {}", shown(&command))?;
                    printer.err.flush()?;
                    wrote |= !read_only(stage, &command);
                    let capture = matches!(stage, "image" | "verify");
                    // A candidate's eval records the run it made (or the unchanged earlier
                    // one it found) in a file of this stage's own.
                    let record = match evaluated_task(stage, &command) {
                        Some(_) => Some(tempfile::NamedTempFile::new()?),
                        None => None,
                    };
                    let mut full = vec!["--repo".to_owned(), root.display().to_string()];
                    full.extend(command.iter().cloned());
                    if let Some(record) = &record {
                        full.extend([
                            "--record-runs".to_owned(),
                            record.path().display().to_string(),
                        ]);
                    }
                    let ended = process::run_self(&root, &full, stage_timeout, capture)?;
                    // A stage stopped at its timeout is exit 3, whatever it said as it stopped.
                    let code = if ended.timed_out {
                        3
                    } else {
                        ended.code.unwrap_or(130)
                    };
                    line.exit_code = Some(code);
                    if let Some(record) = &record {
                        for (task, run) in recorded_runs(record.path())? {
                            line.changed.push(format!("evaluated {task}: run {run}"));
                            carried.evaluated.entry(task).or_default().push(run);
                        }
                    }
                    if ended.timed_out {
                        "timed-out".clone_into(&mut line.outcome);
                        writeln!(
                            printer.err,
                            "   {stage} ran past --stage-timeout {}; stopped",
                            args.stage_timeout
                        )?;
                        break;
                    }
                    let release = (stage == "verify")
                        .then(|| super::bundle::release(&root, &inputs, &analysis).ok())
                        .flatten()
                        .map(|bundle| bundle.release_id);
                    match understand(
                        stage,
                        &command,
                        code,
                        &ended.stdout,
                        &mut carried,
                        release.as_deref(),
                    ) {
                        Ok(Some(change)) => line.changed.push(change),
                        Ok(None) => {}
                        Err(()) => {
                            "failed".clone_into(&mut line.outcome);
                            break;
                        }
                    }
                }
                if stage == "gate" {
                    carried.gated = true;
                }
                if planned_only && stage == "eval" {
                    carried.evals_not_run = true;
                }
                if planned_only && matches!(stage, "promote" | "image") {
                    carried.release_planned = true;
                }
                if args.dry_run && carried.evals_not_run {
                    match stage {
                        "gate" => writeln!(
                            printer.err,
                            "   note: a dry run does not run the evals above, so the evidence, \
                             threshold and not-worse gates read the evals as they stand now; a \
                             run decides them after its evals"
                        )?,
                        "promote" => writeln!(
                            printer.err,
                            "   each candidate only if its gates pass after the evals"
                        )?,
                        _ => {}
                    }
                }
                if args.dry_run && carried.release_planned && stage == "deploy" {
                    writeln!(
                        printer.err,
                        "   the release it deploys is the one the planned stages above make; its \
                         image is looked up when they have run"
                    )?;
                }
            }
        }
        line.duration_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
        if group {
            writeln!(
                printer.err,
                "{}",
                crate::report::actions::command("::endgroup::")
            )?;
        }
        let stop = line.outcome == "failed" || line.outcome == "timed-out";
        if stop {
            failed = Some((stage.to_owned(), line.exit_code.unwrap_or(1)));
        }
        if !args.dry_run {
            let mut text = serde_json::to_string(&line)?;
            text.push('\n');
            let mut file = adapters::fs::open_append_no_follow(&log_path)?;
            std::io::Write::write_all(&mut file, text.as_bytes())?;
        }
        if !wrote {
            scanned = Some((inputs, analysis));
        }
        lines.push(line);
        if stop {
            writeln!(printer.err, "pipeline: stopped at {stage}")?;
            break;
        }
    }
    let outcome = PipelineOutcome {
        stages: lines,
        failed,
    };
    let summary: Vec<String> = outcome
        .stages
        .iter()
        .map(|line| format!("{} {}", line.stage, line.outcome))
        .collect();
    writeln!(
        printer.out,
        "pipeline{}: {}",
        if args.dry_run { " (dry run)" } else { "" },
        summary.join(", ")
    )?;
    if group && let Some(path) = &settings.github_step_summary {
        // GitHub's protocol: every step appends its Markdown to this one file.
        let markdown = crate::report::pipeline::step_summary(&outcome, args.dry_run);
        adapters::fs::append(path, markdown.as_bytes())?;
    }
    Ok(Outcome::Pipeline(outcome))
}

/// Commands that change nothing, which a dry run may run (validate, and the gates).
fn read_only(stage: &str, command: &[String]) -> bool {
    stage == "validate" || command.iter().any(|word| word == "--dry-run")
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

fn eval_options(args: &PipelineArgs) -> Vec<String> {
    let mut options = Vec::new();
    if args.offline {
        options.push("--offline".to_owned());
    }
    if args.no_cache {
        options.push("--no-cache".to_owned());
    }
    options
}

fn deploy_configured(analysis: &Analysis) -> bool {
    analysis
        .config
        .deploy
        .as_ref()
        .is_some_and(|deploy| deploy.cluster.is_some() && deploy.service.is_some())
}

/// What each stage runs, or why it has nothing to do.
fn plan(stage: &str, analysis: &Analysis, args: &PipelineArgs, carried: &Carried) -> Plan {
    let dry = |mut command: Vec<String>| {
        if args.dry_run {
            command.push("--dry-run".to_owned());
        }
        command
    };
    match stage {
        "validate" => Plan::Run(vec![words(&["validate"])]),
        "eval" => {
            let mut commands = vec![[vec!["eval".to_owned()], eval_options(args)].concat()];
            for task in candidates(analysis) {
                let paired = analysis.tasks[&task].production.is_some();
                let mut command = vec!["eval".to_owned(), task, "--candidate".to_owned()];
                if paired {
                    command.extend(["--baseline".to_owned(), "production".to_owned()]);
                }
                command.extend(eval_options(args));
                commands.push(command);
            }
            Plan::Run(commands)
        }
        "gate" => {
            let tasks = candidates(analysis);
            if tasks.is_empty() {
                return Plan::Skip("no task has a candidate".to_owned());
            }
            Plan::Run(
                tasks
                    .into_iter()
                    .map(|task| {
                        let mut command = vec!["promote".to_owned(), task.clone()];
                        command.extend(evidence_options(carried, &task));
                        command.push("--dry-run".to_owned());
                        command
                    })
                    .collect(),
            )
        }
        "promote" => {
            if args.dry_run && carried.evals_not_run {
                let tasks = candidates(analysis);
                if tasks.is_empty() {
                    return Plan::Skip("no task has a candidate".to_owned());
                }
                // Shown as `would run`: whether each goes ahead depends on the evals.
                return Plan::Run(
                    tasks
                        .into_iter()
                        .map(|task| vec!["promote".to_owned(), task])
                        .collect(),
                );
            }
            let all = candidates(analysis);
            if all.is_empty() {
                return Plan::Skip("no task has a candidate".to_owned());
            }
            // Only on runs this invocation's eval stage made: a committed summary never
            // decides a promotion in CI.
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
                return Plan::Skip(
                    "no candidate was evaluated in this run, and the pipeline promotes only on \
                     evals it made itself (run the eval stage, or promote by hand)"
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
                return Plan::Skip("no candidate passed its gates".to_owned());
            }
            Plan::Run(
                tasks
                    .into_iter()
                    .map(|task| {
                        let mut command = vec!["promote".to_owned(), task.clone()];
                        command.extend(evidence_options(carried, &task));
                        dry(command)
                    })
                    .collect(),
            )
        }
        "image" => match (&args.image_base, &args.image_push) {
            (Some(base), Some(push)) => {
                let mut command = vec![
                    "image".to_owned(),
                    "--base".to_owned(),
                    base.clone(),
                    "--push".to_owned(),
                    push.clone(),
                ];
                for registry in &args.insecure_registry {
                    command.extend(["--insecure-registry".to_owned(), registry.clone()]);
                }
                command.extend(["--format".to_owned(), "json".to_owned()]);
                Plan::Run(vec![command])
            }
            _ => Plan::Skip("no --image-base and --image-push".to_owned()),
        },
        "deploy" => {
            if !deploy_configured(analysis) {
                return Plan::Skip(
                    "no deploy target (deploy.cluster and deploy.service in promptops.yaml)"
                        .to_owned(),
                );
            }
            let mut command = vec!["deploy".to_owned()];
            if let Some(image) = &carried.image {
                command.extend(["--image".to_owned(), image.clone()]);
            }
            if let Some(url) = &args.verify_url {
                command.extend(["--verify-url".to_owned(), url.clone()]);
            }
            // A dry run that planned a promotion or an image cannot ask AWS about the image
            // of a release that does not exist yet: the deploy is planned, not looked up.
            if args.dry_run && carried.release_planned {
                return Plan::Run(vec![command]);
            }
            Plan::Run(vec![dry(command)])
        }
        "verify" => {
            if !deploy_configured(analysis) {
                return Plan::Skip("no deploy target to verify".to_owned());
            }
            if !carried.deployed && !args.dry_run {
                return Plan::Skip("nothing was deployed in this run".to_owned());
            }
            Plan::Run(vec![words(&["deploy", "status", "--format", "json"])])
        }
        _ => Plan::Skip("unknown stage".to_owned()),
    }
}

/// `--evidence RUN` for each run this invocation made of the task's candidate.
fn evidence_options(carried: &Carried, task: &str) -> Vec<String> {
    carried
        .evaluated
        .get(task)
        .into_iter()
        .flatten()
        .flat_map(|run| ["--evidence".to_owned(), run.clone()])
        .collect()
}

/// The task a stage's command evaluates as a candidate (`eval TASK --candidate …`).
fn evaluated_task<'a>(stage: &str, command: &'a [String]) -> Option<&'a str> {
    (stage == "eval" && command.iter().any(|word| word == "--candidate"))
        .then(|| command.get(1).map(String::as_str))
        .flatten()
}

/// The candidate runs an eval recorded (`--record-runs`): `(task, run)`, each checked to be a
/// task id and a run name (the file is the child's, but its lines are data all the same).
fn recorded_runs(path: &std::path::Path) -> anyhow::Result<Vec<(String, String)>> {
    let text = String::from_utf8_lossy(&adapters::fs::read_regular(path, 1 << 20)?).into_owned();
    Ok(text
        .lines()
        .filter_map(|line| {
            let mut parts = line.split('\t');
            let (task, variant, run) = (parts.next()?, parts.next()?, parts.next()?);
            (variant == "candidate"
                && layout::is_slug(task)
                && crate::domain::eval::record::is_run_name(run))
            .then(|| (task.to_owned(), run.to_owned()))
        })
        .collect())
}

/// Reads what a stage's command did; `Err` when the stage fails.
fn understand(
    stage: &str,
    command: &[String],
    code: i32,
    stdout: &str,
    carried: &mut Carried,
    release: Option<&str>,
) -> Result<Option<String>, ()> {
    match stage {
        // A candidate that fails its gates is not promoted; that is not a failure of the run.
        "gate" if code == 1 => Ok(None),
        "gate" if code == 0 => {
            carried.passed_gates.push(command[1].clone());
            Ok(None)
        }
        "promote" if code == 0 && !command.iter().any(|word| word == "--dry-run") => {
            Ok(Some(format!("promoted {}", command[1])))
        }
        "image" if code == 0 => {
            let value: serde_json::Value = serde_json::from_str(stdout).map_err(|_| ())?;
            let reference = value["reference"].as_str().ok_or(())?.to_owned();
            carried.image = Some(reference.clone());
            Ok(Some(format!("pushed {reference}")))
        }
        "deploy" if code == 0 => {
            carried.deployed = !command.iter().any(|word| word == "--dry-run");
            Ok(carried.deployed.then(|| "deployed".to_owned()))
        }
        "verify" if code == 0 => {
            let value: serde_json::Value = serde_json::from_str(stdout).map_err(|_| ())?;
            let primary = value["deployments"]
                .as_array()
                .and_then(|all| all.iter().find(|d| d["status"] == "PRIMARY"))
                .and_then(|d| d["release_id"].as_str());
            if primary.is_some() && primary == release {
                Ok(None)
            } else {
                Err(())
            }
        }
        _ if code == 0 => Ok(None),
        _ => Err(()),
    }
}

/// The content a stage depends on, hashed: the stage's own command settings, and the files
/// (by sha256) that decide what it does.
fn stage_inputs(
    stage: &str,
    (root, inputs): (&std::path::Path, &[InputFile]),
    analysis: &Analysis,
    args: &PipelineArgs,
    carried: &Carried,
) -> Inputs {
    let mut hashed = Inputs::default();
    hashed.add("stage", stage);
    hashed.add("eval options", eval_options(args).join(" "));
    // Prompts, metadata and examples by sha256 (the registry the files call for lists them
    // all), without the history and evals that later stages write.
    let mut registry = analysis.expected_registry.clone();
    for task in registry.tasks.values_mut() {
        task.history.clear();
        if stage == "validate" || stage == "eval" {
            task.latest_eval = None;
        }
    }
    hashed.add("files", crate::domain::registry::render(&registry));
    // The config as the scan read it (its bytes are kept: it is small and always read).
    hashed.add(
        "config",
        inputs
            .iter()
            .find(|input| input.path == layout::CONFIG_FILE)
            .map_or_else(String::new, |input| match &input.content {
                crate::domain::source::FileContent::Bytes(bytes) => {
                    crate::domain::source::sha256_hex(bytes)
                }
                other => format!("{other:?}"),
            }),
    );
    // Everything an eval's cache key covers: an `exec` provider's script changes its answers.
    if stage == "eval" {
        for (name, provider) in &analysis.config.providers {
            if provider.kind == crate::domain::model::ProviderKind::Exec {
                hashed.add(
                    format!("exec provider {name}"),
                    adapters::llm::exec_fingerprint(
                        provider.command.as_deref().unwrap_or_default(),
                        root,
                    ),
                );
            }
        }
    }
    if matches!(stage, "gate" | "promote") {
        let evals = format!("{}/{}/", layout::PROMPTS_DIR, layout::EVALS);
        let summaries: Vec<&str> = inputs
            .iter()
            .map(|input| input.path.as_str())
            .filter(|path| path.starts_with(&evals) && path.ends_with(".summary.json"))
            .collect();
        hashed.add("eval summaries", summaries.join("\n"));
    }
    if matches!(stage, "image" | "deploy" | "verify") {
        hashed.add(
            "image",
            format!("{:?} {:?}", args.image_base, args.image_push),
        );
        hashed.add("pushed", carried.image.clone().unwrap_or_default());
        hashed.add("verify", args.verify_url.clone().unwrap_or_default());
    }
    hashed
}
