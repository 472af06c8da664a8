//! The pure core: values in, values out. Nothing here touches the filesystem, the network,
//! git, the environment or the clock; the adapters fetch values and carry out decisions.

// Printing, files and the environment belong to the edges (clippy.toml names them).
#![deny(clippy::disallowed_methods, clippy::disallowed_macros)]

pub mod analysis;
pub mod bundle;
pub mod deploy;
pub mod deploy_plan;
pub mod diagnostic;
pub mod eval;
pub mod file_checks;
pub mod history;
pub mod image;
pub mod json;
pub mod layout;
pub mod lifecycle;
pub mod model;
pub mod outcome;
pub mod parallel;
pub mod pipeline;
pub mod plan;
pub mod registry;
pub mod schema;
pub mod serve;
pub mod source;
pub mod task;
pub mod template;
pub mod time;
pub mod trailers;
pub mod yaml;
pub mod yaml_write;
