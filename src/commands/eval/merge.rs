//! `promptops eval merge DIR...`: combine the logs of `--shard K/N` runs into one run.
//!
//! The merged totals are recomputed from the shard logs' records (integer sums, see
//! `record::Totals`), so the merged summary reports exactly what an unsharded run would. The
//! shards of a paired run (`--candidate --baseline production --shard K/N`) merge into a
//! paired result: both halves merged, and the comparison computed from the merged logs.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use crate::adapters::{self, eval_store as logs};
use crate::cli::MergeArgs;
use crate::domain::eval::outcome::{EvalOutcome, TaskOutcome};
use crate::domain::eval::record::{self, ExampleRecord, RunSummary, Totals, Variant};
use crate::domain::time;
use crate::exit::{ExitStatus, UserError};
use crate::settings::{Clock, Settings};

type GroupKey = (String, Variant, String, String);

/// One shard of a run: its summary, where it was found, and its baseline half when paired.
struct ShardRun {
    path: PathBuf,
    summary: RunSummary,
    baseline: Option<(PathBuf, RunSummary)>,
}

/// Merges the shard runs found under the folders; returns the repository root and the merged
/// runs.
// Long on purpose: finds and groups the shard runs, merges each group and records the scores:
// three steps sharing the groups.
pub fn execute(settings: &Settings, args: &MergeArgs) -> anyhow::Result<(PathBuf, EvalOutcome)> {
    let root = super::super::repository::root(settings)?;
    let mut groups: BTreeMap<GroupKey, Vec<ShardRun>> = BTreeMap::new();
    for dir in &args.dirs {
        let dir = &settings.current_dir.join(dir);
        if !dir.is_dir() {
            return Err(UserError::new(
                ExitStatus::Error,
                format!("{}: no such folder", dir.display()),
            )
            .into());
        }
        for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy();
            if !entry.file_type().is_file() || !name.ends_with(logs::SUMMARY_SUFFIX) {
                continue;
            }
            let summary = logs::read_summary(entry.path())?;
            // A baseline half is merged with the candidate run that names it.
            if summary.shard.is_none() || summary.is_baseline_half() {
                continue;
            }
            let baseline = match &summary.paired_with {
                None => None,
                Some(name) => Some(baseline_half(entry.path(), &summary, name)?),
            };
            groups
                .entry((
                    summary.task.clone(),
                    summary.variant,
                    summary.prompt.sha256.clone(),
                    summary.examples.sha256.clone(),
                ))
                .or_default()
                .push(ShardRun {
                    path: entry.path().to_path_buf(),
                    summary,
                    baseline,
                });
        }
    }
    if groups.is_empty() {
        return Err(UserError::new(
            ExitStatus::Error,
            "no shard summaries (`*.summary.json` of `eval --shard K/N` runs) in the given folders",
        )
        .hint("pass the folders the shard runs wrote, e.g. the downloaded CI artifacts")
        .into());
    }
    let mut tasks = Vec::new();
    let mut notes = Vec::new();
    for (key, shards) in groups {
        let count = shards.len();
        let merged = merge_group(&root, &key, shards, settings.clock)?;
        notes.push(format!(
            "merged {count} shards of `{}` into {}",
            key.0, merged.summary_path
        ));
        tasks.push(merged);
    }
    // A merged production run is recorded like an unsharded one.
    let evaluated: Vec<String> = tasks.iter().map(|r| r.summary.task.clone()).collect();
    notes.extend(super::scores::record_latest(
        &root,
        &evaluated,
        tasks
            .iter()
            .map(|task| (&task.summary, task.summary_path.as_str())),
    )?);
    Ok((
        root,
        EvalOutcome {
            tasks,
            blocked: None,
            notes,
        },
    ))
}

/// The baseline half that the candidate shard at `path` names, checked to be its partner.
fn baseline_half(
    path: &Path,
    summary: &RunSummary,
    name: &str,
) -> anyhow::Result<(PathBuf, RunSummary)> {
    let baseline_path = path.with_file_name(format!("{name}{}", logs::SUMMARY_SUFFIX));
    let baseline = logs::read_summary(&baseline_path).map_err(|error| {
        UserError::new(
            ExitStatus::Error,
            format!(
                "{} is one half of a paired run, but its baseline half cannot be read: {error:#}",
                path.display()
            ),
        )
        .hint("pass the folder holding both halves of every shard")
    })?;
    if !baseline.is_baseline_half()
        || baseline.paired_with.as_deref() != Some(summary.run.as_str())
        || baseline.shard != summary.shard
        || baseline.task != summary.task
        || baseline.examples != summary.examples
    {
        return Err(UserError::new(
            ExitStatus::Error,
            format!(
                "{} does not pair with {}",
                baseline_path.display(),
                path.display()
            ),
        )
        .into());
    }
    Ok((baseline_path, baseline))
}

// Long on purpose: checks a group's shards for a complete, consistent set before writing anything;
// the checks share the group.
fn merge_group(
    root: &Path,
    key: &GroupKey,
    mut shards: Vec<ShardRun>,
    clock: Clock,
) -> anyhow::Result<TaskOutcome> {
    let (task, variant, ..) = key;
    let count = shards[0].summary.shard.map_or(1, |shard| shard.count);
    shards.sort_by_key(|shard| shard.summary.shard.map_or(0, |shard| shard.index));
    let problem = |message: String| {
        UserError::new(
            ExitStatus::Error,
            format!("task `{task}` ({}): {message}", variant.as_str()),
        )
    };
    let paired = shards[0].baseline.is_some();
    for shard in &shards {
        let summary = &shard.summary;
        if summary.shard.map(|shard| shard.count) != Some(count) {
            return Err(problem(format!(
                "{} is a shard of {}, not of {count}",
                shard.path.display(),
                summary.shard.map_or(0, |s| s.count)
            ))
            .into());
        }
        if shard.baseline.is_some() != paired {
            return Err(problem(format!(
                "{} is {} a paired run, unlike the other shards",
                shard.path.display(),
                if paired { "not" } else { "" }
            ))
            .into());
        }
        let halves = std::iter::once((&shard.path, summary)).chain(
            shard
                .baseline
                .as_ref()
                .map(|(path, summary)| (path, summary)),
        );
        for (path, summary) in halves {
            if !summary.complete {
                return Err(problem(format!("{} is an interrupted run", path.display()))
                    .hint("finish it with `promptops eval --shard K/N --resume` first")
                    .into());
            }
        }
    }
    for index in 1..=count {
        let found: Vec<&PathBuf> = shards
            .iter()
            .filter(|s| s.summary.shard.is_some_and(|shard| shard.index == index))
            .map(|s| &s.path)
            .collect();
        match found.len() {
            1 => {}
            0 => {
                return Err(problem(format!("shard {index}/{count} is missing"))
                    .hint("pass the folders of every shard")
                    .into());
            }
            _ => {
                return Err(problem(format!(
                    "shard {index}/{count} appears {} times: {}",
                    found.len(),
                    found
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
                .hint("pass each shard's folder once")
                .into());
            }
        }
    }
    let dir = logs::task_dir(root, task);
    let repository = adapters::fs::Repository::new(root);
    repository.create_dir(&dir)?;
    let stamp = time::compact(clock.now());
    let name = logs::reserve_run_name(
        &repository,
        &dir,
        &format!("{stamp}-{}-merged", variant.as_str()),
    )?;
    let baseline_name = format!("{name}.baseline");

    let main_halves: Vec<(&PathBuf, &RunSummary)> =
        shards.iter().map(|s| (&s.path, &s.summary)).collect();
    let (mut summary, main_scores) = merge_half(
        (&repository, &dir),
        &name,
        &main_halves,
        paired.then_some(baseline_name.as_str()),
        &problem,
    )?;
    let mut baseline = None;
    if paired {
        let halves: Vec<(&PathBuf, &RunSummary)> = shards
            .iter()
            .filter_map(|s| s.baseline.as_ref().map(|(path, summary)| (path, summary)))
            .collect();
        let (baseline_summary, baseline_scores) = merge_half(
            (&repository, &dir),
            &baseline_name,
            &halves,
            Some(&name),
            &problem,
        )?;
        let pairs: Vec<record::Pair> = main_scores
            .iter()
            .filter_map(|(id, scored)| {
                baseline_scores
                    .get(id)
                    .map(|other| record::Pair::new(*scored, *other))
            })
            .collect();
        if pairs.len() != main_scores.len() || pairs.len() != baseline_scores.len() {
            return Err(problem(
                "the two halves of the paired shards do not hold the same examples".to_owned(),
            )
            .into());
        }
        summary.comparison = Some(record::compare(
            baseline_summary.prompt.clone(),
            &pairs,
            record::BOOTSTRAP_RESAMPLES,
            record::BOOTSTRAP_SEED,
        ));
        logs::write_summary(&repository, &dir, &baseline_summary)?;
        baseline = Some(baseline_summary);
    }
    let path = logs::write_summary(&repository, &dir, &summary)?;
    let relative = adapters::fs::relative_path(root, &path);
    Ok(TaskOutcome::finished(summary, relative, baseline))
}

/// Merges one half (the run, or its baseline) of every shard into the log `<name>.jsonl` and
/// a summary (not yet written); returns it with each example's (score, pass) by id.
#[allow(clippy::type_complexity)]
fn merge_half(
    (repository, dir): (&adapters::fs::Repository, &Path),
    name: &str,
    halves: &[(&PathBuf, &RunSummary)],
    paired_with: Option<&str>,
    problem: &dyn Fn(String) -> UserError,
) -> anyhow::Result<(RunSummary, BTreeMap<String, (f64, bool)>)> {
    let mut bytes = Vec::new();
    let mut totals = Totals::default();
    let mut scores = BTreeMap::new();
    for (path, summary) in halves {
        let log = path.with_file_name(&summary.log);
        let file = adapters::fs::open_read_regular(&log)?;
        let mut shard_totals = Totals::default();
        for (index, line) in std::io::BufReader::new(file).lines().enumerate() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let record: ExampleRecord = serde_json::from_str(&line).map_err(|error| {
                problem(format!(
                    "{}:{}: not an eval record: {error}",
                    log.display(),
                    index + 1
                ))
            })?;
            if scores
                .insert(record.id.clone(), (record.score, record.pass))
                .is_some()
            {
                return Err(problem(format!(
                    "example `{}` appears in more than one shard ({}:{})",
                    record.id,
                    log.display(),
                    index + 1
                ))
                .into());
            }
            shard_totals.add(&record);
            bytes.extend_from_slice(line.as_bytes());
            bytes.push(b'\n');
        }
        if shard_totals.n != summary.n {
            return Err(problem(format!(
                "{} holds {} records but its summary counts {}",
                log.display(),
                shard_totals.n,
                summary.n
            ))
            .into());
        }
        totals.merge(&shard_totals);
    }
    let log_name = format!("{name}.jsonl");
    repository.write_atomic(&dir.join(&log_name), &bytes)?;
    let first = halves[0].1;
    let mut summary = RunSummary {
        run: name.to_owned(),
        shard: None,
        complete: true,
        duration_ms: halves.iter().map(|(_, s)| s.duration_ms).max().unwrap_or(0),
        started_at: halves
            .iter()
            .map(|(_, s)| s.started_at.clone())
            .min()
            .unwrap_or_default(),
        finished_at: halves
            .iter()
            .map(|(_, s)| s.finished_at.clone())
            .max()
            .unwrap_or_default(),
        log: log_name,
        log_sha256: Some(crate::domain::source::sha256_hex(&bytes)),
        paired_with: paired_with.map(str::to_owned),
        comparison: None,
        ..first.clone()
    };
    summary.set_totals(totals);
    Ok((summary, scores))
}
