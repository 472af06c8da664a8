use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use promptops::{ExitStatus, UserError};

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
            // A closed pipe (`promptops status | head`) is not an error.
            if error.chain().any(|cause| {
                cause
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitStatus::Success.into();
            }
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "error: {error}");
            for cause in error.chain().skip(1) {
                let _ = writeln!(stderr, "  caused by: {cause}");
            }
            let user = error.downcast_ref::<UserError>();
            if let Some(hint) = user.and_then(|user| user.hint.as_deref()) {
                let _ = writeln!(stderr, "hint: {hint}");
            }
            user.map_or(ExitStatus::Error, |user| user.status).into()
        }
    }
}
