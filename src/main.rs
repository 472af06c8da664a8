use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use promptops::ExitStatus;

fn main() -> ExitCode {
    promptops::adapters::git::configure();
    let cli = match promptops::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() {
                ExitStatus::Error.into()
            } else {
                ExitStatus::Success.into()
            };
        }
    };
    match promptops::run(cli) {
        Ok(status) => status.into(),
        Err(error) => {
            if promptops::exit::is_broken_pipe(&error) {
                return ExitStatus::Success.into();
            }
            let (status, hint) = promptops::exit::error_status(&error);
            // An error names files and values from them: under GitHub Actions it goes through
            // the same guard as the rest of the output.
            let mut stderr: Box<dyn Write> = if promptops::report::actions::is_guarded() {
                Box::new(promptops::report::actions::Guarded::new(std::io::stderr()))
            } else {
                Box::new(std::io::stderr().lock())
            };
            let _ = writeln!(stderr, "error: {error}");
            for cause in error.chain().skip(1) {
                let _ = writeln!(stderr, "  caused by: {cause}");
            }
            if let Some(hint) = hint {
                let _ = writeln!(stderr, "hint: {hint}");
            }
            status.into()
        }
    }
}
