//! `promptops init [DIR]`: scaffold a prompt repository that validates clean.

use std::path::PathBuf;

use crate::adapters;
use crate::cli::InitArgs;
use crate::domain::layout;
use crate::domain::outcome::InitOutcome;
use crate::domain::registry;
use crate::domain::schema::SchemaKind;
use crate::exit::{ExitStatus, UserError};
use crate::report::{self, Printer};
use crate::settings::Settings;

use super::Outcome;

const SAMPLE_TASK: &str = "classify-sentiment";

/// The files `init` writes, by repository-relative path.
fn scaffold() -> Vec<(String, String)> {
    let mut files = vec![
        (
            format!("prompts/{}/{SAMPLE_TASK}.yaml", layout::PRODUCTION),
            include_str!("init_files/prompt.yaml").to_owned(),
        ),
        (
            format!("prompts/{}/{SAMPLE_TASK}.yaml", layout::METADATA),
            include_str!("init_files/metadata.yaml").to_owned(),
        ),
        (
            format!("prompts/{}/{SAMPLE_TASK}.jsonl", layout::EXAMPLES),
            include_str!("init_files/examples.jsonl").to_owned(),
        ),
        (
            layout::CONFIG_FILE.to_owned(),
            include_str!("init_files/promptops.yaml").to_owned(),
        ),
        (
            ".pre-commit-config.yaml".to_owned(),
            include_str!("init_files/pre-commit-config.yaml").to_owned(),
        ),
    ];
    for layer in [layout::TEMPLATES, layout::EVALS, layout::ARCHIVE] {
        files.push((format!("prompts/{layer}/.gitkeep"), String::new()));
    }
    for kind in SchemaKind::ALL {
        files.push((format!("schemas/{}", kind.file_name()), kind.render()));
    }
    files
}

pub fn run(
    settings: &Settings,
    args: &InitArgs,
    printer: &mut Printer<'_>,
) -> anyhow::Result<Outcome> {
    let outcome = execute(settings, args)?;
    report::init::render(&outcome, printer)?;
    Ok(Outcome::Init(outcome))
}

/// Writes the scaffold into `DIR` (or `--repo`, or the current folder) and initialises git.
pub fn execute(settings: &Settings, args: &InitArgs) -> anyhow::Result<InitOutcome> {
    let dir = match (&args.dir, &settings.repo) {
        (Some(dir), _) => dir.clone(),
        (None, Some(repo)) => repo.clone(),
        (None, None) => PathBuf::from("."),
    };
    let dir = settings.current_dir.join(dir);
    fs_err::create_dir_all(&dir)?;
    let files = scaffold();
    let taken: Vec<&str> = [layout::PROMPTS_DIR, layout::REGISTRY_FILE]
        .into_iter()
        .chain(files.iter().map(|(path, _)| path.as_str()))
        .filter(|path| dir.join(path).exists())
        .collect();
    if !taken.is_empty() {
        return Err(UserError::new(
            ExitStatus::Error,
            format!(
                "{} already holds {}; nothing was written",
                shown_dir(args, settings).display(),
                taken.join(", ")
            ),
        )
        .hint("run `promptops init` in an empty folder or a repository without prompts/")
        .into());
    }
    // The new repository: its files are written as any repository's are (no link followed).
    let repository = adapters::fs::Repository::new(&dir);
    for (path, text) in &files {
        repository.write_atomic(&dir.join(path), text.as_bytes())?;
    }
    let gitignore_updated = add_gitignore(&repository)?;
    let analysis = super::repository::load(&dir, false)?;
    let text = registry::render(&analysis.expected_registry);
    repository.write_atomic(&dir.join(layout::REGISTRY_FILE), text.as_bytes())?;
    let git_initialised = adapters::git::ensure_repository(&dir)?;
    Ok(InitOutcome {
        dir: shown_dir(args, settings).display().to_string(),
        files: files
            .into_iter()
            .map(|(path, _)| path)
            .chain([layout::REGISTRY_FILE.to_owned()])
            .collect(),
        git_initialised,
        gitignore_updated,
        sample_task: SAMPLE_TASK.to_owned(),
    })
}

/// The folder as the user named it.
fn shown_dir(args: &InitArgs, settings: &Settings) -> PathBuf {
    args.dir
        .clone()
        .or_else(|| settings.repo.clone())
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Writes `.gitignore`, or adds promptops' lines to an existing one; false when it already has
/// them.
fn add_gitignore(repository: &adapters::fs::Repository) -> anyhow::Result<bool> {
    const LINES: &str = include_str!("init_files/gitignore");
    let path = repository.root().join(".gitignore");
    let existing = match fs_err::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(error) => return Err(error.into()),
    };
    if existing.contains(".promptops/tmp/") {
        return Ok(false);
    }
    let mut text = existing;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    if !text.is_empty() {
        text.push('\n');
    }
    text.push_str(LINES);
    repository.write_atomic(&path, text.as_bytes())?;
    Ok(true)
}
