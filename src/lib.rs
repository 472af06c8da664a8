//! promptops: the `GitOps` lifecycle for LLM prompts.
//!
//! `main.rs` parses arguments and calls [`run`]; each verb lives in `commands/`, decides in the
//! pure `domain/`, touches the world only through `adapters/`, and prints through `report/`.

pub mod adapters;
pub mod cli;
pub mod commands;
pub mod domain;
pub mod exit;
pub mod report;

use std::path::PathBuf;

pub use exit::{ExitStatus, UserError};

/// Runs one command.
pub fn run(cli: cli::Cli) -> anyhow::Result<ExitStatus> {
    let context = commands::Context {
        repo: cli.repo,
        color: cli.color.for_stderr(),
    };
    match cli.command {
        cli::Command::Validate(args) => commands::validate::run(&context, &args),
        cli::Command::Registry(args) => commands::registry::run(&context, &args),
        cli::Command::Status(args) => commands::status::run(&context, &args),
        cli::Command::Eval(args) => commands::eval::run(&context, args),
        cli::Command::Init(args) => {
            commands::init::run(&context, args.dir.unwrap_or_else(|| PathBuf::from(".")))
        }
    }
}
