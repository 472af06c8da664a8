//! One plan type for every change to the repository (`promote`, `archive`, `rollback`, the
//! record of a `deploy`): the files it writes and removes, the registry it leaves, the commit
//! and the tag; its id; and the repository as it would be after it, which is what a plan is
//! checked against before anything is written.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::domain::source::{FileContent, InputFile};

/// A file the plan writes (created or replaced), with its new bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileWrite {
    pub path: String,
    #[serde(skip)]
    pub bytes: Vec<u8>,
    pub sha256: String,
}

impl FileWrite {
    pub fn new(path: String, bytes: Vec<u8>) -> FileWrite {
        let sha256 = crate::domain::source::sha256_hex(&bytes);
        FileWrite {
            path,
            bytes,
            sha256,
        }
    }
}

/// A file the plan removes, with the sha256 it must still have.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileRemoval {
    pub path: String,
    pub sha256: String,
}

/// Everything a change (promote, archive, rollback, a deploy's record) writes, removes and
/// commits. The registry is written last.
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    pub id: String,
    /// What `id` hashes besides the files ([`plan_id`]); the journal keeps it so recovery can
    /// recompute the id.
    #[serde(skip)]
    pub id_basis: String,
    pub writes: Vec<FileWrite>,
    pub removals: Vec<FileRemoval>,
    pub registry: FileWrite,
    pub commit_message: String,
    /// The annotated tag on the commit (a promotion's `prompt/<task>/v<version>`).
    pub tag: Option<String>,
    pub tag_message: String,
}

/// The plan's id: a sha256 over the files it changes and its commit message (the registry,
/// which records the id, is not part of it).
pub fn plan_id(writes: &[FileWrite], removals: &[FileRemoval], message: &str) -> String {
    let mut hasher = Sha256::new();
    for write in writes {
        hasher.update(write.path.as_bytes());
        hasher.update([0]);
        hasher.update(write.sha256.as_bytes());
        hasher.update([0]);
    }
    for removal in removals {
        hasher.update(b"-");
        hasher.update(removal.path.as_bytes());
        hasher.update([0]);
    }
    hasher.update(message.as_bytes());
    crate::domain::source::sha256_hex_of_digest(&hasher.finalize())
}

/// What a change did: the one result of every mutating command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "decision")]
pub enum ChangeResult {
    /// A gate failed and nothing was forced: nothing changed.
    Refused,
    /// `--dry-run`: the plan, not applied.
    DryRun,
    /// Written; committed (and tagged, when the plan has a tag) unless `--no-commit`. The
    /// JSON word stays `promoted`, as the first command that had it printed it.
    #[serde(rename = "promoted")]
    Applied {
        commit: Option<String>,
        tag: Option<String>,
    },
}

/// Who a change is committed as.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Identity {
    pub name: String,
    pub email: String,
}

impl std::fmt::Display for Identity {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{} <{}>", self.name, self.email)
    }
}

/// The scanned files with the plan applied, for the check.
pub fn overlay(
    inputs: &[InputFile],
    writes: &[FileWrite],
    removals: &[FileRemoval],
    registry: Option<&FileWrite>,
) -> Vec<InputFile> {
    let replaced: Vec<&str> = writes
        .iter()
        .chain(registry)
        .map(|write| write.path.as_str())
        .chain(removals.iter().map(|removal| removal.path.as_str()))
        .collect();
    let mut files: Vec<InputFile> = inputs
        .iter()
        .filter(|input| !replaced.contains(&input.path.as_str()))
        .cloned()
        .collect();
    files.extend(writes.iter().chain(registry).map(|write| InputFile {
        path: write.path.clone(),
        content: FileContent::Bytes(write.bytes.clone()),
    }));
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}
