//! The eval store: the one place that reads and writes `prompts/04-evals/`. A run is
//! `<task>/<run>.jsonl` (one record per example, appended as results arrive) and
//! `<task>/<run>.summary.json` (rewritten atomically).
//!
//! The summary is written once when the run starts (`complete: false`) and again when it
//! ends, so a run killed outright still leaves a summary that `--resume` can find.

use std::collections::{BTreeSet, HashSet};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use super::fs::{self as adapters_fs, FsError};
use crate::domain::eval::evidence::{LogFacts, StoredRun};
use crate::domain::eval::record::{ExampleRecord, RunSummary, Totals};
use crate::domain::layout;

/// What can go wrong reading or writing eval logs and summaries.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("{} is not an eval summary: {source}", path.display())]
    NotSummary {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{}: {problem}", path.display())]
    BadNames {
        path: PathBuf,
        problem: crate::domain::eval::record::NameError,
    },
    #[error("{}:{line} is not an eval record ({source}); the run cannot be resumed safely", path.display())]
    BadRecord {
        path: PathBuf,
        line: usize,
        source: serde_json::Error,
    },
    #[error("{}:{line}: example `{id}` appears twice", path.display())]
    Duplicate {
        path: PathBuf,
        line: usize,
        id: String,
    },
    #[error("cannot encode an eval record: {0}")]
    Encode(serde_json::Error),
}

impl StoreError {
    /// What to do about it, when there is something to say.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            StoreError::Fs(error) => error.hint(),
            StoreError::BadNames { .. } => {
                Some("an eval summary is written by promptops; restore it or delete it")
            }
            StoreError::BadRecord { .. } => Some(
                "fix or delete that line (its example is then evaluated again), or start a new run without --resume",
            ),
            _ => None,
        }
    }
}

type Result<T> = std::result::Result<T, StoreError>;

/// The folder of a task's runs; `task` is a checked slug.
pub fn task_dir(root: &Path, task: &str) -> PathBuf {
    debug_assert!(layout::is_slug(task));
    root.join(layout::PROMPTS_DIR)
        .join(layout::EVALS)
        .join(task)
}

pub const SUMMARY_SUFFIX: &str = ".summary.json";

/// `base`, or `base-2`, `base-3`… when a run of that name is already in `dir`; the name is
/// taken by creating its log, empty, with `O_EXCL`: two evals started in the same second (their
/// names come from the time) never share a log.
pub fn reserve_run_name(
    repository: &adapters_fs::Repository,
    dir: &Path,
    base: &str,
) -> Result<String> {
    use std::os::unix::fs::OpenOptionsExt;
    repository.create_dir(dir)?;
    let mut name = base.to_owned();
    let mut counter = 2;
    loop {
        if !dir.join(format!("{name}{SUMMARY_SUFFIX}")).exists() {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o666)
                .custom_flags(libc::O_NOFOLLOW)
                .open(dir.join(format!("{name}.jsonl")))
            {
                Ok(_) => return Ok(name),
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(error) => return Err(error.into()),
            }
        }
        name = format!("{base}-{counter}");
        counter += 1;
    }
}

/// Reads a summary and checks the fields that name files and folders against their grammar:
/// a summary is data, and `run`, `log` and `task` must never lead outside its folder.
pub fn read_summary(path: &Path) -> Result<RunSummary> {
    let bytes = adapters_fs::read_regular(path, MAX_SUMMARY_BYTES)?;
    let summary: RunSummary =
        serde_json::from_slice(&bytes).map_err(|source| StoreError::NotSummary {
            path: path.to_path_buf(),
            source,
        })?;
    if let Err(problem) = summary.check_names() {
        return Err(StoreError::BadNames {
            path: path.to_path_buf(),
            problem,
        });
    }
    Ok(summary)
}

/// Summaries are a few kilobytes; anything larger is not one.
const MAX_SUMMARY_BYTES: u64 = 1 << 20;

pub fn write_summary(
    repository: &adapters_fs::Repository,
    dir: &Path,
    summary: &RunSummary,
) -> Result<PathBuf> {
    let path = dir.join(format!("{}{SUMMARY_SUFFIX}", summary.run));
    let mut bytes = serde_json::to_vec_pretty(summary).map_err(StoreError::Encode)?;
    bytes.push(b'\n');
    repository.write_atomic(&path, &bytes)?;
    Ok(path)
}

/// Every summary in `dir`, oldest run first by the times they record (a run's name is data and
/// says nothing about when it ran; it only breaks a tie). A folder that
/// does not exist has none; a summary that cannot be read is skipped with a warning in the
/// log (`PROMPTOPS_LOG`), since one broken file must not hide the others.
pub fn summaries(dir: &Path) -> Result<Vec<(PathBuf, RunSummary)>> {
    let entries = match fs_err::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error.into()),
    };
    let mut found: Vec<(PathBuf, RunSummary)> = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let is_summary = path
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| name.ends_with(SUMMARY_SUFFIX));
        if !is_summary || adapters_fs::is_symlink(&path) {
            continue;
        }
        match read_summary(&path) {
            Ok(summary) => found.push((path, summary)),
            Err(error) => tracing::warn!("skipped {}: {error}", path.display()),
        }
    }
    found.sort_by(|a, b| crate::domain::eval::evidence::newest_first(&b.1, &a.1));
    Ok(found)
}

/// Whether an open error means the file is not there.
fn not_found(error: &FsError) -> bool {
    match error {
        FsError::Io(error) | FsError::Context { source: error, .. } => {
            error.kind() == std::io::ErrorKind::NotFound
        }
        _ => false,
    }
}

/// sha256 of a log as it stands; `None` when there is no log.
pub fn log_sha256(path: &Path) -> Result<Option<String>> {
    let mut file = match adapters_fs::open_read_regular(path) {
        Ok(file) => file,
        Err(error) if not_found(&error) => return Ok(None),
        Err(error) => return Err(error.into()),
    };
    Ok(Some(crate::domain::source::sha256_hex_of_reader(
        &mut file,
    )?))
}

/// A log's facts, streamed line by line (memory is one score per example); `None` when the
/// file does not exist.
pub fn log_facts(path: &Path) -> Result<Option<LogFacts>> {
    use sha2::Digest;
    let file = match adapters_fs::open_read_regular(path) {
        Ok(file) => file,
        Err(error) if not_found(&error) => return Ok(None),
        Err(error) => return Err(error.into()),
    };
    let mut reader = std::io::BufReader::new(file);
    let mut hasher = sha2::Sha256::new();
    let mut facts = LogFacts::default();
    let mut line = Vec::new();
    let mut number = 0;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        number += 1;
        hasher.update(&line);
        facts.add_line(number, &line);
    }
    facts.sha256 = crate::domain::source::sha256_hex_of_digest(&hasher.finalize());
    Ok(Some(facts))
}

/// A run as stored in `dir`: its summary, its log's facts and its baseline half's.
pub fn stored_run(dir: &Path, summary: RunSummary) -> Result<StoredRun> {
    let log = log_facts(&dir.join(&summary.log))?;
    let baseline = match &summary.paired_with {
        Some(name) if !summary.is_baseline_half() => {
            let path = dir.join(format!("{name}{SUMMARY_SUFFIX}"));
            let half = match read_summary(&path) {
                Ok(half) if half.paired_with.as_deref() == Some(summary.run.as_str()) => {
                    let log = log_facts(&dir.join(&half.log))?;
                    Some((half, log))
                }
                Ok(_) => None,
                Err(error) => {
                    tracing::warn!("{error}");
                    None
                }
            };
            Some((name.clone(), half))
        }
        _ => None,
    };
    Ok(StoredRun {
        summary,
        log,
        baseline,
    })
}

/// The ids of an examples file (lines that are not examples are `validate`'s to report).
pub fn example_ids(path: &Path) -> Result<BTreeSet<String>> {
    #[derive(serde::Deserialize)]
    struct Id {
        id: String,
    }
    let file = adapters_fs::open_read_regular(path)?;
    let mut lines = crate::domain::json::JsonLines::new(std::io::BufReader::new(file));
    let mut ids = BTreeSet::new();
    while let Some((_, line)) = lines.next_line()? {
        if let crate::domain::json::JsonLine::Text(text) = line
            && let Ok(example) = serde_json::from_str::<Id>(text)
        {
            ids.insert(example.id);
        }
    }
    Ok(ids)
}

/// The records of a run's log, in the order they were written. Lines that are not records
/// (a line cut short by a crash) are skipped and logged.
pub fn read_records(root: &Path, summary: &RunSummary) -> Result<Vec<ExampleRecord>> {
    let path = task_dir(root, &summary.task).join(&summary.log);
    let file = adapters_fs::open_read_regular(&path)?;
    let mut records = Vec::new();
    for (index, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line?;
        match serde_json::from_str::<ExampleRecord>(&line) {
            Ok(record) => records.push(record),
            Err(error) => tracing::warn!("{}:{}: skipped: {error}", path.display(), index + 1),
        }
    }
    Ok(records)
}

/// Rewrites a run's log to hold exactly `records` (a resumed pair cut back to the examples
/// both halves finished).
pub fn rewrite_log<'a>(
    repository: &adapters_fs::Repository,
    path: &Path,
    records: impl Iterator<Item = &'a ExampleRecord>,
) -> Result<()> {
    let mut bytes = Vec::new();
    for record in records {
        serde_json::to_writer(&mut bytes, record).map_err(StoreError::Encode)?;
        bytes.push(b'\n');
    }
    Ok(repository.write_atomic(path, &bytes)?)
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
pub fn read_finished(log: &Path, keep_records: bool) -> Result<Finished> {
    let file = adapters_fs::open_update_no_follow(log)?;
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
        let record = serde_json::from_slice::<ExampleRecord>(&line).map_err(|source| {
            StoreError::BadRecord {
                path: log.to_path_buf(),
                line: number,
                source,
            }
        })?;
        if !ids.insert(record.id.clone()) {
            return Err(StoreError::Duplicate {
                path: log.to_path_buf(),
                line: number,
                id: record.id,
            });
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
    repository: std::sync::Arc<adapters_fs::Repository>,
    path: PathBuf,
    file: Option<fs_err::File>,
    buffer: Vec<u8>,
}

impl LogWriter {
    pub fn open(repository: std::sync::Arc<adapters_fs::Repository>, path: &Path) -> LogWriter {
        LogWriter {
            repository,
            path: path.to_path_buf(),
            file: None,
            buffer: Vec::with_capacity(4096),
        }
    }

    pub fn write(&mut self, record: &ExampleRecord) -> Result<()> {
        self.buffer.clear();
        serde_json::to_writer(&mut self.buffer, record).map_err(StoreError::Encode)?;
        self.buffer.push(b'\n');
        let file = match &mut self.file {
            Some(file) => file,
            None => self.file.insert(self.repository.open_append(&self.path)?),
        };
        file.write_all(&self.buffer)?;
        Ok(())
    }

    pub fn finish(self) -> Result<()> {
        if let Some(file) = self.file {
            file.sync_all()?;
        }
        Ok(())
    }
}
