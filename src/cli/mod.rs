//! Command-line arguments. Doc comments here are the `--help` text; no logic lives here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::report::ColorChoice;

/// `GitOps` lifecycle for LLM prompts: validate, evaluate, promote and deploy prompts kept in git.
#[derive(Debug, Parser)]
#[command(
    name = "promptops",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// The prompt repository [default: found from the current folder]
    #[arg(long, global = true, value_name = "DIR", env = "PROMPTOPS_REPO")]
    pub repo: Option<PathBuf>,
    /// When to colour messages (`NO_COLOR` is honoured)
    #[arg(long, global = true, value_enum, default_value_t, value_name = "WHEN")]
    pub color: ColorChoice,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check every prompt, metadata, examples and registry file; report all problems with <file:line>
    Validate(ValidateArgs),
    /// Rewrite `prompt_registry.yaml` from the files (deterministic; history is kept)
    Registry(RegistryArgs),
    /// One line per task: production and candidate versions, threshold, score, last change
    Status(StatusArgs),
    /// Scaffold a new prompt repository with a sample task that validates clean
    Init(InitArgs),
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Files or folders to check, with the cross-file checks they take part in [default: all]
    pub paths: Vec<PathBuf>,
    /// Treat problems in prompts/00-templates/ as errors, not warnings
    #[arg(long)]
    pub strict: bool,
    /// How to print findings
    #[arg(long, value_enum, default_value_t)]
    pub format: FindingsFormat,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum FindingsFormat {
    /// Readable text with source lines, on stderr
    #[default]
    Human,
    /// One JSON document on stdout
    Json,
    /// GitHub Actions annotations on stdout
    Github,
}

#[derive(Debug, Args)]
pub struct RegistryArgs {
    /// Write nothing; exit 1 and print the difference if the committed registry is stale
    #[arg(long, conflicts_with = "dry_run")]
    pub check: bool,
    /// Write nothing; print the registry that would be written to stdout
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// How to print the table
    #[arg(long, value_enum, default_value_t)]
    pub format: TableFormat,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum TableFormat {
    #[default]
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to create the repository [default: the current folder]
    pub dir: Option<PathBuf>,
}
