//! `promptops eval merge DIR...`: combine the logs of `--shard K/N` runs into one run.
//!
//! The merged totals are recomputed from the shard logs' records (integer sums, see
//! `record::Totals`), so the merged summary reports exactly what an unsharded run would.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use super::logs;
use crate::adapters;
use crate::cli::MergeArgs;
use crate::domain::eval::record::{ExampleRecord, RunSummary, Totals, Variant};
use crate::domain::time;
use crate::exit::{ExitStatus, UserError};

use super::super::Context;

type GroupKey = (String, Variant, String, String, bool);

pub fn run(context: &Context, args: &MergeArgs) -> anyhow::Result<ExitStatus> {
    let root = context.root()?;
    let mut groups: BTreeMap<GroupKey, Vec<(PathBuf, RunSummary)>> = BTreeMap::new();
    for dir in &args.dirs {
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
            if summary.shard.is_none() {
                continue;
            }
            let baseline = summary.is_baseline_half();
            groups
                .entry((
                    summary.task.clone(),
                    summary.variant,
                    summary.prompt.sha256.clone(),
                    summary.examples.sha256.clone(),
                    baseline,
                ))
                .or_default()
                .push((entry.path().to_path_buf(), summary));
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
    let mut merged = Vec::new();
    for (key, shards) in groups {
        merged.push(merge_group(&root, &key, shards)?);
    }
    // A merged production run is recorded like an unsharded one.
    let registry = super::registry_for_scores(super::super::load(&root, false)?);
    super::record_latest(
        &root,
        registry,
        merged
            .iter()
            .map(|(summary, path)| (summary, path.as_str())),
    )?;
    let merged: Vec<RunSummary> = merged.into_iter().map(|(summary, _)| summary).collect();
    let mut stdout = std::io::stdout().lock();
    match args.format {
        crate::cli::TableFormat::Json => {
            serde_json::to_writer_pretty(&mut stdout, &merged)?;
            writeln!(stdout)?;
        }
        crate::cli::TableFormat::Table => {
            let summaries: Vec<&RunSummary> = merged.iter().collect();
            write!(stdout, "{}", crate::report::eval::table(&summaries))?;
        }
    }
    let passed = merged
        .iter()
        .filter(|s| !s.is_baseline_half())
        .all(|s| s.passed);
    let provider_errors = merged.iter().any(|s| s.provider_errors > 0);
    Ok(if provider_errors {
        ExitStatus::External
    } else if passed {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}

fn merge_group(
    root: &Path,
    key: &GroupKey,
    mut shards: Vec<(PathBuf, RunSummary)>,
) -> anyhow::Result<(RunSummary, String)> {
    let (task, variant, ..) = key;
    let count = shards[0].1.shard.map_or(1, |shard| shard.count);
    shards.sort_by_key(|(_, summary)| summary.shard.map_or(0, |shard| shard.index));
    let problem = |message: String| {
        UserError::new(
            ExitStatus::Error,
            format!("task `{task}` ({}): {message}", variant.as_str()),
        )
    };
    for (path, summary) in &shards {
        if summary.shard.map(|shard| shard.count) != Some(count) {
            return Err(problem(format!(
                "{} is a shard of {}, not of {count}",
                path.display(),
                summary.shard.map_or(0, |s| s.count)
            ))
            .into());
        }
        if !summary.complete {
            return Err(problem(format!("{} is an interrupted run", path.display()))
                .hint("finish it with `promptops eval --shard K/N --resume` first")
                .into());
        }
    }
    for index in 1..=count {
        let found: Vec<&PathBuf> = shards
            .iter()
            .filter(|(_, s)| s.shard.is_some_and(|shard| shard.index == index))
            .map(|(path, _)| path)
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
    fs_err::create_dir_all(&dir)?;
    let stamp = time::compact(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0)),
    );
    let mut base = format!("{stamp}-{}-merged", variant.as_str());
    if key.4 {
        base.push_str(".baseline");
    }
    let name = logs::new_run_name(&dir, &base);
    let mut bytes = Vec::new();
    let mut totals = Totals::default();
    for (path, summary) in &shards {
        let log = path.with_file_name(&summary.log);
        let file = fs_err::File::open(&log)?;
        let mut shard_totals = Totals::default();
        for line in std::io::BufReader::new(file).lines() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let record: ExampleRecord = serde_json::from_str(&line).map_err(|error| {
                UserError::new(
                    ExitStatus::Error,
                    format!("{}: a line is not an eval record: {error}", log.display()),
                )
            })?;
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
    adapters::fs::write_atomic(&dir.join(&log_name), &bytes)?;
    let first = &shards[0].1;
    let mut summary = RunSummary {
        run: name,
        shard: None,
        complete: true,
        duration_ms: shards.iter().map(|(_, s)| s.duration_ms).max().unwrap_or(0),
        started_at: shards
            .iter()
            .map(|(_, s)| s.started_at.clone())
            .min()
            .unwrap_or_default(),
        finished_at: shards
            .iter()
            .map(|(_, s)| s.finished_at.clone())
            .max()
            .unwrap_or_default(),
        log: log_name,
        comparison: None,
        ..first.clone()
    };
    summary.set_totals(totals);
    let path = logs::write_summary(&dir, &summary)?;
    let relative = adapters::fs::relative_path(root, &path);
    eprintln!("merged {count} shards of `{task}` into {relative}");
    Ok((summary, relative))
}
