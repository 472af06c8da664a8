//! The task model: the files that make up one task, each with what it parsed into. Shared by
//! the analysis that builds it and the registry that is rendered from it.

use super::file_checks::{ParsedExamples, ParsedMetadata, ParsedPrompt};

/// A file of a task, with what it parsed into (`None` when it is broken).
#[derive(Clone, Debug)]
pub struct Entry<T> {
    pub path: String,
    pub sha256: String,
    pub parsed: Option<T>,
}

/// A prompt file's entry (production, candidate or archived).
pub type PromptEntry = Entry<Box<ParsedPrompt>>;

impl PromptEntry {
    /// The prompt's version, when the file parsed.
    pub fn version(&self) -> Option<&str> {
        self.parsed
            .as_ref()
            .map(|parsed| parsed.prompt.version.as_str())
    }
}

/// Everything the repository holds about one task.
#[derive(Clone, Debug, Default)]
pub struct Task {
    pub production: Option<PromptEntry>,
    pub candidate: Option<PromptEntry>,
    pub metadata: Option<Entry<Box<ParsedMetadata>>>,
    pub examples: Option<Entry<ParsedExamples>>,
    /// By version, oldest first.
    pub archived: Vec<PromptEntry>,
}

impl Task {
    /// Every file of the task.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        let prompts = [&self.production, &self.candidate]
            .into_iter()
            .flatten()
            .map(|e| e.path.as_str());
        prompts
            .chain(self.metadata.as_ref().map(|e| e.path.as_str()))
            .chain(self.examples.as_ref().map(|e| e.path.as_str()))
            .chain(self.archived.iter().map(|e| e.path.as_str()))
    }
}
