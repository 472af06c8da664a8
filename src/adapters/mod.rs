//! The only code that touches the world: files, git.

pub mod fs;
pub mod git;
