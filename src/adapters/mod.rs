//! The only code that touches the world: files, git, LLM APIs.

pub mod cache;
pub mod fs;
pub mod git;
pub mod llm;
