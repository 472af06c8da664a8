//! `promptops registry`: rewrite `prompt_registry.yaml` from the files, or check it is current.

use std::io::Write;

use crate::cli::RegistryArgs;
use crate::domain::analysis::RegistryState;
use crate::domain::diagnostic::{Code, Diagnostic, Severity};
use crate::domain::{layout, registry};
use crate::exit::{ExitStatus, UserError};
use crate::report::human;

use super::Context;

pub fn run(context: &Context, args: &RegistryArgs) -> anyhow::Result<ExitStatus> {
    let root = context.root()?;
    let analysis = super::load(&root, false)?;
    let file = layout::REGISTRY_FILE;
    let mut stderr = std::io::stderr().lock();

    if matches!(analysis.registry, RegistryState::Broken) {
        let findings: Vec<Diagnostic> = analysis
            .findings
            .iter()
            .filter(|f| f.file == file)
            .cloned()
            .collect();
        write!(
            stderr,
            "{}",
            super::render_findings(&analysis, &findings, context.color)
        )?;
        return Err(UserError::new(ExitStatus::Error, format!("{file} cannot be read, so the history it holds cannot be kept"))
            .hint(format!("fix {file} as shown above (or restore it from git); delete it only to start a new, empty history"))
            .into());
    }
    // The registry is built from the files: they must be sound first. Staleness of the
    // registry itself is what this command repairs.
    let blocking: Vec<Diagnostic> = analysis
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .filter(|f| {
            f.code != Code::RegistryStale.as_str() && f.code != Code::RegistryMissing.as_str()
        })
        .cloned()
        .collect();
    if !blocking.is_empty() {
        write!(
            stderr,
            "{}",
            super::render_findings(&analysis, &blocking, context.color)
        )?;
        return Err(UserError::new(
            ExitStatus::Failure,
            format!(
                "{} in the prompt files; {file} was not {}",
                human::count_phrase(blocking.len(), 0),
                if args.check { "checked" } else { "written" }
            ),
        )
        .hint("fix the errors above (`promptops validate` lists them), then run this again")
        .into());
    }

    let expected = analysis.expected_registry;
    let text = registry::render(&expected);
    let committed = match &analysis.registry {
        RegistryState::Parsed { text, .. } => Some(text.as_str()),
        _ => None,
    };
    if args.dry_run {
        std::io::stdout().lock().write_all(text.as_bytes())?;
        return Ok(ExitStatus::Success);
    }
    if args.check {
        if committed == Some(text.as_str()) {
            writeln!(
                stderr,
                "{file} is up to date ({})",
                human::plural(expected.tasks.len(), "task")
            )?;
            return Ok(ExitStatus::Success);
        }
        std::io::stdout()
            .lock()
            .write_all(registry::diff(committed.unwrap_or(""), &text, file).as_bytes())?;
        let state = if committed.is_some() {
            "stale"
        } else {
            "missing"
        };
        writeln!(stderr, "error: {file} is {state}")?;
        writeln!(
            stderr,
            "hint: run `promptops registry` and commit the result"
        )?;
        return Ok(ExitStatus::Failure);
    }
    if committed == Some(text.as_str()) {
        writeln!(
            stderr,
            "{file} is already up to date ({})",
            human::plural(expected.tasks.len(), "task")
        )?;
        return Ok(ExitStatus::Success);
    }
    crate::adapters::fs::write_atomic(&root.join(file), text.as_bytes())?;
    writeln!(
        stderr,
        "wrote {file} ({})",
        human::plural(expected.tasks.len(), "task")
    )?;
    Ok(ExitStatus::Success)
}
