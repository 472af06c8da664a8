//! The files of a run under `prompts/04-evals/<task>/`: `<run>.jsonl` (one record per
//! example, appended as results arrive) and `<run>.summary.json` (rewritten atomically).
//!
//! The summary is written once when the run starts (`complete: false`) and again when it
//! ends, so a run killed outright still leaves a summary that `--resume` can find.

use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::adapters;
use crate::domain::eval::record::{ExampleRecord, RunSummary, Totals};
use crate::domain::layout;

/// The folder of a task's runs; `task` is a checked slug.
pub fn task_dir(root: &Path, task: &str) -> PathBuf {
    debug_assert!(layout::is_slug(task));
    root.join(layout::PROMPTS_DIR)
        .join(layout::EVALS)
        .join(task)
}

pub const SUMMARY_SUFFIX: &str = ".summary.json";

/// `base`, or `base-2`, `base-3`… when a run of that name is already in `dir`.
pub fn new_run_name(dir: &Path, base: &str) -> String {
    let mut name = base.to_owned();
    let mut counter = 2;
    while dir.join(format!("{name}.jsonl")).exists()
        || dir.join(format!("{name}{SUMMARY_SUFFIX}")).exists()
    {
        name = format!("{base}-{counter}");
        counter += 1;
    }
    name
}

/// Reads a summary and checks the fields that name files and folders against their grammar:
/// a summary is data, and `run`, `log` and `task` must never lead outside its folder.
pub fn read_summary(path: &Path) -> anyhow::Result<RunSummary> {
    let bytes = adapters::fs::read_regular(path, MAX_SUMMARY_BYTES)?;
    let summary: RunSummary = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not an eval summary", path.display()))?;
    if let Err(problem) = summary.check_names() {
        return Err(crate::exit::UserError::new(
            crate::exit::ExitStatus::Error,
            format!("{}: {problem}", path.display()),
        )
        .hint("an eval summary is written by promptops; restore it or delete it")
        .into());
    }
    Ok(summary)
}

/// Summaries are a few kilobytes; anything larger is not one.
const MAX_SUMMARY_BYTES: u64 = 1 << 20;

pub fn write_summary(dir: &Path, summary: &RunSummary) -> anyhow::Result<PathBuf> {
    let path = dir.join(format!("{}{SUMMARY_SUFFIX}", summary.run));
    let mut bytes = serde_json::to_vec_pretty(summary)?;
    bytes.push(b'\n');
    adapters::fs::write_atomic(&path, &bytes)?;
    Ok(path)
}

/// Every summary in `dir`, oldest run first (run names start with the time).
pub fn summaries(dir: &Path) -> Vec<(PathBuf, RunSummary)> {
    let Ok(entries) = fs_err::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<(PathBuf, RunSummary)> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.ends_with(SUMMARY_SUFFIX))
        })
        .filter(|path| !adapters::fs::is_symlink(path))
        .filter_map(|path| read_summary(&path).ok().map(|summary| (path, summary)))
        .collect();
    found.sort_by(|a, b| a.1.run.cmp(&b.1.run));
    found
}

/// What an interrupted run already did: its records' totals and the ids it finished.
pub struct Finished {
    pub totals: Totals,
    pub ids: HashSet<String>,
    /// The records themselves, when asked for (a paired run matches its two halves).
    pub records: Vec<ExampleRecord>,
}

/// Reads a run's log. Only a last line cut short by a crash (no newline at its end) is
/// dropped, and the file is truncated to the last whole record so appending continues cleanly;
/// a bad line anywhere else is an error that names it, since dropping it would lose results.
pub fn read_finished(log: &Path, keep_records: bool) -> anyhow::Result<Finished> {
    let file = adapters::fs::open_update_no_follow(log)?;
    let mut reader = std::io::BufReader::new(file);
    let mut totals = Totals::default();
    let mut ids = HashSet::new();
    let mut records = Vec::new();
    let mut good_length = 0u64;
    let mut line = Vec::new();
    let mut number = 0usize;
    loop {
        line.clear();
        let read = reader.read_until(b'\n', &mut line)?;
        if read == 0 {
            break;
        }
        number += 1;
        if line.last() != Some(&b'\n') {
            // The last record, cut short by a crash while it was written.
            break;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            good_length += read as u64;
            continue;
        }
        let record = serde_json::from_slice::<ExampleRecord>(&line).map_err(|error| {
            crate::exit::UserError::new(
                crate::exit::ExitStatus::Error,
                format!(
                    "{}:{number} is not an eval record ({error}); the run cannot be resumed safely",
                    log.display()
                ),
            )
            .hint("fix or delete that line (its example is then evaluated again), or start a new run without --resume")
        })?;
        if !ids.insert(record.id.clone()) {
            return Err(crate::exit::UserError::new(
                crate::exit::ExitStatus::Error,
                format!(
                    "{}:{number}: example `{}` appears twice",
                    log.display(),
                    record.id
                ),
            )
            .into());
        }
        good_length += read as u64;
        totals.add(&record);
        if keep_records {
            records.push(record);
        }
    }
    let file = reader.into_inner();
    file.set_len(good_length)?;
    Ok(Finished {
        totals,
        ids,
        records,
    })
}

/// Appends records to a run's log, one write per record so a crash loses at most the
/// record being written. The file is created with the first record, so a run that produced
/// nothing leaves nothing behind; it is never opened through a symbolic link.
pub struct LogWriter {
    path: PathBuf,
    file: Option<fs_err::File>,
    buffer: Vec<u8>,
}

impl LogWriter {
    pub fn open(path: &Path) -> LogWriter {
        LogWriter {
            path: path.to_path_buf(),
            file: None,
            buffer: Vec::with_capacity(4096),
        }
    }

    pub fn write(&mut self, record: &ExampleRecord) -> anyhow::Result<()> {
        self.buffer.clear();
        serde_json::to_writer(&mut self.buffer, record)?;
        self.buffer.push(b'\n');
        let file = match &mut self.file {
            Some(file) => file,
            None => self
                .file
                .insert(adapters::fs::open_append_no_follow(&self.path)?),
        };
        file.write_all(&self.buffer)?;
        Ok(())
    }

    pub fn finish(self) -> anyhow::Result<()> {
        if let Some(file) = self.file {
            file.sync_all()?;
        }
        Ok(())
    }
}
