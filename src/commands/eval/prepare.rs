//! Preparing an eval: which tasks, whether their files are sound, and each task's prompts,
//! scorers and examples, ready for the engine.

use std::collections::HashSet;
use std::path::Path;

use crate::adapters;
use crate::domain::analysis::{Analysis, PromptEntry, Task};
use crate::domain::diagnostic::{Diagnostic, Severity};
use crate::domain::eval::record::{ExamplesRef, PromptRef, Variant};
use crate::domain::eval::render::Renderer;
use crate::domain::eval::scorers::{self, Scorer};
use crate::domain::eval::shard::Shard;
use crate::domain::layout;
use crate::domain::model::ProjectConfig;
use crate::exit::{ExitStatus, UserError};

use super::execute::{Prepared, Side};

fn prompt_of(task: &Task, variant: Variant) -> Option<&PromptEntry> {
    match variant {
        Variant::Production => task.production.as_ref(),
        Variant::Candidate => task.candidate.as_ref(),
    }
}

pub(super) fn select_tasks(
    analysis: &Analysis,
    names: &[String],
    variant: Variant,
) -> anyhow::Result<Vec<String>> {
    let what = match variant {
        Variant::Production => "production prompt (prompts/02-production/)",
        Variant::Candidate => "candidate (prompts/00-templates/)",
    };
    if names.is_empty() {
        let all: Vec<String> = analysis
            .tasks
            .iter()
            .filter(|(_, task)| prompt_of(task, variant).is_some())
            .map(|(id, _)| id.clone())
            .collect();
        if all.is_empty() {
            return Err(
                UserError::new(ExitStatus::Error, format!("no task has a {what}"))
                    .hint("name a task, or add a prompt first")
                    .into(),
            );
        }
        return Ok(all);
    }
    let mut selected = Vec::new();
    for name in names {
        let Some(task) = analysis.tasks.get(name) else {
            let known: Vec<&str> = analysis.tasks.keys().map(String::as_str).collect();
            return Err(
                UserError::new(ExitStatus::Error, format!("no task `{name}`"))
                    .hint(format!("the tasks are: {}", known.join(", ")))
                    .into(),
            );
        };
        if prompt_of(task, variant).is_none() {
            return Err(UserError::new(
                ExitStatus::Error,
                format!("task `{name}` has no {what}"),
            )
            .hint(match variant {
                Variant::Production => "evaluate its candidate with --candidate".to_owned(),
                Variant::Candidate => format!(
                    "write prompts/{}/{name}.yaml, or evaluate production without --candidate",
                    layout::TEMPLATES
                ),
            })
            .into());
        }
        if !selected.contains(name) {
            selected.push(name.clone());
        }
    }
    Ok(selected)
}

/// The errors in the files this eval needs: API calls are not spent on files `validate`
/// rejects.
pub(super) fn blocking_findings(
    analysis: &Analysis,
    selected: &[String],
    variant: Variant,
    baseline: bool,
) -> Vec<Diagnostic> {
    let mut used: HashSet<&str> = HashSet::from([layout::CONFIG_FILE]);
    for id in selected {
        let task = &analysis.tasks[id];
        used.extend(prompt_of(task, variant).map(|entry| entry.path.as_str()));
        if baseline {
            used.extend(task.production.as_ref().map(|entry| entry.path.as_str()));
        }
        used.extend(task.metadata.as_ref().map(|entry| entry.path.as_str()));
        used.extend(task.examples.as_ref().map(|entry| entry.path.as_str()));
    }
    analysis
        .findings
        .iter()
        .filter(|finding| finding.severity == Severity::Error)
        .filter(|finding| used.contains(finding.file.as_str()))
        .cloned()
        .collect()
}

fn side(entry: &PromptEntry, config: &ProjectConfig) -> anyhow::Result<Side> {
    let parsed = entry.parsed.as_ref().ok_or_else(|| {
        UserError::new(ExitStatus::Error, format!("{} cannot be read", entry.path))
            .hint("run `promptops validate` to see why")
    })?;
    let renderer = Renderer::new(&parsed.prompt)
        .map_err(|error| UserError::new(ExitStatus::Error, format!("{}: {error}", entry.path)))?;
    let model = &parsed.prompt.model;
    let price = config
        .providers
        .get(&model.provider)
        .and_then(|provider| provider.prices.get(&model.name))
        .copied();
    Ok(Side {
        prompt: parsed.prompt.clone(),
        prompt_ref: PromptRef {
            path: entry.path.clone(),
            version: parsed.prompt.version.clone(),
            sha256: entry.sha256.clone(),
        },
        renderer,
        output_schema: parsed.output_validator.clone(),
        price,
    })
}

/// The task's scorers (`validate` has checked their options, so an error here is rare).
fn compile_scorers(
    id: &str,
    metadata: &crate::domain::model::TaskMetadata,
) -> anyhow::Result<Vec<Scorer>> {
    metadata
        .scorers
        .iter()
        .map(|spec| {
            scorers::compile(spec).map_err(|error| {
                UserError::new(
                    ExitStatus::Error,
                    format!("a scorer of `{id}`: {}", error.message),
                )
                .into()
            })
        })
        .collect()
}

// Long on purpose: readies one task in the order the run needs it (prompts, metadata, scorers,
// prices, examples); each step's error names what to add.
pub(super) fn prepare(
    root: &Path,
    analysis: &Analysis,
    id: &str,
    variant: Variant,
    baseline: bool,
    shard: Option<Shard>,
) -> anyhow::Result<Prepared> {
    let task = &analysis.tasks[id];
    let entry = prompt_of(task, variant).expect("selected tasks have the prompt");
    prepare_entry(root, analysis, id, entry, variant, baseline, shard)
}

/// `prepare` for a given prompt file of the task (an archived version, for a rollback's
/// check), logged as `variant`.
pub(super) fn prepare_entry(
    root: &Path,
    analysis: &Analysis,
    id: &str,
    entry: &PromptEntry,
    variant: Variant,
    baseline: bool,
    shard: Option<Shard>,
) -> anyhow::Result<Prepared> {
    let task = &analysis.tasks[id];
    let main = side(entry, &analysis.config)?;
    let baseline = if baseline {
        let production = task.production.as_ref().ok_or_else(|| {
            UserError::new(
                ExitStatus::Error,
                format!("task `{id}` has no production prompt to compare with"),
            )
            .hint("drop --baseline; there is nothing to compare with yet")
        })?;
        Some(side(production, &analysis.config)?)
    } else {
        None
    };
    let metadata = task
        .metadata
        .as_ref()
        .and_then(|entry| entry.parsed.as_ref().map(|p| (entry, p)));
    let Some((_, metadata)) = metadata else {
        return Err(UserError::new(
            ExitStatus::Error,
            format!("task `{id}` has no task metadata"),
        )
        .hint(format!(
            "create prompts/{}/{id}.yaml with its threshold and scorers",
            layout::METADATA
        ))
        .into());
    };
    let scorers = compile_scorers(id, &metadata.metadata)?;
    let needs_price = scorers
        .iter()
        .any(|scorer| matches!(scorer.kind, scorers::Kind::Cost { .. }));
    if needs_price && main.price.is_none() {
        let model = &main.prompt.model;
        return Err(UserError::new(
            ExitStatus::Error,
            format!(
                "task `{id}` has a `cost` scorer, but promptops.yaml gives no price for model `{}` of provider `{}`",
                model.name, model.provider
            ),
        )
        .hint(format!(
            "add `prices: {{{}: {{input_per_million: ..., output_per_million: ...}}}}` under `providers.{}`",
            model.name, model.provider
        ))
        .into());
    }
    let Some(examples) = &task.examples else {
        return Err(
            UserError::new(ExitStatus::Error, format!("task `{id}` has no examples"))
                .hint(format!(
                    "create prompts/{}/{id}.jsonl with one JSON example per line",
                    layout::EXAMPLES
                ))
                .into(),
        );
    };
    // Counted from the validated file, for progress; the run streams the file itself. A
    // shard's share is counted by a quick pass over the ids.
    let total = match (examples.parsed.as_ref(), shard) {
        (None, _) => 0,
        (Some(parsed), None) => parsed.count,
        (Some(_), Some(shard)) => count_in_shard(&root.join(&examples.path), shard),
    };
    Ok(Prepared {
        task: id.to_owned(),
        variant,
        main,
        baseline,
        scorers,
        threshold: metadata.metadata.threshold,
        examples_path: root.join(&examples.path),
        examples: ExamplesRef {
            path: examples.path.clone(),
            sha256: examples.sha256.clone(),
        },
        total,
        shard,
    })
}

/// The examples of a file that fall in `shard`, read as a stream (for progress only).
fn count_in_shard(path: &Path, shard: Shard) -> u64 {
    #[derive(serde::Deserialize)]
    struct Id {
        id: String,
    }
    let file = match adapters::fs::open_read_regular(path) {
        Ok(file) => file,
        Err(error) => {
            tracing::warn!("cannot count the shard's examples for progress: {error}");
            return 0;
        }
    };
    let mut lines = crate::domain::json::JsonLines::new(std::io::BufReader::new(file));
    let mut count = 0;
    while let Ok(Some((_, line))) = lines.next_line() {
        if let crate::domain::json::JsonLine::Text(text) = line
            && serde_json::from_str::<Id>(text).is_ok_and(|example| shard.contains(&example.id))
        {
            count += 1;
        }
    }
    count
}
