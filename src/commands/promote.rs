//! `promptops promote TASK`: the candidate in `00-templates/` becomes production when every
//! gate passes (or a person overrides the failed ones with a reason). The change is planned
//! in the pure core, checked by analysing the repository as it would be after it, shown with
//! `--dry-run`, then written (registry last), committed and tagged.

use std::path::Path;

use crate::adapters::{self, eval_store, git};
use crate::cli::{Baseline, Bump, EvalArgs, EvalReports, PromoteArgs, RunOptions, TableFormat};
use crate::domain::analysis::{self, Analysis, Options};
use crate::domain::diagnostic::Severity;
use crate::domain::eval::record::RunSummary;
use crate::domain::layout;
use crate::domain::lifecycle::gate::{self, PromotionFacts};
use crate::domain::lifecycle::promote::{self, Decision, TaskFiles};
use crate::domain::model::LatestEval;
use crate::domain::outcome::{ChangeResult, PromoteOutcome};
use crate::domain::plan::Plan;
use crate::domain::source::{FileContent, InputFile};
use crate::domain::time;
use crate::exit::{ExitStatus, UserError};
use crate::report::{self, Printer};
use crate::settings::Settings;

use super::Outcome;

pub fn run(
    settings: &Settings,
    args: &PromoteArgs,
    printer: &mut Printer<'_>,
) -> anyhow::Result<Outcome> {
    let format = super::flags::table_format(args.change.format);
    let Some(since) = &args.changed_since else {
        let task = args.task.as_deref().unwrap_or_default();
        let outcome = execute(settings, args, task)?;
        report::promote::render(&outcome, format, printer)?;
        return Ok(Outcome::Promote(Box::new(outcome)));
    };
    // Every changed task with a candidate, each promoted (or refused) on its own.
    let root = super::repository::root(settings)?;
    let analysis = super::repository::load(&root, false)?;
    let changed = super::repository::changed_tasks(&root, &analysis, "--changed-since", since)?;
    let tasks: Vec<String> = changed
        .into_iter()
        .filter(|id| {
            analysis
                .tasks
                .get(id)
                .is_some_and(|task| task.candidate.is_some())
        })
        .collect();
    drop(analysis);
    let outcomes = tasks
        .iter()
        .map(|task| execute(settings, args, task))
        .collect::<anyhow::Result<Vec<_>>>()?;
    report::promote::render_many(&outcomes, since, format, printer)?;
    Ok(Outcome::Promotions(outcomes))
}

/// Promotes `task`'s candidate. When another command changed the repository between the
/// plan and the lock, the promotion is planned again from the files as they are then (the
/// gates too); an eval `--eval` made is not repeated.
pub fn execute(
    settings: &Settings,
    args: &PromoteArgs,
    task: &str,
) -> anyhow::Result<PromoteOutcome> {
    let mut evaluated = None;
    super::lifecycle::retrying(|| attempt(settings, args, task, &mut evaluated))
}

// Long on purpose: the promotion's steps in order (gather, decide, plan, check, apply); each
// is a call, and they share the scanned files and the analysis.
fn attempt(
    settings: &Settings,
    args: &PromoteArgs,
    task: &str,
    evaluated: &mut Option<crate::domain::eval::outcome::EvalOutcome>,
) -> anyhow::Result<PromoteOutcome> {
    let reason = check_flags(args)?;
    // A dry run only reads; a promotion finishes an interrupted change first.
    let root = if args.change.dry_run {
        super::repository::root(settings)?
    } else {
        super::repository::root_for_change(settings)?
    };
    let threads = super::runtime::threads();
    // Taken before `--bump` rewrites the candidate; refused only when the promotion goes ahead.
    let dirty_paths = dirty_before(&root, args, task)?;
    let mut inputs = adapters::fs::scan(&root, threads)?;
    if let Some(bump) = args.bump {
        bump_candidate(
            &root,
            &mut inputs,
            task,
            bump,
            !args.change.dry_run,
            threads,
        )?;
    }
    let before = analysis::analyze(
        &inputs,
        Options {
            strict: true,
            threads,
            spawn: &crate::adapters::threads::Threads,
        },
    );
    let files = gather(&root, &inputs, &before, task)?;
    let eval = if args.eval && files.errors.is_empty() {
        if evaluated.is_none() {
            // Everything that can refuse the promotion without its evidence is checked before
            // a single paid request: uncommitted work, who commits, a tag already taken.
            refuse_before_paying(settings, &root, args, &files, &dirty_paths)?;
            *evaluated = Some(evaluate(
                settings,
                &root,
                args,
                task,
                files.production.is_some(),
            )?);
        }
        evaluated.clone()
    } else {
        None
    };
    let decide_on = decide_on(eval.as_ref(), args);
    let candidate_sha256 = files.candidate_sha256.clone();
    let found = super::evidence::checked_runs(
        &root,
        task,
        Some((&files.examples_path, &files.examples_sha256)),
        |summary| summary.prompt.sha256 == candidate_sha256,
    )?;
    let runs: Vec<_> = found.iter().map(|found| found.run.clone()).collect();
    let facts = PromotionFacts {
        task,
        errors: files.errors.clone(),
        candidate_version: &files.candidate_version,
        candidate_sha256: &files.candidate_sha256,
        production_version: files.production.as_ref().map(|(_, _, v)| v.as_str()),
        examples_sha256: &files.examples_sha256,
        threshold: files.threshold,
        regression_tolerance: files.regression_tolerance,
        runs: &runs,
        now: settings.clock.now(),
        decide_on: decide_on.as_deref(),
    };
    let gates = gate::promotion_gates(&facts);
    let (evidence, _) = gate::find_evidence(&facts);
    let evidence_path = evidence.and_then(|chosen| {
        runs.iter()
            .position(|run| std::ptr::eq(run, chosen))
            .map(|index| found[index].path.clone())
    });
    let evidence = evidence.map(|run| &run.summary);
    let base = PromoteOutcome {
        eval,
        task: task.to_owned(),
        from: facts.production_version.map(str::to_owned),
        to: files.candidate_version.clone(),
        gates: gates.clone(),
        result: ChangeResult::Refused,
        plan: None,
    };
    if !promote::allowed(&gates, args.force) {
        return Ok(base);
    }
    let at = time::rfc3339(settings.clock.now());
    let (identity, by) = super::repository::who(&root, settings);
    let decision = Decision {
        at: &at,
        by: &by,
        reason: reason.filter(|_| args.force),
        gates: &gates,
        evidence,
        evidence_path: evidence_path.as_deref(),
    };
    let plan = plan(&inputs, &files, &decision, threads)?;
    if args.change.dry_run {
        return Ok(PromoteOutcome {
            result: ChangeResult::DryRun,
            plan: Some(plan),
            ..base
        });
    }
    let identity = super::lifecycle::committer(identity, args.change.no_commit, "promotion")?;
    super::lifecycle::refuse_dirty_list(&dirty_paths)?;
    let evidence_files = evidence_files(&root, evidence, evidence_path.as_deref());
    let commit = super::lifecycle::apply(
        &root,
        &plan,
        &evidence_files,
        &super::lifecycle::Apply {
            read: &inputs,
            identity: identity.as_ref(),
            now: settings.clock.now(),
            what: format!("promote {task} {}", files.candidate_version),
            lock_timeout: super::flags::wait(&args.change.lock_timeout, "lock-timeout")?,
            fail_at: settings.fail_at.as_deref(),
        },
    )?;
    Ok(PromoteOutcome {
        result: ChangeResult::Applied {
            commit: commit.clone(),
            tag: commit.and(plan.tag.clone()),
        },
        plan: Some(plan),
        ..base
    })
}

/// The flags that go together (`--force` with a reason, the run options with `--eval`, run
/// names for `--evidence`), checked before anything is read; the reason, trimmed.
fn check_flags(args: &PromoteArgs) -> anyhow::Result<Option<&str>> {
    let reason = args.reason.as_deref().map(str::trim);
    if args.force && reason.is_none_or(str::is_empty) {
        return Err(UserError::new(ExitStatus::Error, "--force needs a --reason that says why")
            .hint("e.g. --force --reason \"hotfix for the outage of 2 December; re-evaluated by hand\"")
            .into());
    }
    let run = &args.run;
    if !args.eval
        && (run.offline || run.no_cache || run.concurrency.is_some() || run.cache_dir.is_some())
    {
        return Err(UserError::new(
            ExitStatus::Error,
            "--offline, --no-cache, --concurrency and --cache-dir go with --eval",
        )
        .hint("add --eval to evaluate the candidate now, or drop them")
        .into());
    }
    if let Some(name) = args
        .evidence
        .iter()
        .find(|name| !crate::domain::eval::record::is_run_name(name))
    {
        return Err(UserError::new(
            ExitStatus::Error,
            format!("--evidence {name:?} is not a run name"),
        )
        .hint(
            "name a run as its files are named under prompts/04-evals/TASK/, without .summary.json",
        )
        .into());
    }
    Ok(reason)
}

/// The promotion's files that hold uncommitted work (none to check for a dry run or with
/// `--allow-dirty`). The registry is not checked: it is derived (an eval rewrites its latest
/// scores), and the plan rewrites it from the files and its history.
fn dirty_before(root: &Path, args: &PromoteArgs, task: &str) -> anyhow::Result<Vec<String>> {
    if args.change.dry_run || args.change.allow_dirty {
        return Ok(Vec::new());
    }
    let paths: Vec<String> = [layout::TEMPLATES, layout::PRODUCTION, layout::METADATA]
        .into_iter()
        .map(|layer| format!("{}/{layer}/{task}.yaml", layout::PROMPTS_DIR))
        .collect();
    Ok(git::dirty(root, &paths)?)
}

/// The runs that may decide: the ones `--eval` just made, or those named by `--evidence`
/// (`None`: any run that is evidence).
fn decide_on(
    eval: Option<&crate::domain::eval::outcome::EvalOutcome>,
    args: &PromoteArgs,
) -> Option<Vec<String>> {
    match eval {
        Some(outcome) => Some(
            outcome
                .tasks
                .iter()
                .filter(|task| task.ran)
                .map(|task| task.summary.run.clone())
                .collect(),
        ),
        None if !args.evidence.is_empty() => Some(args.evidence.clone()),
        None => None,
    }
}

/// The refusals `--eval` checks before it spends a model call.
fn refuse_before_paying(
    settings: &Settings,
    root: &Path,
    args: &PromoteArgs,
    files: &Gathered,
    dirty_paths: &[String],
) -> anyhow::Result<()> {
    super::lifecycle::refuse_dirty_list(dirty_paths)?;
    super::flags::wait(&args.change.lock_timeout, "lock-timeout")?;
    let (identity, _) = super::repository::who(root, settings);
    let identity = super::lifecycle::committer(identity, args.change.no_commit, "promotion")?;
    let task = files
        .candidate_path
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .trim_end_matches(".yaml");
    let tag = promote::tag_name(task, &files.candidate_version);
    if identity.is_some() && git::tag_exists(root, &tag)? {
        return Err(
            UserError::new(ExitStatus::Error, format!("the tag {tag} already exists"))
                .hint("a version is promoted once: raise the candidate's version (nothing was evaluated)")
                .into(),
        );
    }
    Ok(())
}

/// `--bump`: the candidate's version becomes production's, raised; its file is rewritten (in
/// the scanned files only, with `--dry-run`), so the evidence must be an eval of the bumped
/// candidate (`--eval` makes one).
fn bump_candidate(
    root: &Path,
    inputs: &mut [InputFile],
    task: &str,
    bump: Bump,
    write: bool,
    threads: usize,
) -> anyhow::Result<()> {
    let analysis = analysis::analyze(
        inputs,
        Options {
            strict: false,
            threads,
            spawn: &crate::adapters::threads::Threads,
        },
    );
    let entry = analysis.tasks.get(task);
    let production = entry
        .and_then(|task| task.production.as_ref())
        .and_then(|entry| entry.version())
        .and_then(|version| semver::Version::parse(version).ok())
        .ok_or_else(|| {
            UserError::new(
                ExitStatus::Error,
                format!("--bump raises production's version, and `{task}` has no readable production prompt"),
            )
            .hint("set the candidate's version by hand")
        })?;
    let candidate = entry
        .and_then(|task| task.candidate.as_ref())
        .ok_or_else(|| {
            UserError::new(
                ExitStatus::Error,
                format!("task `{task}` has no candidate to promote"),
            )
        })?;
    let next = match bump {
        Bump::Major => semver::Version::new(production.major + 1, 0, 0),
        Bump::Minor => semver::Version::new(production.major, production.minor + 1, 0),
        Bump::Patch => {
            semver::Version::new(production.major, production.minor, production.patch + 1)
        }
    };
    let input = inputs
        .iter_mut()
        .find(|input| input.path == candidate.path)
        .ok_or_else(|| {
            UserError::new(
                ExitStatus::Error,
                format!("{} was not read", candidate.path),
            )
        })?;
    let FileContent::Bytes(bytes) = &input.content else {
        return Err(UserError::new(
            ExitStatus::Error,
            format!("{} was not read", candidate.path),
        )
        .into());
    };
    let text = String::from_utf8_lossy(bytes);
    let bumped = promote::set_version(&text, &next.to_string()).map_err(|problem| {
        UserError::new(ExitStatus::Error, format!("{}: {problem}", candidate.path))
    })?;
    if write {
        adapters::fs::Repository::new(root)
            .write_atomic(&root.join(&candidate.path), bumped.as_bytes())?;
    }
    input.content = FileContent::Bytes(bumped.into_bytes());
    Ok(())
}

/// `--eval`: the candidate's paired eval, run now; its run becomes the evidence.
fn evaluate(
    settings: &Settings,
    root: &Path,
    args: &PromoteArgs,
    task: &str,
    paired: bool,
) -> anyhow::Result<crate::domain::eval::outcome::EvalOutcome> {
    let eval_args = EvalArgs {
        command: None,
        tasks: vec![task.to_owned()],
        candidate: true,
        baseline: paired.then_some(Baseline::Production),
        shard: None,
        resume: false,
        changed_since: None,
        record_runs: None,
        run: RunOptions {
            offline: args.run.offline,
            no_cache: args.run.no_cache,
            concurrency: args.run.concurrency,
            cache_dir: args.run.cache_dir.clone(),
        },
        reports: EvalReports {
            format: TableFormat::Table,
            junit: None,
            summary_md: None,
            junit_examples_fail: false,
        },
    };
    let outcome = super::eval::execute(settings, root, &eval_args)?;
    if outcome.blocked.is_some() {
        return Err(UserError::new(
            ExitStatus::Error,
            "the files the eval needs have errors; nothing was sent",
        )
        .hint("`promptops validate` lists them")
        .into());
    }
    Ok(outcome)
}

/// The task's files as the promotion needs them.
struct Gathered {
    candidate_path: String,
    candidate_bytes: Vec<u8>,
    candidate_sha256: String,
    candidate_version: String,
    production: Option<(String, Vec<u8>, String)>,
    metadata_path: String,
    metadata_text: String,
    examples_path: String,
    examples_sha256: String,
    threshold: f64,
    regression_tolerance: f64,
    /// Errors in the files the promotion reads, as `file:line: message`.
    errors: Vec<String>,
}

fn gather(
    root: &Path,
    inputs: &[InputFile],
    analysis: &Analysis,
    id: &str,
) -> anyhow::Result<Gathered> {
    let Some(task) = analysis.tasks.get(id) else {
        return Err(super::repository::unknown_task(id, analysis.tasks.keys()));
    };
    let candidate = task.candidate.as_ref().ok_or_else(|| {
        UserError::new(
            ExitStatus::Error,
            format!("task `{id}` has no candidate to promote"),
        )
        .hint(format!(
            "write prompts/{}/{id}.yaml first",
            layout::TEMPLATES
        ))
    })?;
    let metadata = task.metadata.as_ref().ok_or_else(|| {
        UserError::new(
            ExitStatus::Error,
            format!("task `{id}` has no task metadata"),
        )
        .hint(format!("create prompts/{}/{id}.yaml", layout::METADATA))
    })?;
    let examples = task.examples.as_ref().ok_or_else(|| {
        UserError::new(ExitStatus::Error, format!("task `{id}` has no examples"))
            .hint(format!("create prompts/{}/{id}.jsonl", layout::EXAMPLES))
    })?;
    let used = [
        candidate.path.as_str(),
        metadata.path.as_str(),
        examples.path.as_str(),
    ];
    let errors = analysis
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error && used.contains(&f.file.as_str()))
        .map(|f| format!("{}:{}: {}", f.file, f.line, f.message))
        .collect();
    let metadata_parsed = metadata.parsed.as_ref();
    let production = match &task.production {
        None => None,
        Some(entry) => Some((
            entry.path.clone(),
            super::repository::file_bytes(root, inputs, &entry.path)?,
            entry.version().unwrap_or("0.0.0").to_owned(),
        )),
    };
    Ok(Gathered {
        candidate_bytes: super::repository::file_bytes(root, inputs, &candidate.path)?,
        candidate_path: candidate.path.clone(),
        candidate_sha256: candidate.sha256.clone(),
        candidate_version: candidate.version().unwrap_or("0.0.0").to_owned(),
        production,
        metadata_text: String::from_utf8_lossy(&super::repository::file_bytes(
            root,
            inputs,
            &metadata.path,
        )?)
        .into_owned(),
        metadata_path: metadata.path.clone(),
        examples_path: examples.path.clone(),
        examples_sha256: examples.sha256.clone(),
        threshold: metadata_parsed.map_or(1.0, |m| m.metadata.threshold),
        regression_tolerance: metadata_parsed.map_or(0.0, |m| m.metadata.regression_tolerance),
        errors,
    })
}

/// Plans the promotion and checks it: the repository as it would be after the plan must have
/// no error.
fn plan(
    inputs: &[InputFile],
    files: &Gathered,
    decision: &Decision<'_>,
    threads: usize,
) -> anyhow::Result<Plan> {
    let task_files = TaskFiles {
        task: files
            .candidate_path
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .trim_end_matches(".yaml"),
        candidate_path: &files.candidate_path,
        candidate_bytes: &files.candidate_bytes,
        candidate_sha256: &files.candidate_sha256,
        candidate_version: &files.candidate_version,
        production: files
            .production
            .as_ref()
            .map(|(path, bytes, version)| (path.as_str(), bytes.as_slice(), version.as_str())),
        metadata_path: &files.metadata_path,
        metadata_text: &files.metadata_text,
    };
    let (writes, removals) = promote::plan_files(&task_files, decision).map_err(|problem| {
        UserError::new(
            ExitStatus::Error,
            format!("cannot plan the promotion: {problem}"),
        )
    })?;
    let (commit_message, tag, tag_message) = promote::commit_and_tag(&task_files, decision);
    let id = crate::domain::plan::plan_id(&writes, &removals, &commit_message);
    let id_basis = commit_message.clone();
    let commit_message = format!(
        "{commit_message}{}",
        crate::domain::trailers::block(&[(crate::domain::trailers::Trailer::Plan, &id)])
    );
    let registry_write = super::lifecycle::checked_registry(
        inputs,
        &writes,
        &removals,
        threads,
        "the promotion",
        |registry| {
            if let Some(entry) = registry.tasks.get_mut(task_files.task) {
                entry
                    .history
                    .push(promote::event(&task_files, decision, &id));
                if let (Some(summary), Some(path)) = (decision.evidence, decision.evidence_path) {
                    entry.latest_eval = Some(LatestEval {
                        score: summary.score,
                        passed: summary.passed,
                        at: summary.finished_at.clone(),
                        summary: path.to_owned(),
                    });
                }
            }
        },
    )?;
    Ok(Plan {
        id,
        id_basis,
        writes,
        removals,
        registry: registry_write,
        commit_message,
        tag: Some(tag),
        tag_message,
    })
}

/// The evidence's eval files (summary and log, and the paired baseline's), committed with the
/// promotion so the decision's evidence is in git.
fn evidence_files(root: &Path, evidence: Option<&RunSummary>, path: Option<&str>) -> Vec<String> {
    let (Some(summary), Some(path)) = (evidence, path) else {
        return Vec::new();
    };
    let folder = path.rsplit_once('/').map_or("", |(folder, _)| folder);
    let mut files = vec![path.to_owned(), format!("{folder}/{}", summary.log)];
    if let Some(baseline) = &summary.paired_with {
        files.push(format!("{folder}/{baseline}{}", eval_store::SUMMARY_SUFFIX));
        files.push(format!("{folder}/{baseline}.jsonl"));
    }
    files.retain(|file| root.join(file).is_file());
    files
}
