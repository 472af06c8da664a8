//! `promptops pipeline`: the lifecycle as stages. Each stage runs the promptops commands a
//! person would type (this executable as a child, so each keeps its own output and exit
//! status and a stage can be stopped at its timeout); which stages run, what each runs, which
//! are skipped because their inputs are unchanged, and what a stage's answer tells the next is
//! `domain::pipeline`. This file runs the commands, keeps the log and prints.

use std::time::Instant;

use crate::adapters::{self, process};
use crate::cli::PipelineArgs;
use crate::domain::analysis::Analysis;
use crate::domain::layout;
use crate::domain::outcome::PipelineOutcome;
use crate::domain::pipeline::{self, Carried, LogLine, Stage, StageOutcome, StagePlan};
use crate::domain::source::InputFile;
use crate::domain::time;
use crate::exit::{ExitStatus, UserError};
use crate::report::Printer;
use crate::settings::Settings;

use super::Outcome;

// Long on purpose: the run's frame (read the log, run each stage, append its line, print the
// summary); each stage is `Run::stage`.
pub fn run(
    settings: &Settings,
    args: &PipelineArgs,
    printer: &mut Printer<'_>,
) -> anyhow::Result<Outcome> {
    let stages = pipeline::selected(
        args.from.map(stage),
        args.until.map(stage),
        args.only.map(stage),
    )
    .map_err(|message| UserError::new(ExitStatus::Error, message))?;
    let stage_timeout = super::flags::duration(&args.stage_timeout, "stage-timeout")?;
    let root = super::repository::root(settings)?;
    let log_path = root.join(pipeline::LOG_FILE);
    let log = read_log(&log_path, printer)?;
    let mut run = Run {
        root: &root,
        args,
        options: pipeline::Options {
            dry_run: args.dry_run,
            force: args.force,
            offline: args.offline,
            no_cache: args.no_cache,
            image: args.image_base.as_deref().zip(args.image_push.as_deref()),
            insecure_registries: &args.insecure_registry,
            verify_url: args.verify_url.as_deref(),
        },
        stage_timeout,
        group: settings.github_actions(),
        carried: Carried::default(),
        // A promotion decides only on evals made in this run, so when this run promotes, the
        // eval stage runs even if unchanged (a cached eval that changes nothing costs nothing
        // and names the earlier run it repeats).
        promotes: stages.contains(&Stage::Promote),
    };
    let run_id = time::compact(settings.clock.now());
    let mut lines = Vec::new();
    let mut failed = None;
    // Each stage sees the repository as the stages before it left it: it is read again only
    // after a stage ran a command that may write (not a skip, validate or a dry run).
    let mut scanned = None;
    for stage in stages {
        let (inputs, analysis) = match scanned.take() {
            Some(scan) => scan,
            None => super::repository::scan(&root, false)?,
        };
        let mut line = LogLine {
            run: run_id.clone(),
            stage,
            started: time::rfc3339(settings.clock.now()),
            duration_ms: 0,
            outcome: StageOutcome::Skipped,
            inputs: String::new(),
            commands: Vec::new(),
            changed: Vec::new(),
            skip_reason: None,
            exit_code: None,
        };
        let clock = Instant::now();
        let wrote = run.stage(&mut line, (&inputs, &analysis), &log, printer)?;
        line.duration_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
        let stop = line.outcome.stops();
        if stop {
            failed = Some((stage.as_str().to_owned(), line.exit_code.unwrap_or(1)));
        }
        if !args.dry_run {
            let mut text = serde_json::to_string(&line)?;
            text.push('\n');
            let mut file = adapters::fs::Repository::new(&root).open_append(&log_path)?;
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
    if run.group
        && let Some(path) = &settings.github_step_summary
    {
        // GitHub's protocol: every step appends its Markdown to this one file.
        let markdown = crate::report::pipeline::step_summary(&outcome, args.dry_run);
        adapters::fs::append(path, markdown.as_bytes())?;
    }
    Ok(Outcome::Pipeline(outcome))
}

/// The pipeline log's records; a line that is not one is named in a warning and costs only a
/// skip (the stages it recorded run again).
fn read_log(path: &std::path::Path, printer: &mut Printer<'_>) -> anyhow::Result<Vec<LogLine>> {
    if path.symlink_metadata().is_err() {
        return Ok(Vec::new());
    }
    let (log, problems) = pipeline::read_log(&String::from_utf8_lossy(
        &adapters::fs::read_regular(path, layout::JSONL_SIZE_LIMIT)?,
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
    Ok(log)
}

/// One pipeline run: its settings and what the stages carry to each other.
struct Run<'a> {
    root: &'a std::path::Path,
    args: &'a PipelineArgs,
    options: pipeline::Options<'a>,
    stage_timeout: std::time::Duration,
    /// Under GitHub Actions: each stage's output is a folded group.
    group: bool,
    carried: Carried,
    promotes: bool,
}

/// How one command of a stage ended.
enum Ended {
    Went,
    /// The stage fails here.
    Failed,
    TimedOut,
}

impl Run<'_> {
    /// Plans and runs one stage, filling in its log line. Returns whether it ran a command
    /// that may have written (the next stage reads the repository again).
    fn stage(
        &mut self,
        line: &mut LogLine,
        (inputs, analysis): (&[InputFile], &Analysis),
        log: &[LogLine],
        printer: &mut Printer<'_>,
    ) -> anyhow::Result<bool> {
        let stage = line.stage;
        let fingerprints = exec_fingerprints(analysis, self.root, stage);
        line.inputs = pipeline::stage_inputs(
            stage,
            (inputs, analysis),
            &self.options,
            &self.carried,
            &fingerprints,
        )
        .hash();
        let plan = pipeline::decide(
            stage,
            (analysis, &self.options, &self.carried),
            (log, &line.inputs),
            self.promotes,
        );
        if self.group {
            writeln!(
                printer.err,
                "{}",
                crate::report::actions::command(&format!("::group::pipeline: {stage}"))
            )?;
        }
        let mut wrote = false;
        match plan {
            StagePlan::Skip(reason) => {
                writeln!(printer.err, "== {stage}: skipped: {reason}")?;
                line.skip_reason = Some(reason);
            }
            StagePlan::Run(commands) => {
                writeln!(printer.err, "== {stage}")?;
                let dry_run = self.args.dry_run;
                // A dry run's stage that only plans (every command `would run`) is "planned".
                let planned_only = dry_run
                    && commands
                        .iter()
                        .all(|command| !pipeline::read_only(stage, command));
                line.outcome = if planned_only {
                    StageOutcome::Planned
                } else {
                    StageOutcome::Passed
                };
                for command in commands {
                    line.commands.push(pipeline::shown(&command));
                    if dry_run && !pipeline::read_only(stage, &command) {
                        writeln!(printer.err, "   would run: {}", pipeline::shown(&command))?;
                        continue;
                    }
                    wrote |= !pipeline::read_only(stage, &command);
                    match self.command(line, &command, (inputs, analysis), printer)? {
                        Ended::Went => {}
                        Ended::Failed => {
                            line.outcome = StageOutcome::Failed;
                            break;
                        }
                        Ended::TimedOut => {
                            line.outcome = StageOutcome::TimedOut;
                            break;
                        }
                    }
                }
                pipeline::after_stage(stage, planned_only, &mut self.carried);
                if dry_run && let Some(note) = pipeline::dry_run_note(stage, &self.carried) {
                    writeln!(printer.err, "   {note}")?;
                }
            }
        }
        if self.group {
            writeln!(
                printer.err,
                "{}",
                crate::report::actions::command("::endgroup::")
            )?;
        }
        Ok(wrote)
    }

    /// Runs one command of a stage as a child and takes in what it says.
    fn command(
        &mut self,
        line: &mut LogLine,
        command: &[String],
        (inputs, analysis): (&[InputFile], &Analysis),
        printer: &mut Printer<'_>,
    ) -> anyhow::Result<Ended> {
        let stage = line.stage;
        writeln!(printer.err, "$ {}", pipeline::shown(command))?;
        printer.err.flush()?;
        let capture = matches!(stage, Stage::Image | Stage::Verify);
        // A candidate's eval records the run it made (or the unchanged earlier one it found)
        // in a file of this stage's own.
        let record = match pipeline::evaluated_task(stage, command) {
            Some(_) => Some(tempfile::NamedTempFile::new()?),
            None => None,
        };
        let mut full = vec!["--repo".to_owned(), self.root.display().to_string()];
        full.extend(command.iter().cloned());
        if let Some(record) = &record {
            full.extend([
                "--record-runs".to_owned(),
                record.path().display().to_string(),
            ]);
        }
        let ended = process::run_self(self.root, &full, self.stage_timeout, capture)?;
        // A stage stopped at its timeout is exit 3, whatever it said as it stopped.
        let code = if ended.timed_out {
            3
        } else {
            ended.code.unwrap_or(130)
        };
        line.exit_code = Some(code);
        if let Some(record) = &record {
            let text = adapters::fs::read_regular(record.path(), 1 << 20)?;
            for (task, run) in pipeline::recorded_runs(&String::from_utf8_lossy(&text)) {
                line.changed.push(format!("evaluated {task}: run {run}"));
                self.carried.evaluated.entry(task).or_default().push(run);
            }
        }
        if ended.timed_out {
            writeln!(
                printer.err,
                "   {stage} ran past --stage-timeout {}; stopped",
                self.args.stage_timeout
            )?;
            return Ok(Ended::TimedOut);
        }
        let release = (stage == Stage::Verify)
            .then(|| super::repository::release(self.root, inputs, analysis).ok())
            .flatten()
            .map(|bundle| bundle.release_id);
        match pipeline::understand(
            stage,
            command,
            (code, &ended.stdout),
            &mut self.carried,
            release.as_deref(),
        ) {
            Ok(Some(change)) => line.changed.push(change),
            Ok(None) => {}
            Err(pipeline::StageFailed) => return Ok(Ended::Failed),
        }
        Ok(Ended::Went)
    }
}

/// Each `exec` provider's script, fingerprinted, for the eval stage's inputs.
fn exec_fingerprints(
    analysis: &Analysis,
    root: &std::path::Path,
    stage: Stage,
) -> Vec<(String, String)> {
    if stage != Stage::Eval {
        return Vec::new();
    }
    analysis
        .config
        .providers
        .iter()
        .filter(|(_, provider)| provider.kind == crate::domain::model::ProviderKind::Exec)
        .map(|(name, provider)| {
            (
                name.clone(),
                adapters::llm::exec_fingerprint(
                    provider.command.as_deref().unwrap_or_default(),
                    root,
                ),
            )
        })
        .collect()
}

/// The stage a flag names.
fn stage(flag: crate::cli::Stage) -> Stage {
    use crate::cli::Stage as Flag;
    match flag {
        Flag::Validate => Stage::Validate,
        Flag::Eval => Stage::Eval,
        Flag::Gate => Stage::Gate,
        Flag::Promote => Stage::Promote,
        Flag::Image => Stage::Image,
        Flag::Deploy => Stage::Deploy,
        Flag::Verify => Stage::Verify,
    }
}

#[cfg(test)]
mod tests {
    /// Every stage can be named on the command line, by its own name.
    #[test]
    fn the_flags_name_every_stage() {
        use clap::ValueEnum;
        let flags: Vec<String> = crate::cli::Stage::value_variants()
            .iter()
            .map(|flag| super::stage(*flag).as_str().to_owned())
            .collect();
        let names: Vec<String> = crate::cli::Stage::value_variants()
            .iter()
            .map(|flag| flag.to_possible_value().unwrap().get_name().to_owned())
            .collect();
        let stages: Vec<&str> = super::Stage::ALL
            .iter()
            .map(|stage| stage.as_str())
            .collect();
        assert_eq!(flags, stages);
        assert_eq!(names, stages);
    }
}
