//! `promptops bundle --out DIR`: write the release bundle (`domain::bundle`) of what is in
//! production, and print its release id.

use crate::adapters;
use crate::cli::BundleArgs;
use crate::domain::outcome::BundleOutcome;
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
    let root = super::repository::root(settings)?;
    let _threads = super::runtime::threads();
    let (inputs, analysis) = super::repository::scan(&root, false)?;
    let built = super::repository::release(&root, &inputs, &analysis)?;
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
    // A bundle written inside the repository is written as its files are (no link followed).
    let repository = adapters::fs::Repository::new(&root);
    for (path, bytes) in &built.files {
        repository.write_atomic(&out.join(path), bytes)?;
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
