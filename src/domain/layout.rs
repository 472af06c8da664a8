//! The layout of a prompt repository: which path plays which role.
//!
//! A path is classified by its place alone, before its content is read, so the walk knows
//! what to read, how large it may be, and what does not belong where it stands.

use super::diagnostic::Code;

pub const REGISTRY_FILE: &str = "prompt_registry.yaml";
pub const CONFIG_FILE: &str = "promptops.yaml";
pub const PROMPTS_DIR: &str = "prompts";
pub const TEMPLATES: &str = "00-templates";
pub const EXAMPLES: &str = "01-examples";
pub const PRODUCTION: &str = "02-production";
pub const METADATA: &str = "03-metadata";
pub const EVALS: &str = "04-evals";
pub const ARCHIVE: &str = "99-archive";
/// The pipeline log's file name, in `prompts/04-evals/`.
pub const PIPELINE_LOG: &str = "pipeline-log.jsonl";
pub const LAYERS: [&str; 6] = [TEMPLATES, EXAMPLES, PRODUCTION, METADATA, EVALS, ARCHIVE];

/// Largest YAML file promptops reads (prompts and metadata are a few KiB).
pub const YAML_SIZE_LIMIT: u64 = 1024 * 1024;
/// Largest examples file promptops reads.
pub const JSONL_SIZE_LIMIT: u64 = 64 * 1024 * 1024;
/// Largest registry promptops reads: it grows with the number of tasks (~500 bytes each).
pub const REGISTRY_SIZE_LIMIT: u64 = 64 * 1024 * 1024;

/// What a file is, by its path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    Registry,
    Config,
    Candidate {
        task: String,
    },
    Examples {
        task: String,
    },
    Production {
        task: String,
    },
    Metadata {
        task: String,
    },
    Archive {
        task: String,
        version: String,
    },
    /// Eval logs are written by `promptops eval`; validate does not read them.
    EvalLog,
    /// Files people keep beside the layers (`README.md`, `.gitkeep`).
    Ignored,
    Misplaced {
        code: Code,
        message: String,
        hint: String,
        task: Option<String>,
    },
}

impl Role {
    /// The task this file belongs to.
    pub fn task(&self) -> Option<&str> {
        match self {
            Role::Candidate { task }
            | Role::Examples { task }
            | Role::Production { task }
            | Role::Metadata { task }
            | Role::Archive { task, .. } => Some(task),
            Role::Misplaced { task, .. } => task.as_deref(),
            _ => None,
        }
    }

    /// How many bytes promptops will read of such a file; `None`: it is not read.
    pub fn size_limit(&self) -> Option<u64> {
        match self {
            Role::Examples { .. } => Some(JSONL_SIZE_LIMIT),
            Role::Registry => Some(REGISTRY_SIZE_LIMIT),
            Role::Config
            | Role::Candidate { .. }
            | Role::Production { .. }
            | Role::Metadata { .. }
            | Role::Archive { .. } => Some(YAML_SIZE_LIMIT),
            Role::EvalLog | Role::Ignored | Role::Misplaced { .. } => None,
        }
    }
}

/// Whether `text` is a task id.
pub fn is_slug(text: &str) -> bool {
    let bytes = text.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 64
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

fn misplaced(code: Code, message: String, hint: impl Into<String>, task: Option<&str>) -> Role {
    Role::Misplaced {
        code,
        message,
        hint: hint.into(),
        task: task.map(str::to_owned),
    }
}

/// Classifies a repository-relative path (forward slashes).
pub fn classify(path: &str) -> Role {
    match path {
        REGISTRY_FILE => return Role::Registry,
        CONFIG_FILE => return Role::Config,
        _ => {}
    }
    let parts: Vec<&str> = path.split('/').collect();
    let name = parts.last().copied().unwrap_or_default();
    if name == ".gitkeep" || name == "README.md" {
        return Role::Ignored;
    }
    if parts.first() != Some(&PROMPTS_DIR) || parts.len() < 2 {
        return Role::Ignored;
    }
    let layers = LAYERS.join(", ");
    if parts.len() == 2 {
        return misplaced(
            Code::UnexpectedFile,
            format!("`{name}` stands directly in prompts/, outside every layer"),
            format!("move it into one of the layers: {layers}"),
            None,
        );
    }
    let layer = parts[1];
    match layer {
        TEMPLATES => flat_file(&parts, layer, "yaml", |task| Role::Candidate { task }),
        PRODUCTION => flat_file(&parts, layer, "yaml", |task| Role::Production { task }),
        METADATA => flat_file(&parts, layer, "yaml", |task| Role::Metadata { task }),
        EXAMPLES => flat_file(&parts, layer, "jsonl", |task| Role::Examples { task }),
        EVALS if parts.len() >= 4 => Role::EvalLog,
        // `promptops pipeline`'s record of its stages (`domain::pipeline::LOG_FILE`).
        EVALS if name == PIPELINE_LOG => Role::EvalLog,
        EVALS => misplaced(
            Code::UnexpectedFile,
            format!("`{name}` stands directly in prompts/{EVALS}/"),
            format!(
                "eval logs live in prompts/{EVALS}/<task>/ and are written by `promptops eval`"
            ),
            None,
        ),
        ARCHIVE => archive_file(&parts),
        _ => misplaced(
            Code::UnexpectedFile,
            format!("`prompts/{layer}/` is not a layer"),
            format!("the layers are {layers}"),
            None,
        ),
    }
}

fn flat_file(
    parts: &[&str],
    layer: &str,
    extension: &str,
    role: impl FnOnce(String) -> Role,
) -> Role {
    let name = parts[parts.len() - 1];
    if parts.len() > 3 {
        return misplaced(
            Code::UnexpectedFile,
            format!(
                "prompts/{layer}/ holds files only, not folders (`{}`)",
                parts[2..].join("/")
            ),
            format!("move it to prompts/{layer}/<task>.{extension}"),
            None,
        );
    }
    let (stem, found_extension) = name.rsplit_once('.').unwrap_or((name, ""));
    let task = is_slug(stem).then_some(stem);
    if found_extension != extension {
        let (code, hint) = match (found_extension, extension) {
            ("yml", "yaml") => (Code::WrongExtension, format!("rename it to `{stem}.yaml`")),
            ("json", "jsonl") => (
                Code::WrongExtension,
                format!(
                    "examples are JSON Lines: rename it to `{stem}.jsonl`, one example per line"
                ),
            ),
            ("jsonl", _) => (
                Code::UnexpectedFile,
                format!("examples belong in prompts/{EXAMPLES}/"),
            ),
            ("yaml" | "yml", _) => (
                Code::UnexpectedFile,
                format!(
                    "prompts belong in prompts/{TEMPLATES}/ or prompts/{PRODUCTION}/, metadata in prompts/{METADATA}/"
                ),
            ),
            _ => (
                Code::UnexpectedFile,
                format!("prompts/{layer}/ holds only `<task>.{extension}` files"),
            ),
        };
        return misplaced(
            code,
            format!("`{name}` does not belong in prompts/{layer}/"),
            hint,
            task,
        );
    }
    match task {
        Some(task) => role(task.to_owned()),
        None => misplaced(
            Code::InvalidFileName,
            format!("`{stem}` is not a valid task id"),
            "name the file after its task id: lowercase letters, digits and hyphens",
            None,
        ),
    }
}

fn archive_file(parts: &[&str]) -> Role {
    let name = parts[parts.len() - 1];
    if parts.len() != 4 {
        return misplaced(
            Code::UnexpectedFile,
            format!("`{}` is not where archived versions go", parts.join("/")),
            format!("archived versions live at prompts/{ARCHIVE}/<task>/<version>.yaml"),
            None,
        );
    }
    let task = parts[2];
    if !is_slug(task) {
        return misplaced(
            Code::InvalidFileName,
            format!("archive folder `{task}` is not a valid task id"),
            "name the folder after the task id",
            None,
        );
    }
    let Some(version) = name.strip_suffix(".yaml") else {
        return misplaced(
            Code::UnexpectedFile,
            format!("`{name}` does not belong in prompts/{ARCHIVE}/{task}/"),
            "archived versions are `<version>.yaml` files",
            Some(task),
        );
    };
    if semver::Version::parse(version).is_err() {
        return misplaced(
            Code::InvalidFileName,
            format!("archived file `{name}` is not named by a semantic version"),
            "name it after the version it holds, e.g. 1.2.0.yaml",
            Some(task),
        );
    }
    Role::Archive {
        task: task.to_owned(),
        version: version.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(role: Role) -> Option<Code> {
        match role {
            Role::Misplaced { code, .. } => Some(code),
            _ => None,
        }
    }

    #[test]
    fn layers_are_recognised() {
        assert_eq!(
            classify("prompts/02-production/a-b.yaml"),
            Role::Production { task: "a-b".into() }
        );
        assert_eq!(
            classify("prompts/01-examples/a.jsonl"),
            Role::Examples { task: "a".into() }
        );
        assert_eq!(
            classify("prompts/99-archive/a/1.0.0.yaml"),
            Role::Archive {
                task: "a".into(),
                version: "1.0.0".into()
            }
        );
        assert_eq!(classify("prompts/04-evals/a/run.jsonl"), Role::EvalLog);
        assert_eq!(classify(REGISTRY_FILE), Role::Registry);
        assert_eq!(classify("prompts/02-production/.gitkeep"), Role::Ignored);
    }

    #[test]
    fn wrong_places_are_refused() {
        assert_eq!(
            code(classify("prompts/02-production/a.jsonl")),
            Some(Code::UnexpectedFile)
        );
        assert_eq!(
            code(classify("prompts/02-production/a.yml")),
            Some(Code::WrongExtension)
        );
        assert_eq!(
            code(classify("prompts/02-production/sub/a.yaml")),
            Some(Code::UnexpectedFile)
        );
        assert_eq!(
            code(classify("prompts/02-production/Bad Name.yaml")),
            Some(Code::InvalidFileName)
        );
        assert_eq!(
            code(classify("prompts/05-other/a.yaml")),
            Some(Code::UnexpectedFile)
        );
        assert_eq!(
            code(classify("prompts/stray.yaml")),
            Some(Code::UnexpectedFile)
        );
        assert_eq!(
            code(classify("prompts/99-archive/a/latest.yaml")),
            Some(Code::InvalidFileName)
        );
        assert_eq!(
            code(classify("prompts/01-examples/a.json")),
            Some(Code::WrongExtension)
        );
    }

    #[test]
    fn slugs() {
        assert!(is_slug("normalize-product-title"));
        assert!(is_slug("3d-printer"));
        assert!(!is_slug("../../etc"));
        assert!(!is_slug("-a"));
        assert!(!is_slug("A"));
        assert!(!is_slug(""));
        assert!(!is_slug(&"a".repeat(65)));
    }
}
