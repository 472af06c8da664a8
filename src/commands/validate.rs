//! `promptops validate [PATH...]`: every problem in every file, sorted, with <file:line>.

use std::collections::BTreeSet;
use std::path::Path;

use crate::adapters;
use crate::cli::{FindingsFormat, ValidateArgs};
use crate::domain::diagnostic::{Diagnostic, Shown};
use crate::domain::layout;
use crate::domain::outcome::ValidateOutcome;
use crate::exit::{ExitStatus, UserError};
use crate::report::{self, Printer};
use crate::settings::Settings;

use super::Outcome;

pub fn run(
    settings: &Settings,
    args: &ValidateArgs,
    printer: &mut Printer<'_>,
) -> anyhow::Result<Outcome> {
    let outcome = execute(settings, args)?;
    let format = match args.format {
        FindingsFormat::Human => report::validate::FindingsFormat::Human,
        FindingsFormat::Json => report::validate::FindingsFormat::Json,
        FindingsFormat::Github => report::validate::FindingsFormat::Github,
    };
    report::validate::render(&outcome, format, printer)?;
    if args.format == FindingsFormat::Github
        && let Some(path) = &settings.github_step_summary
    {
        // GitHub's protocol: every step appends its Markdown to this one file.
        let markdown = report::validate::step_summary(&outcome);
        adapters::fs::append(path, markdown.as_bytes())?;
    }
    Ok(Outcome::Validate(outcome))
}

/// Checks the repository (or the files and folders named) and returns the findings.
pub fn execute(settings: &Settings, args: &ValidateArgs) -> anyhow::Result<ValidateOutcome> {
    let root = super::repository::root(settings)?;
    let mut selection = select(&root, &settings.current_dir, &args.paths)?;
    let analysis = super::repository::load(&root, args.strict)?;
    if let Some(selection) = &mut selection {
        selection.add_tasks_under_folders(&analysis);
    }
    if let Some(since) = &args.changed_since {
        selection = Some(Selection {
            paths: Vec::new(),
            tasks: super::repository::changed_tasks(&root, &analysis, "--changed-since", since)?,
        });
    }
    let mut sources = analysis.sources.clone();
    let eval_findings = super::evidence::findings(&root, &analysis, &mut sources)?;
    let mut findings: Vec<Diagnostic> = analysis
        .findings
        .iter()
        .chain(&eval_findings)
        .filter(|finding| {
            selection
                .as_ref()
                .is_none_or(|selection| selection.keeps(finding))
        })
        .cloned()
        .collect();
    crate::domain::diagnostic::sort_findings(&mut findings);
    // The counts are of what was checked: with paths, their files and tasks.
    let (files, tasks) = match &selection {
        None => (analysis.files_read, analysis.tasks.len()),
        Some(selection) => {
            let files = analysis
                .files
                .iter()
                .filter(|path| selection.keeps_file(path))
                .count();
            (files, selection.tasks.len())
        }
    };
    Ok(ValidateOutcome {
        shown: Shown::new(findings, &sources),
        files,
        tasks,
    })
}

/// The files named on the command line and the tasks they belong to.
struct Selection {
    /// Repository-relative files, or folders ending in `/`.
    paths: Vec<String>,
    tasks: BTreeSet<String>,
}

impl Selection {
    /// A folder takes in every task that has a file in it, with that task's cross-file checks.
    fn add_tasks_under_folders(&mut self, analysis: &crate::domain::analysis::Analysis) {
        let folders: Vec<&String> = self
            .paths
            .iter()
            .filter(|path| path.ends_with('/'))
            .collect();
        if folders.is_empty() {
            return;
        }
        let everything = folders.iter().any(|folder| folder.as_str() == "/");
        let tasks: Vec<String> = analysis
            .tasks
            .iter()
            .filter(|(_, task)| {
                everything
                    || task.paths().any(|path| {
                        folders
                            .iter()
                            .any(|folder| path.starts_with(folder.as_str()))
                    })
            })
            .map(|(id, _)| id.clone())
            .collect();
        self.tasks.extend(tasks);
    }

    /// Whether the file at `path` is among what was checked.
    fn keeps_file(&self, path: &str) -> bool {
        layout::classify(path)
            .task()
            .is_some_and(|task| self.tasks.contains(task))
            || self.paths.iter().any(|selected| {
                path == selected
                    || (selected.ends_with('/') && path.starts_with(selected.as_str()))
                    || selected == "/"
            })
    }

    fn keeps(&self, finding: &Diagnostic) -> bool {
        finding
            .task
            .as_ref()
            .is_some_and(|task| self.tasks.contains(task))
            || self.paths.iter().any(|path| {
                finding.file == *path
                    || (path.ends_with('/') && finding.file.starts_with(path.as_str()))
                    || path == "/"
            })
    }
}

fn select(
    root: &Path,
    here: &Path,
    paths: &[std::path::PathBuf],
) -> anyhow::Result<Option<Selection>> {
    if paths.is_empty() {
        return Ok(None);
    }
    let mut selection = Selection {
        paths: Vec::new(),
        tasks: BTreeSet::new(),
    };
    for path in paths {
        let absolute = here.join(path);
        // A path that does not exist is a usage error: a typo in a CI path must never give a
        // green gate. (A link is taken as itself, so one pointing outside is still reported.)
        if std::fs::symlink_metadata(&absolute).is_err() {
            return Err(UserError::new(
                ExitStatus::Error,
                format!("{}: no such file or folder", path.display()),
            )
            .hint("check the path; `promptops validate` with no path checks the whole repository")
            .into());
        }
        let resolved = match absolute.parent().zip(absolute.file_name()) {
            Some((parent, name)) => fs_err::canonicalize(parent)?.join(name),
            None => fs_err::canonicalize(&absolute)?,
        };
        if !resolved.starts_with(root) {
            return Err(UserError::new(
                ExitStatus::Error,
                format!(
                    "{} is outside the prompt repository {}",
                    path.display(),
                    root.display()
                ),
            )
            .into());
        }
        let mut relative = crate::adapters::fs::relative_path(root, &resolved);
        if resolved.is_dir() {
            relative.push('/');
        }
        if let Some(task) = layout::classify(&relative).task() {
            selection.tasks.insert(task.to_owned());
        }
        selection.paths.push(relative);
    }
    Ok(Some(selection))
}
