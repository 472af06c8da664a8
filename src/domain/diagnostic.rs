//! Findings: what a check reports, with a stable code, a place and a hint.
//!
//! Every check in promptops produces `Diagnostic` values; the report layer renders one list of
//! them as human text, JSON or GitHub annotations. Codes are part of the interface (users grep
//! for them and silence them in CI), so they live in one enum and a test keeps them unique.

use serde::Serialize;

/// How bad a finding is. Errors fail `validate`; warnings do not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

macro_rules! codes {
    ($($variant:ident => $text:literal,)*) => {
        /// The stable code of a finding, shown as `error[code]`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Code { $($variant,)* }

        impl Code {
            /// Every code, for documentation and the uniqueness test.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            pub const fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $text,)* }
            }
        }
    };
}

codes! {
    FileTooLarge => "file-too-large",
    InvalidUtf8 => "invalid-utf8",
    EmptyFile => "empty-file",
    SymlinkOutsideRepository => "symlink-outside-repository",
    UnreadableFile => "unreadable-file",
    UnexpectedFile => "unexpected-file",
    WrongExtension => "wrong-extension",
    InvalidFileName => "invalid-file-name",
    YamlSyntax => "yaml-syntax",
    YamlDuplicateKey => "yaml-duplicate-key",
    YamlAliasLimit => "yaml-alias-limit",
    NestingTooDeep => "nesting-too-deep",
    YamlMultipleDocuments => "yaml-multiple-documents",
    YamlUnsupported => "yaml-unsupported",
    UnknownField => "unknown-field",
    MissingField => "missing-field",
    WrongType => "wrong-type",
    InvalidValue => "invalid-value",
    InvalidId => "invalid-id",
    IdMismatch => "id-mismatch",
    InvalidVersion => "invalid-version",
    MetadataVersionMismatch => "metadata-version-mismatch",
    CandidateNotNewer => "candidate-not-newer",
    ArchiveVersionMismatch => "archive-version-mismatch",
    ArchiveMissingReason => "archive-missing-reason",
    ArchivedOutsideArchive => "archived-outside-archive",
    MissingMetadata => "missing-metadata",
    MissingExamples => "missing-examples",
    OrphanMetadata => "orphan-metadata",
    OrphanExamples => "orphan-examples",
    ExamplesPathMismatch => "examples-path-mismatch",
    TemplateSyntax => "template-syntax",
    UnknownTemplateCallable => "unknown-template-callable",
    UndeclaredVariable => "undeclared-variable",
    UnusedVariable => "unused-variable",
    OutputTypeMismatch => "output-type-mismatch",
    OutputSchemaInvalid => "output-schema-invalid",
    UnknownProvider => "unknown-provider",
    UnsupportedParameter => "unsupported-parameter",
    ExamplesJson => "examples-json",
    DuplicateExampleId => "duplicate-example-id",
    MissingExampleVariable => "missing-example-variable",
    UndeclaredExampleVariable => "undeclared-example-variable",
    ExampleVariableType => "example-variable-type",
    ExpectedType => "expected-type",
    ExpectedSchema => "expected-schema",
    RegistryMissing => "registry-missing",
    RegistryStale => "registry-stale",
    InvalidScorerOptions => "invalid-scorer-options",
    ProductionChanged => "production-changed",
    EvalRunInconsistent => "eval-run-inconsistent",
}

/// A place in a file: 1-based line and column (columns count characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Default)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl Position {
    pub const START: Position = Position { line: 1, column: 1 };

    pub fn new(line: usize, column: usize) -> Self {
        Position { line, column }
    }
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub code: &'static str,
    pub severity: Severity,
    /// Repository-relative path with forward slashes.
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub hint: Option<String>,
    /// The task the finding belongs to, when it belongs to one; used to narrow
    /// `validate PATH...` to the tasks those paths take part in.
    #[serde(skip)]
    pub task: Option<String>,
}

impl Diagnostic {
    pub fn error(code: Code, file: &str, at: Position, message: impl Into<String>) -> Self {
        Diagnostic {
            code: code.as_str(),
            severity: Severity::Error,
            file: file.to_owned(),
            line: at.line,
            column: at.column,
            message: message.into(),
            hint: None,
            task: None,
        }
    }

    pub fn warning(code: Code, file: &str, at: Position, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, file, at, message)
        }
    }

    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    #[must_use]
    pub fn for_task(mut self, task: &str) -> Self {
        self.task = Some(task.to_owned());
        self
    }

    pub fn position(&self) -> Position {
        Position::new(self.line, self.column)
    }
}

/// Sorts findings by file, then line and column, then code, and drops exact repeats.
pub fn sort_findings(findings: &mut Vec<Diagnostic>) {
    findings.sort_by(|a, b| {
        (
            a.file.as_str(),
            a.line,
            a.column,
            a.code,
            a.message.as_str(),
        )
            .cmp(&(
                b.file.as_str(),
                b.line,
                b.column,
                b.code,
                b.message.as_str(),
            ))
    });
    findings.dedup();
}

/// Findings to show people, with the lines of source they point at (the bytes the scan read:
/// a file is never opened again to show it).
#[derive(Clone, Debug, Default)]
pub struct Shown {
    pub findings: Vec<Diagnostic>,
    pub sources: std::collections::HashMap<String, String>,
}

impl Shown {
    /// The findings, with the sources of their files taken from `sources`.
    pub fn new(
        findings: Vec<Diagnostic>,
        sources: &std::collections::HashMap<String, String>,
    ) -> Shown {
        let sources = findings
            .iter()
            .filter_map(|finding| {
                sources
                    .get(&finding.file)
                    .map(|text| (finding.file.clone(), text.clone()))
            })
            .collect();
        Shown { findings, sources }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_and_kebab_case() {
        let mut seen = HashSet::new();
        for code in Code::ALL {
            let text = code.as_str();
            assert!(seen.insert(text), "duplicate code {text}");
            assert!(
                text.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{text} is not kebab-case"
            );
        }
    }

    #[test]
    fn findings_sort_by_file_then_line() {
        let mut findings = vec![
            Diagnostic::error(Code::YamlSyntax, "b.yaml", Position::new(1, 1), "x"),
            Diagnostic::error(Code::YamlSyntax, "a.yaml", Position::new(9, 1), "x"),
            Diagnostic::error(Code::YamlSyntax, "a.yaml", Position::new(2, 5), "x"),
            Diagnostic::error(Code::YamlSyntax, "a.yaml", Position::new(2, 5), "x"),
        ];
        sort_findings(&mut findings);
        let places: Vec<_> = findings.iter().map(|d| (d.file.as_str(), d.line)).collect();
        assert_eq!(places, [("a.yaml", 2), ("a.yaml", 9), ("b.yaml", 1)]);
    }
}
