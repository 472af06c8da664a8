//! One module per verb. Each has `execute(&Settings, args) -> Outcome`: load through the
//! adapters, decide in the domain, apply through the adapters, print nothing. `run` renders
//! the outcome through `report/`; `exit::status` maps it to the exit status.

pub mod archive;
pub mod bundle;
pub mod deploy;
pub mod eval;
mod evidence;
pub mod flags;
pub mod generate;
pub mod history;
pub mod image;
pub mod init;
mod lifecycle;
pub mod pipeline;
pub mod promote;
pub mod registry;
pub mod repair;
pub mod report;
pub mod repository;
pub mod rollback;
pub mod runtime;
pub mod serve;
pub mod status;
pub mod validate;

use crate::cli::Command;
pub use crate::domain::outcome::Outcome;
use crate::report::Printer;
use crate::settings::Settings;

/// Runs one command and renders its outcome.
pub fn run(
    settings: &Settings,
    command: Command,
    printer: &mut Printer<'_>,
) -> anyhow::Result<Outcome> {
    match command {
        Command::Validate(args) => validate::run(settings, &args, printer),
        Command::Registry(args) => registry::run(settings, &args, printer),
        Command::Status(args) => status::run(settings, &args, printer),
        Command::Eval(args) => eval::run(settings, args, printer),
        Command::Init(args) => init::run(settings, &args, printer),
        Command::Promote(args) => promote::run(settings, &args, printer),
        Command::History(args) => history::run(settings, &args, printer),
        Command::Repair(args) => repair::run(settings, &args, printer),
        Command::Bundle(args) => bundle::run(settings, &args, printer),
        Command::Archive(args) => archive::run(settings, &args, printer),
        Command::Rollback(args) => rollback::run(settings, &args, printer),
        Command::Serve(args) => serve::run(settings, &args, printer),
        Command::Healthcheck(args) => serve::healthcheck(settings, &args, printer),
        Command::Image(args) => image::run(settings, &args, printer),
        Command::Deploy(args) => deploy::run(settings, &args, printer),
        Command::Pipeline(args) => pipeline::run(settings, &args, printer),
        Command::Report(crate::cli::ReportCommand::Pr(args)) => {
            report::pr(settings, &args, printer)
        }
        Command::Completions(args) => generate::completions(&args, printer),
        Command::Man => generate::man(printer),
    }
}
