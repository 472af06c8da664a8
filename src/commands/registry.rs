//! `promptops registry`: rewrite `prompt_registry.yaml` from the files, or check it is current.

use crate::adapters;
use crate::cli::RegistryArgs;
use crate::domain::analysis::RegistryState;
use crate::domain::diagnostic::{Code, Diagnostic, Severity, Shown};
use crate::domain::outcome::RegistryOutcome;
use crate::domain::{layout, registry};
use crate::report::{self, Printer};
use crate::settings::Settings;

use super::Outcome;

pub fn run(
    settings: &Settings,
    args: &RegistryArgs,
    printer: &mut Printer<'_>,
) -> anyhow::Result<Outcome> {
    let outcome = execute(settings, args)?;
    report::registry::render(&outcome, printer)?;
    Ok(Outcome::Registry(outcome))
}

pub fn execute(settings: &Settings, args: &RegistryArgs) -> anyhow::Result<RegistryOutcome> {
    let root = if args.check || args.dry_run {
        super::repository::root(settings)?
    } else {
        super::repository::root_for_change(settings)?
    };
    let analysis = super::repository::load(&root, false)?;
    let file = layout::REGISTRY_FILE;

    if matches!(analysis.registry, RegistryState::Broken) {
        let findings: Vec<Diagnostic> = analysis
            .findings
            .iter()
            .filter(|f| f.file == file)
            .cloned()
            .collect();
        return Ok(RegistryOutcome::Unreadable {
            shown: Shown::new(findings, &analysis.sources),
        });
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
        return Ok(RegistryOutcome::Blocked {
            shown: Shown::new(blocking, &analysis.sources),
            check: args.check,
        });
    }

    let expected = analysis.expected_registry;
    let tasks = expected.tasks.len();
    let text = registry::render(&expected);
    let committed = match &analysis.registry {
        RegistryState::Parsed { text, .. } => Some(text.as_str()),
        _ => None,
    };
    if args.dry_run {
        return Ok(RegistryOutcome::DryRun { text });
    }
    if committed == Some(text.as_str()) {
        return Ok(RegistryOutcome::UpToDate {
            tasks,
            check: args.check,
        });
    }
    if args.check {
        return Ok(RegistryOutcome::Stale {
            diff: registry::diff(committed.unwrap_or(""), &text, file),
            missing: committed.is_none(),
        });
    }
    // The rewrite reads the files again and writes under the repository lock, so it never
    // writes back a registry read before another command's change (a check, a dry run and a
    // refusal take no lock: they write nothing).
    let _lock =
        crate::adapters::journal::lock(&root, std::time::Duration::from_mins(1), "registry")?;
    let analysis = super::repository::load(&root, false)?;
    let sound = !matches!(analysis.registry, RegistryState::Broken)
        && !analysis.findings.iter().any(|f| {
            f.severity == Severity::Error
                && f.code != Code::RegistryStale.as_str()
                && f.code != Code::RegistryMissing.as_str()
        });
    if !sound {
        return Err(crate::exit::UserError::new(
            crate::exit::ExitStatus::Error,
            "the repository changed while the registry was rewritten; nothing was written",
        )
        .hint("run `promptops registry` again")
        .into());
    }
    let expected = analysis.expected_registry;
    let tasks = expected.tasks.len();
    adapters::fs::Repository::new(&root)
        .write_atomic(&root.join(file), registry::render(&expected).as_bytes())?;
    Ok(RegistryOutcome::Written { tasks })
}
