//! One file per verb: load through the adapters, decide in the domain, apply, report.

pub mod eval;
pub mod init;
pub mod registry;
pub mod status;
pub mod validate;

use std::path::{Path, PathBuf};

use crate::adapters;
use crate::domain::analysis::{self, Analysis, Options};
use crate::domain::diagnostic::Diagnostic;
use crate::exit::{ExitStatus, UserError};

/// What every command gets from the global flags.
#[derive(Clone, Debug)]
pub struct Context {
    pub repo: Option<PathBuf>,
    pub color: bool,
}

impl Context {
    /// The prompt repository's root: `--repo`, or found from the current folder.
    pub fn root(&self) -> anyhow::Result<PathBuf> {
        let root = self.find_root()?;
        adapters::fs::set_root(&root);
        Ok(root)
    }

    fn find_root(&self) -> anyhow::Result<PathBuf> {
        if let Some(repo) = &self.repo {
            if !repo.is_dir() {
                return Err(UserError::new(
                    ExitStatus::Error,
                    format!("--repo {}: no such folder", repo.display()),
                )
                .into());
            }
            return Ok(fs_err::canonicalize(repo)?);
        }
        let here = std::env::current_dir()?;
        let found = adapters::git::find_root(&here).ok_or_else(|| {
            UserError::new(ExitStatus::Error, format!("{} is not inside a prompt repository or a git repository", here.display()))
                .hint("run it inside the repository, pass --repo DIR, or create one with `promptops init`")
        })?;
        Ok(fs_err::canonicalize(found)?)
    }
}

/// Worker threads for reading and checking files.
pub fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// Findings as people read them, with the source lines they point at (the bytes the scan
/// read: a file is never opened again to show it).
pub fn render_findings(analysis: &Analysis, findings: &[Diagnostic], color: bool) -> String {
    crate::report::human::render(findings, &analysis.sources, color)
}

/// Reads and analyses the repository at `root`.
pub fn load(root: &Path, strict: bool) -> anyhow::Result<Analysis> {
    let threads = threads();
    let inputs = adapters::fs::scan(root, threads)?;
    Ok(analysis::analyze(&inputs, Options { strict, threads }))
}
