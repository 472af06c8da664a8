//! Reading a prompt repository from disk and writing files atomically.

use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use crate::domain::layout::{self, Role};
use crate::domain::source::{FileContent, InputFile};

/// What can go wrong reading or writing the repository's files.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{what}: {source}")]
    Context {
        what: String,
        source: std::io::Error,
    },
    #[error("{} is a symbolic link; promptops does not read or write through links", .0.display())]
    Link(PathBuf),
    #[error("{} is not a regular file", .0.display())]
    NotRegular(PathBuf),
    #[error("{} is {size} bytes, more than the {limit} bytes allowed", path.display())]
    TooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },
    #[error("{} grew past {limit} bytes while it was read", path.display())]
    Grew { path: PathBuf, limit: u64 },
}

impl FsError {
    fn io(what: String, source: std::io::Error) -> FsError {
        FsError::Context { what, source }
    }

    /// What to do about it, when there is something to say.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            FsError::Link(_) => Some("replace the link with the real file or folder"),
            _ => None,
        }
    }
}

pub type Result<T, E = FsError> = std::result::Result<T, E>;

/// Every file promptops looks at: the root files and everything under `prompts/`, each read
/// as far as its role asks. Symbolic links are followed only inside the repository.
pub fn scan(root: &Path, threads: usize) -> Result<Vec<InputFile>> {
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
            let entry = entry.map_err(|error| {
                FsError::io(format!("cannot walk {}", prompts.display()), error.into())
            })?;
            if entry.file_type().is_dir() {
                continue;
            }
            let relative = relative_path(root, entry.path());
            paths.push((relative, entry.into_path()));
        }
    }
    Ok(crate::domain::parallel::map(
        &paths,
        (threads, &super::threads::Threads),
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

// Long on purpose: reads one file as its role asks; the cases (link, size limit, stream) share the
// open file and its metadata.
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
            // Checked after resolving the link and before opening: a FIFO would block the
            // open, a device would never end.
            Link::Inside(resolved) if !std::fs::metadata(&resolved).is_ok_and(|m| m.is_file()) => {
                return FileContent::Unreadable {
                    reason: "it is a link to something that is not a regular file".to_owned(),
                };
            }
            Link::Inside(_) => {}
        }
    } else if !metadata.is_file() {
        return FileContent::Unreadable {
            reason: "not a regular file".to_owned(),
        };
    }
    if matches!(role, Role::Examples { .. }) {
        // Examples are checked as a stream, opened then: memory does not grow with the data
        // set, and the file is opened once.
        let size = std::fs::metadata(path).map_or(0, |metadata| metadata.len());
        if size > limit {
            return FileContent::TooLarge { size, limit };
        }
        let path = path.to_path_buf();
        return FileContent::Stream(crate::domain::source::Opener(std::sync::Arc::new(
            move || {
                let (file, _) = open_regular(&path)?;
                Ok(Box::new(std::io::BufReader::with_capacity(
                    64 * 1024,
                    file.take(limit),
                )) as Box<dyn std::io::BufRead + Send>)
            },
        )));
    }
    let (file, size) = match open_regular(path) {
        Ok(opened) => opened,
        Err(error) => {
            return FileContent::Unreadable {
                reason: error.to_string(),
            };
        }
    };
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

/// Opens a file for reading without blocking (a FIFO swapped in after the checks must not
/// hang the scan) and checks on the open handle that it is a regular file; returns its size.
fn open_regular(path: &Path) -> std::io::Result<(std::fs::File, u64)> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    Ok((file, metadata.len()))
}

/// Where temp files of atomic writes live: a folder that ignores itself in git.
const TEMP_DIR: &str = ".promptops/tmp";

/// Temp files older than this are left over from a killed run.
const STALE_AFTER: std::time::Duration = std::time::Duration::from_hours(1);

/// The repository a command writes into, passed to every write under it: such a write
/// refuses a symbolic link anywhere below the root and keeps its temp file in the root's
/// `.promptops/tmp/` (which git ignores). A write outside any repository (a `--out` folder,
/// `$GITHUB_STEP_SUMMARY`) goes through the free functions of this module instead.
#[derive(Debug)]
pub struct Repository {
    /// Canonical.
    root: PathBuf,
    /// Folders already checked (thousands of cache writes share a few hundred).
    checked: std::sync::Mutex<std::collections::BTreeSet<PathBuf>>,
    /// The temp folder, once made ready (its `.gitignore` written, stale temp files removed).
    temp_ready: std::sync::Once,
}

impl Repository {
    /// The repository at `root` (a canonical path: what `commands::repository::root` finds).
    pub fn new(root: &Path) -> Repository {
        Repository {
            root: root.to_path_buf(),
            checked: std::sync::Mutex::new(std::collections::BTreeSet::new()),
            temp_ready: std::sync::Once::new(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Creates `dir` and its parents, refusing to pass through a symbolic link below the root.
    pub fn create_dir(&self, dir: &Path) -> Result<()> {
        let dir = absolute(dir)?;
        let checked = || {
            self.checked
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if checked().contains(&dir) {
            return Ok(());
        }
        create_dir_checked(Some(&self.root), &dir)?;
        checked().insert(dir);
        Ok(())
    }

    /// [`write_replace`] durably, under the repository.
    pub fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        write_replace_in(Some(self), path, bytes, true)
    }

    /// [`write_replace`], under the repository.
    pub fn write_replace(&self, path: &Path, bytes: &[u8], durable: bool) -> Result<()> {
        write_replace_in(Some(self), path, bytes, durable)
    }

    /// [`open_append_no_follow`], its folders created under the repository.
    pub fn open_append(&self, path: &Path) -> Result<fs_err::File> {
        if let Some(parent) = path.parent() {
            self.create_dir(parent)?;
        }
        open_append_file(path)
    }
}

/// Whether `path` is a symbolic link (not followed).
pub fn is_symlink(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

/// Opens a regular file for reading, without following a link or blocking on a FIFO.
pub fn open_read_regular(path: &Path) -> Result<fs_err::File> {
    open_read_regular_sized(path).map(|(file, _)| file)
}

/// `open_read_regular`, with the file's size from the same `fstat`.
fn open_read_regular_sized(path: &Path) -> Result<(fs_err::File, u64)> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    let file = open_no_follow(path, &mut options)?;
    let metadata = file
        .metadata()
        .map_err(|error| FsError::io(format!("cannot read {}", path.display()), error))?;
    if !metadata.is_file() {
        return Err(FsError::NotRegular(path.to_path_buf()));
    }
    Ok((file, metadata.len()))
}

/// The bytes of a regular file of at most `limit` bytes, opened without following a link and
/// without blocking on a FIFO or device.
pub fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let (file, size) = open_read_regular_sized(path)?;
    if size > limit {
        return Err(FsError::TooLarge {
            path: path.to_path_buf(),
            size,
            limit,
        });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size.min(limit) + 1).unwrap_or(0));
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| FsError::io(format!("cannot read {}", path.display()), error))?;
    if bytes.len() as u64 > limit {
        return Err(FsError::Grew {
            path: path.to_path_buf(),
            limit,
        });
    }
    Ok(bytes)
}

/// Creates `dir` and its parents, outside any repository (see [`Repository::create_dir`]).
pub fn create_dir_safe(dir: &Path) -> Result<()> {
    create_dir_checked(None, &absolute(dir)?)
}

fn create_dir_checked(root: Option<&Path>, dir: &Path) -> Result<()> {
    if let Some(root) = root
        && let Ok(relative) = dir.strip_prefix(root)
    {
        let mut current = root.to_path_buf();
        for component in relative.components() {
            current.push(component);
            if is_symlink(&current) {
                return Err(link_refused(&current));
            }
            if !current.is_dir() {
                // Another worker may create the same folder at the same moment.
                match fs_err::create_dir(&current) {
                    Err(error)
                        if error.kind() == std::io::ErrorKind::AlreadyExists
                            && current.is_dir()
                            && !is_symlink(&current) => {}
                    other => other?,
                }
            }
        }
        return Ok(());
    }
    fs_err::create_dir_all(dir)?;
    Ok(())
}

fn absolute(path: &Path) -> Result<PathBuf> {
    Ok(if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()?.join(path)
    })
}

/// Opens a file for appending (creating it and its folders), never through a symbolic link;
/// outside any repository (see [`Repository::open_append`]).
pub fn open_append_no_follow(path: &Path) -> Result<fs_err::File> {
    if let Some(parent) = path.parent() {
        create_dir_safe(parent)?;
    }
    open_append_file(path)
}

fn open_append_file(path: &Path) -> Result<fs_err::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true).mode(0o666);
    open_no_follow(path, &mut options)
}

/// Appends to a file outside the repository's control (such as `$GITHUB_STEP_SUMMARY`),
/// creating it when missing.
pub fn append(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = fs_err::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(bytes)?;
    Ok(())
}

/// Opens a file for reading and writing (not creating it), never through a symbolic link.
pub fn open_update_no_follow(path: &Path) -> Result<fs_err::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true);
    open_no_follow(path, &mut options)
}

fn open_no_follow(path: &Path, options: &mut std::fs::OpenOptions) -> Result<fs_err::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = options
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|error| refuse_link(path, error))?;
    Ok(fs_err::File::from_parts(file, path))
}

/// The error for a path that is a symbolic link where promptops does not follow one.
fn link_refused(path: &Path) -> FsError {
    FsError::Link(path.to_path_buf())
}

/// An open error, with `ELOOP` (from `O_NOFOLLOW`) said as the link it is.
fn refuse_link(path: &Path, error: std::io::Error) -> FsError {
    if error.raw_os_error() == Some(libc::ELOOP) {
        link_refused(path)
    } else {
        FsError::io(format!("cannot open {}", path.display()), error)
    }
}

/// Writes a file by temp file and rename in the same folder, so a reader sees the old bytes
/// or the new ones, never a mix, and an interruption leaves the old file intact.
/// Outside any repository (see [`Repository::write_atomic`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_replace_in(None, path, bytes, true)
}

/// Temp file + rename; `durable` also syncs the data and the folder (worth it for the registry
/// and summaries, not for thousands of cache entries that can always be fetched again).
///
/// The new file keeps the mode of the file it replaces, else gets 0666 under the umask (a
/// temp file's 0600 would lock out the other users of a container). Under the repository the
/// temp file lives in `.promptops/tmp/`, which git ignores, so a kill mid-write leaves nothing
/// in `git status`; a path that is a link, or whose folder is reached through one, is refused.
pub fn write_replace(path: &Path, bytes: &[u8], durable: bool) -> Result<()> {
    write_replace_in(None, path, bytes, durable)
}

fn write_replace_in(
    within: Option<&Repository>,
    path: &Path,
    bytes: &[u8],
    durable: bool,
) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let path = absolute(path)?;
    let folder = path.parent().unwrap_or(Path::new("/")).to_path_buf();
    match within {
        Some(repository) => repository.create_dir(&folder)?,
        None => create_dir_checked(None, &folder)?,
    }
    if is_symlink(&path) {
        return Err(link_refused(&path));
    }
    let existing_mode = std::fs::metadata(&path)
        .ok()
        .map(|metadata| metadata.permissions().mode() & 0o7777);
    let temp_folder = within.map_or_else(
        || folder.clone(),
        |repository| repository.temp_folder_for(&folder),
    );
    let mut temporary = tempfile::Builder::new()
        .prefix(".promptops-")
        .permissions(std::fs::Permissions::from_mode(0o666))
        .tempfile_in(&temp_folder)
        .map_err(|error| {
            FsError::io(
                format!(
                    "cannot create a temporary file in {}",
                    temp_folder.display()
                ),
                error,
            )
        })?;
    if let Some(mode) = existing_mode {
        temporary
            .as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(|error| {
                FsError::io(format!("cannot set the mode of {}", path.display()), error)
            })?;
    }
    temporary
        .write_all(bytes)
        .and_then(|()| {
            if durable {
                temporary.as_file().sync_all()
            } else {
                Ok(())
            }
        })
        .map_err(|error| FsError::io(format!("cannot write {}", path.display()), error))?;
    temporary
        .persist(&path)
        .map_err(|error| error.error)
        .map_err(|error| FsError::io(format!("cannot replace {}", path.display()), error))?;
    if durable {
        // The rename is done; syncing the folder makes it survive a power cut. A filesystem
        // that cannot sync a folder still has the file.
        if let Err(error) = std::fs::File::open(&folder).and_then(|folder| folder.sync_all()) {
            tracing::debug!("cannot sync the folder {}: {error}", folder.display());
        }
    }
    Ok(())
}

impl Repository {
    /// The folder for the temp file of a write into `folder`: the repository's hidden temp
    /// folder (on the same filesystem, so the rename stays atomic), else `folder` itself.
    fn temp_folder_for(&self, folder: &Path) -> PathBuf {
        if !folder.starts_with(&self.root) {
            return folder.to_path_buf();
        }
        let temp = self.root.join(TEMP_DIR);
        if self.create_dir(&temp).is_err() {
            return folder.to_path_buf();
        }
        self.temp_ready.call_once(|| {
            let ignore = temp.join(".gitignore");
            if !ignore.exists()
                && let Err(error) = std::fs::write(
                    &ignore,
                    "# promptops' temp files; nothing here belongs in git\n*\n",
                )
            {
                tracing::warn!("cannot write {}: {error}", ignore.display());
            }
            // Temp files of runs that were killed mid-write, here and (from older versions) at
            // the root.
            for dir in [temp.as_path(), self.root.as_path()] {
                remove_stale_temp_files(dir);
            }
        });
        temp
    }
}

fn remove_stale_temp_files(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let stale = entry
            .metadata()
            .ok()
            .and_then(|m| m.modified().ok())
            .is_some_and(|at| at.elapsed().is_ok_and(|age| age > STALE_AFTER));
        let ours = entry
            .file_name()
            .to_string_lossy()
            .starts_with(".promptops-");
        if ours
            && stale
            && entry.file_type().is_ok_and(|t| t.is_file())
            && let Err(error) = std::fs::remove_file(entry.path())
        {
            tracing::debug!(
                "cannot remove the stale {}: {error}",
                entry.path().display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Regression (found by bench/eval.py): workers creating the same folder at once failed
    // with "already exists", and the answer being cached was lost.
    #[test]
    fn concurrent_creation_of_one_folder_succeeds_for_every_worker() {
        let root = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(root.keep()).unwrap();
        let repository = Repository::new(&root);
        for round in 0..50 {
            let dir = root.join(format!("round-{round}/a/b/c"));
            let start = std::sync::Barrier::new(8);
            std::thread::scope(|scope| {
                let workers: Vec<_> = (0..8)
                    .map(|_| {
                        scope.spawn(|| {
                            start.wait();
                            repository.create_dir(&dir)
                        })
                    })
                    .collect();
                for worker in workers {
                    worker.join().unwrap().unwrap();
                }
            });
            assert!(dir.is_dir());
        }
    }

    #[test]
    fn a_folder_reached_through_a_link_is_refused() {
        let root = std::fs::canonicalize(tempfile::tempdir().unwrap().keep()).unwrap();
        let repository = Repository::new(&root);
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("linked")).unwrap();
        let error = repository
            .create_dir(&root.join("linked/inner"))
            .unwrap_err();
        assert!(error.to_string().contains("symbolic link"), "{error}");
        assert!(!outside.path().join("inner").exists());
    }
}
