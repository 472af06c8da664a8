//! The release bundle: one pure definition of what production serves. The production prompts,
//! their metadata, and `release.json` (the registry without its history: recording a deploy
//! never changes the bundle), in a fixed layout, with a release id over the files in a
//! canonical order. `promptops bundle` writes it; `serve` and `image` are to use this same
//! definition.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::model::Registry;

/// The bundle's format version, in `release.json`.
pub const SCHEMA_VERSION: u32 = 1;

/// One task in production, as the bundle needs it.
pub struct ProductionTask<'a> {
    pub task: &'a str,
    pub prompt: &'a [u8],
    pub metadata: &'a [u8],
}

/// The bundle: file path (relative, `/`-separated) → bytes, and its release id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bundle {
    pub files: BTreeMap<String, Vec<u8>>,
    pub release_id: ReleaseId,
}

/// A release's id: the sha256 (hex) over the bundle's files in path order.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ReleaseId(String);

impl ReleaseId {
    /// Its first 12 hex digits, as image tags, commit subjects and people show it.
    pub fn short(&self) -> &str {
        short_release(&self.0)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for ReleaseId {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ReleaseId {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// The short form of a release id read from elsewhere (a service's environment, a record):
/// its first 12 characters, or all of it when shorter.
pub fn short_release(release_id: &str) -> &str {
    release_id.get(..12).unwrap_or(release_id)
}

#[derive(Serialize)]
struct Release<'a> {
    schema_version: u32,
    tasks: BTreeMap<&'a str, ReleaseTask<'a>>,
}

#[derive(Serialize)]
struct ReleaseTask<'a> {
    version: &'a str,
    prompt: String,
    prompt_sha256: &'a str,
    metadata: String,
    metadata_sha256: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    examples_sha256: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    threshold: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    latest_score: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    latest_passed: Option<bool>,
}

/// The bundle of the tasks in production. `registry` gives versions, hashes and scores; its
/// history is not read, so the same prompts give the same bundle whatever was recorded since.
pub fn build(tasks: &[ProductionTask<'_>], registry: &Registry) -> Bundle {
    let mut files = BTreeMap::new();
    let mut release = Release {
        schema_version: SCHEMA_VERSION,
        tasks: BTreeMap::new(),
    };
    for task in tasks {
        let Some(entry) = registry.tasks.get(task.task) else {
            continue;
        };
        let Some(production) = &entry.production else {
            continue;
        };
        let (prompt, metadata) = task_paths(task.task);
        files.insert(prompt.clone(), task.prompt.to_vec());
        files.insert(metadata.clone(), task.metadata.to_vec());
        release.tasks.insert(
            task.task,
            ReleaseTask {
                version: &production.version,
                prompt,
                prompt_sha256: &production.sha256,
                metadata,
                metadata_sha256: entry.metadata.as_ref().map_or("", |m| m.sha256.as_str()),
                examples_sha256: entry.examples.as_ref().map(|e| e.sha256.as_str()),
                threshold: entry.threshold,
                latest_score: entry.latest_eval.as_ref().map(|e| e.score),
                latest_passed: entry.latest_eval.as_ref().map(|e| e.passed),
            },
        );
    }
    let mut text = serde_json::to_vec_pretty(&release).expect("a release serialises");
    text.push(b'\n');
    files.insert(RELEASE_FILE.to_owned(), text);
    let release_id = release_id(&files);
    Bundle { files, release_id }
}

/// Where the container image holds the bundle (the Dockerfile's `app` stage and
/// `promptops image` both put it here; `PROMPTOPS_BUNDLE` points `serve` at it).
pub const IMAGE_BUNDLE_DIR: &str = "/srv/promptops";

/// The file every bundle has: what the release holds.
pub const RELEASE_FILE: &str = "release.json";

/// `release.json` as read back (by `serve --bundle`): each task's version and file hashes.
#[derive(Clone, Debug, Deserialize)]
pub struct ReleaseIndex {
    pub schema_version: u32,
    pub tasks: BTreeMap<String, IndexedTask>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct IndexedTask {
    pub version: String,
    pub prompt_sha256: String,
    pub metadata_sha256: String,
}

/// Reads `release.json`. Its task names become file names, so each must be a task id; the
/// paths written in it are never used (data is not a path).
pub fn read_index(bytes: &[u8]) -> Result<ReleaseIndex, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "it is not UTF-8".to_owned())?;
    let value = super::json::parse(text).map_err(|error| error.message)?;
    let index: ReleaseIndex = serde_path_to_error::deserialize(value)
        .map_err(|error| format!("at {}: {}", error.path(), error.inner()))?;
    if index.schema_version != SCHEMA_VERSION {
        return Err(format!(
            "schema_version {} is not {SCHEMA_VERSION}, the one this promptops reads",
            index.schema_version
        ));
    }
    let slug = regex::Regex::new(super::model::SLUG_PATTERN).expect("the slug pattern compiles");
    if let Some(bad) = index.tasks.keys().find(|task| !slug.is_match(task)) {
        return Err(format!(
            "`{}` is not a task id (lowercase letters, digits and hyphens)",
            bad.escape_debug()
        ));
    }
    Ok(index)
}

/// The bundle paths of a task's prompt and metadata.
pub fn task_paths(task: &str) -> (String, String) {
    (
        format!("prompts/{task}.yaml"),
        format!("metadata/{task}.yaml"),
    )
}

/// A bundle from its files (as read back from a folder), with its release id recomputed.
pub fn from_files(files: BTreeMap<String, Vec<u8>>) -> Bundle {
    let release_id = release_id(&files);
    Bundle { files, release_id }
}

/// sha256 over every file in path order: the path, a NUL, the file's sha256 (hex), a newline.
pub fn release_id(files: &BTreeMap<String, Vec<u8>>) -> ReleaseId {
    let mut hasher = Sha256::new();
    for (path, bytes) in files {
        hasher.update(path.as_bytes());
        hasher.update([0]);
        hasher.update(super::source::sha256_hex(bytes).as_bytes());
        hasher.update(b"\n");
    }
    ReleaseId(super::source::sha256_hex_of_digest(&hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::{HashedFile, HistoryEvent, RegistryTask, VersionedFile};

    fn registry(history: Vec<HistoryEvent>) -> Registry {
        let mut registry = Registry {
            schema_version: 1,
            tasks: BTreeMap::new(),
        };
        registry.tasks.insert(
            "t".into(),
            RegistryTask {
                production: Some(VersionedFile {
                    version: "1.0.0".into(),
                    path: "prompts/02-production/t.yaml".into(),
                    sha256: "p".into(),
                }),
                metadata: Some(HashedFile {
                    path: "prompts/03-metadata/t.yaml".into(),
                    sha256: "m".into(),
                }),
                threshold: Some(0.8),
                history,
                ..RegistryTask::default()
            },
        );
        registry
    }

    #[test]
    fn the_release_id_depends_on_the_prompts_not_on_the_history() {
        let tasks = [ProductionTask {
            task: "t",
            prompt: b"id: t\n",
            metadata: b"id: t\n",
        }];
        let plain = build(&tasks, &registry(Vec::new()));
        let deployed = build(
            &tasks,
            &registry(vec![HistoryEvent::new(
                crate::domain::model::EventKind::Deploy,
                "1.0.0".into(),
                String::new(),
                String::new(),
            )]),
        );
        assert_eq!(plain, deployed);
        assert_eq!(
            plain.files.keys().collect::<Vec<_>>(),
            ["metadata/t.yaml", "prompts/t.yaml", "release.json"]
        );
        let changed = build(
            &[ProductionTask {
                task: "t",
                prompt: b"id: t\n# changed\n",
                metadata: b"id: t\n",
            }],
            &registry(Vec::new()),
        );
        assert_ne!(changed.release_id, plain.release_id);
    }
}
