//! `promptops bundle --out DIR`: write the release bundle (`domain::bundle`) of what is in
//! production, and print its release id.

use crate::adapters;
use crate::cli::BundleArgs;
use crate::domain::analysis::{Analysis, RegistryState};
use crate::domain::bundle::{self, Bundle, ProductionTask};
use crate::domain::diagnostic::Severity;
use crate::domain::layout;
use crate::domain::outcome::BundleOutcome;
use crate::domain::source::InputFile;
use crate::exit::{ExitStatus, UserError};
use crate::report::{self, Printer};
use crate::settings::Settings;

use super::Outcome;

pub fn run(
    settings: &Settings,
    args: &BundleArgs,
    printer: &mut Printer<'_>,
) -> anyhow::Result<Outcome> {
    let outcome = execute(settings, args)?;
    report::bundle::render(&outcome, super::flags::table_format(args.format), printer)?;
    Ok(Outcome::Bundle(outcome))
}

pub fn execute(settings: &Settings, args: &BundleArgs) -> anyhow::Result<BundleOutcome> {
    let root = super::root(settings)?;
    let _threads = super::threads();
    let (inputs, analysis) = super::scan(&root, false)?;
    let built = release(&root, &inputs, &analysis)?;
    let out = settings.current_dir.join(&args.out);
    if let Ok(mut entries) = std::fs::read_dir(&out)
        && entries.next().is_some()
    {
        return Err(UserError::new(
            ExitStatus::Error,
            format!("{} is not empty; nothing was written", args.out.display()),
        )
        .hint("write a bundle to a new or empty folder")
        .into());
    }
    for (path, bytes) in &built.files {
        adapters::fs::write_atomic(&out.join(path), bytes)?;
    }
    Ok(BundleOutcome {
        release_id: built.release_id,
        dir: args.out.display().to_string(),
        files: built
            .files
            .iter()
            .map(|(path, bytes)| (path.clone(), crate::domain::source::sha256_hex(bytes)))
            .collect(),
    })
}

/// The bundle of a repository that validates clean (its registry current).
pub fn release(
    root: &std::path::Path,
    inputs: &[InputFile],
    analysis: &Analysis,
) -> anyhow::Result<Bundle> {
    let errors = analysis
        .findings
        .iter()
        .filter(|finding| finding.severity == Severity::Error)
        .count();
    if errors > 0 {
        return Err(UserError::new(
            ExitStatus::Error,
            format!("the repository has {errors} error(s); a release is built only from one that validates clean"),
        )
        .hint("`promptops validate` lists them (a stale registry: `promptops registry`)")
        .into());
    }
    let RegistryState::Parsed { registry, .. } = &analysis.registry else {
        return Err(UserError::new(
            ExitStatus::Error,
            format!(
                "{} is missing; a release records what it holds",
                layout::REGISTRY_FILE
            ),
        )
        .hint("run `promptops registry` and commit it")
        .into());
    };
    let mut owned = Vec::new();
    for (id, task) in &analysis.tasks {
        if let (Some(production), Some(metadata)) = (&task.production, &task.metadata) {
            owned.push((
                id.clone(),
                super::file_bytes(root, inputs, &production.path)?,
                super::file_bytes(root, inputs, &metadata.path)?,
            ));
        }
    }
    let tasks: Vec<ProductionTask<'_>> = owned
        .iter()
        .map(|(task, prompt, metadata)| ProductionTask {
            task,
            prompt,
            metadata,
        })
        .collect();
    Ok(bundle::build(&tasks, registry))
}
