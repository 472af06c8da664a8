//! The only code that touches the world: files, the eval store, git, LLM APIs.

pub mod aws;
pub mod cache;
pub mod eval_store;
pub mod fs;
pub mod git;
pub mod http_body;
pub mod http_server;
pub mod journal;
pub mod llm;
pub mod oci;
pub mod process;
pub mod threads;
