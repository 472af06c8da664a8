//! The response cache: one small JSON file per request key, `<dir>/<aa>/<key>.json`.
//!
//! One file per key keeps memory flat (nothing is loaded up front), lets parallel runs and CI
//! shards share a folder without locks (writes are temp file + rename), and lets a repository
//! commit stored responses for offline replay. A file that does not parse is a miss.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::domain::eval::request::ChatResponse;

#[derive(Serialize, Deserialize)]
struct Entry {
    key: String,
    provider: String,
    model: String,
    response: ChatResponse,
}

/// An entry holds one answer, itself capped (`max_response_bytes`, at most 1 GiB).
const MAX_ENTRY_BYTES: u64 = (1 << 30) + (1 << 20);

#[derive(Clone, Debug)]
pub struct Cache {
    dir: PathBuf,
    repository: std::sync::Arc<super::fs::Repository>,
}

impl Cache {
    /// The cache in `dir`, for the repository at `root` (a cache inside it is written as
    /// every file there is: no link followed, temp files in `.promptops/tmp`).
    pub fn new(dir: PathBuf, root: &Path) -> Cache {
        Cache {
            dir,
            repository: std::sync::Arc::new(super::fs::Repository::new(root)),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, key: &str) -> PathBuf {
        let prefix = key.get(..2).unwrap_or("00");
        self.dir.join(prefix).join(format!("{key}.json"))
    }

    pub fn get(&self, key: &str) -> Option<ChatResponse> {
        // Bounded, regular files only: a cache entry linked to /dev/zero is a miss, not a hang.
        let bytes = super::fs::read_regular(&self.path(key), MAX_ENTRY_BYTES).ok()?;
        let entry: Entry = serde_json::from_slice(&bytes).ok()?;
        (entry.key == key).then_some(entry.response)
    }

    pub fn put(
        &self,
        key: &str,
        provider: &str,
        model: &str,
        response: &ChatResponse,
    ) -> Result<(), super::fs::FsError> {
        let entry = Entry {
            key: key.to_owned(),
            provider: provider.to_owned(),
            model: model.to_owned(),
            response: response.clone(),
        };
        let mut bytes = serde_json::to_vec_pretty(&entry).map_err(std::io::Error::other)?;
        bytes.push(b'\n');
        self.repository
            .write_replace(&self.path(key), &bytes, false)
    }
}
