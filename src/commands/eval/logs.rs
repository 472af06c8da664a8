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

pub fn task_dir(root: &Path, task: &str) -> PathBuf {
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

pub fn read_summary(path: &Path) -> anyhow::Result<RunSummary> {
    let bytes = fs_err::read(path)?;
    serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not an eval summary", path.display()))
}

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

/// Reads a run's log, dropping a last line cut short by a crash (the file is truncated to
/// the last whole record so appending continues cleanly).
pub fn read_finished(log: &Path, keep_records: bool) -> anyhow::Result<Finished> {
    let file = fs_err::OpenOptions::new()
        .read(true)
        .write(true)
        .open(log)?;
    let mut reader = std::io::BufReader::new(file);
    let mut totals = Totals::default();
    let mut ids = HashSet::new();
    let mut records = Vec::new();
    let mut good_length = 0u64;
    let mut line = String::new();
    loop {
        line.clear();
        let read = reader.read_line(&mut line)?;
        if read == 0 {
            break;
        }
        if !line.ends_with('\n') {
            break;
        }
        let Ok(record) = serde_json::from_str::<ExampleRecord>(&line) else {
            break;
        };
        good_length += read as u64;
        totals.add(&record);
        ids.insert(record.id.clone());
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
/// record being written.
pub struct LogWriter {
    file: fs_err::File,
    buffer: Vec<u8>,
}

impl LogWriter {
    pub fn open(path: &Path) -> anyhow::Result<LogWriter> {
        if let Some(parent) = path.parent() {
            fs_err::create_dir_all(parent)?;
        }
        let file = fs_err::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(LogWriter {
            file,
            buffer: Vec::with_capacity(4096),
        })
    }

    pub fn write(&mut self, record: &ExampleRecord) -> anyhow::Result<()> {
        self.buffer.clear();
        serde_json::to_writer(&mut self.buffer, record)?;
        self.buffer.push(b'\n');
        self.file.write_all(&self.buffer)?;
        Ok(())
    }

    pub fn finish(self) -> anyhow::Result<()> {
        self.file.sync_all()?;
        Ok(())
    }
}
