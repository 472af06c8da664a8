//! `promptops completions SHELL` and the hidden `promptops man`: generated from the CLI's
//! definition, so they cannot drift from it.

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crate::report::Printer;

use super::Outcome;

pub fn completions(args: &CompletionsArgs, printer: &mut Printer<'_>) -> anyhow::Result<Outcome> {
    let mut command = Cli::command();
    clap_complete::generate(args.shell, &mut command, "promptops", printer.out);
    Ok(Outcome::Generated)
}

pub fn man(printer: &mut Printer<'_>) -> anyhow::Result<Outcome> {
    clap_mangen::Man::new(Cli::command()).render(printer.out)?;
    Ok(Outcome::Generated)
}
