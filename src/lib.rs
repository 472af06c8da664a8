//! promptops: the `GitOps` lifecycle for LLM prompts.
//!
//! `main.rs` parses arguments and calls [`run`]: the settings are resolved once, the command
//! executes (deciding in the pure `domain/`, touching the world only through `adapters/`) and
//! returns an outcome, `report/` renders it, and [`exit::status`] maps it to the exit status.

pub mod adapters;
pub mod cli;
pub mod commands;
pub mod domain;
pub mod exit;
pub mod report;
pub mod settings;

use std::io::Write;

pub use exit::{ExitStatus, UserError};

/// Runs one command and returns its exit status.
pub fn run(cli: cli::Cli) -> anyhow::Result<ExitStatus> {
    let settings = settings::Settings::resolve(&cli.global, settings::Environment::from_process())?;
    // Under GitHub Actions no value from a file may start a workflow command on stdout or
    // stderr (`report::actions`).
    let guarded = settings.github_actions();
    if guarded {
        report::actions::guard();
    }
    settings::init_logging(&settings);
    // Not locked for the whole command: progress, the render watchdog and logs write to
    // stderr from other threads while it runs.
    let (mut out, mut err): (Box<dyn Write>, Box<dyn Write>) = if guarded {
        (
            Box::new(report::actions::Guarded::new(std::io::stdout())),
            Box::new(report::actions::Guarded::new(std::io::stderr())),
        )
    } else {
        (Box::new(std::io::stdout()), Box::new(std::io::stderr()))
    };
    let mut printer = report::Printer {
        out: &mut out,
        err: &mut err,
        color: settings.color,
    };
    let outcome = commands::run(&settings, cli.command, &mut printer);
    out.flush()?;
    err.flush()?;
    let outcome = outcome?;
    if let Some(path) = &settings.github_output {
        let lines = report::outputs::lines(&report::outputs::outputs(&outcome));
        if !lines.is_empty() {
            adapters::fs::append(path, lines.as_bytes())?;
        }
    }
    Ok(exit::status(&outcome))
}
