//! Integration tests: the real binary, run in fresh git repositories in temp folders.

mod architecture;
mod bad_input;
mod bundle;
mod checks;
mod concurrency;
mod deploy;
mod dockerfile;
mod eval;
mod evidence;
mod fuzz;
mod image;
mod init;
mod pipeline;
mod promote;
mod registry;
mod repair;
mod reshape;
mod robustness;
mod schemas;
mod serve;
mod status;
mod support;
mod tags;
mod terminal;
mod validate;
mod workflows;
