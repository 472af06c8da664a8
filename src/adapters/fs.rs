//! Reading a prompt repository from disk and writing files atomically.

use std::collections::{BTreeSet, HashMap};
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use anyhow::Context;

use crate::domain::layout::{self, Role};
use crate::domain::source::{FileContent, InputFile};

/// Every file promptops looks at: the root files and everything under `prompts/`, each read
/// as far as its role asks. Symbolic links are followed only inside the repository.
pub fn scan(root: &Path, threads: usize) -> anyhow::Result<Vec<InputFile>> {
    let canonical_root = fs_err::canonicalize(root)?;
    let mut paths: Vec<(String, PathBuf)> = Vec::new();
    for name in [layout::REGISTRY_FILE, layout::CONFIG_FILE] {
        let path = root.join(name);
        if fs_err::symlink_metadata(&path).is_ok() {
            paths.push((name.to_owned(), path));
        }
    }
    let prompts = root.join(layout::PROMPTS_DIR);
    // The walk follows its starting folder even when it is a link: check that one here, since
    // the files below it are not links themselves and `read` would take them for the repo's.
    if let Some(target) = link_leaving(&canonical_root, &prompts) {
        return Ok(vec![InputFile {
            path: layout::PROMPTS_DIR.to_owned(),
            content: FileContent::SymlinkOutside { target },
        }]);
    }
    if prompts.is_dir() {
        for entry in walkdir::WalkDir::new(&prompts)
            .follow_links(false)
            .sort_by_file_name()
        {
            let entry = entry.with_context(|| format!("cannot walk {}", prompts.display()))?;
            if entry.file_type().is_dir() {
                continue;
            }
            let relative = relative_path(root, entry.path());
            paths.push((relative, entry.into_path()));
        }
    }
    Ok(crate::domain::parallel::map(
        &paths,
        threads,
        || (),
        |(), (relative, path)| InputFile {
            path: relative.clone(),
            content: read(&canonical_root, path, &layout::classify(relative)),
        },
    ))
}

/// The path relative to the root, with forward slashes.
pub fn relative_path(root: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(root).unwrap_or(path);
    relative
        .components()
        .filter_map(|component| match component {
            Component::Normal(part) => Some(part.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Where a symbolic link leads.
enum Link {
    Inside(PathBuf),
    /// Outside the repository: the link's target as written.
    Outside(String),
    Broken(String),
}

fn follow(canonical_root: &Path, link: &Path) -> Link {
    let target =
        std::fs::read_link(link).map_or_else(|_| "?".to_owned(), |t| t.display().to_string());
    match std::fs::canonicalize(link) {
        Ok(resolved) if resolved.starts_with(canonical_root) => Link::Inside(resolved),
        Ok(_) => Link::Outside(target),
        Err(_) => Link::Broken(target),
    }
}

/// The target of `path`, when `path` is a symbolic link that resolves outside the repository.
fn link_leaving(canonical_root: &Path, path: &Path) -> Option<String> {
    let metadata = std::fs::symlink_metadata(path).ok()?;
    match follow(canonical_root, path) {
        Link::Outside(target) if metadata.file_type().is_symlink() => Some(target),
        _ => None,
    }
}

fn read(canonical_root: &Path, path: &Path, role: &Role) -> FileContent {
    let Some(limit) = role.size_limit() else {
        return FileContent::NotRead;
    };
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(error) => {
            return FileContent::Unreadable {
                reason: error.to_string(),
            };
        }
    };
    if metadata.file_type().is_symlink() {
        match follow(canonical_root, path) {
            Link::Outside(target) => return FileContent::SymlinkOutside { target },
            Link::Broken(target) => {
                return FileContent::Unreadable {
                    reason: format!("broken symbolic link to `{target}`"),
                };
            }
            Link::Inside(resolved) if resolved.is_dir() => {
                return FileContent::Unreadable {
                    reason: "it is a link to a folder; promptops does not follow folder links"
                        .to_owned(),
                };
            }
            Link::Inside(_) => {}
        }
    } else if !metadata.is_file() {
        return FileContent::Unreadable {
            reason: "not a regular file".to_owned(),
        };
    }
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(error) => {
            return FileContent::Unreadable {
                reason: error.to_string(),
            };
        }
    };
    let size = file.metadata().map_or(0, |m| m.len());
    if size > limit {
        return FileContent::TooLarge { size, limit };
    }
    // Read at most one byte past the limit, in case the file grew since we looked.
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    if let Err(error) = file.take(limit + 1).read_to_end(&mut bytes) {
        return FileContent::Unreadable {
            reason: error.to_string(),
        };
    }
    if bytes.len() as u64 > limit {
        return FileContent::TooLarge {
            size: bytes.len() as u64,
            limit,
        };
    }
    FileContent::Bytes(bytes)
}

/// The text of the given repository files (each read once), for showing the lines findings
/// point at. Unreadable files are left out; invalid UTF-8 is shown lossily.
pub fn read_sources<'a>(
    root: &Path,
    files: impl IntoIterator<Item = &'a str>,
) -> HashMap<String, String> {
    let files: BTreeSet<&str> = files.into_iter().collect();
    files
        .into_iter()
        .filter_map(|file| {
            let bytes = std::fs::read(root.join(file)).ok()?;
            Some((
                file.to_owned(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ))
        })
        .collect()
}

/// Writes a file by temp file and rename in the same folder, so a reader sees the old bytes
/// or the new ones, never a mix, and an interruption leaves the old file intact.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_replace(path, bytes, true)
}

/// Temp file + rename; `durable` also syncs the data first (worth it for the registry and
/// summaries, not for thousands of cache entries that can always be fetched again).
pub fn write_replace(path: &Path, bytes: &[u8], durable: bool) -> anyhow::Result<()> {
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs_err::create_dir_all(folder)?;
    let mut temporary = tempfile::Builder::new()
        .prefix(".promptops-")
        .tempfile_in(folder)
        .with_context(|| format!("cannot create a temporary file in {}", folder.display()))?;
    temporary
        .write_all(bytes)
        .and_then(|()| {
            if durable {
                temporary.as_file().sync_all()
            } else {
                Ok(())
            }
        })
        .with_context(|| format!("cannot write {}", path.display()))?;
    temporary
        .persist(path)
        .map_err(|error| error.error)
        .with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}
