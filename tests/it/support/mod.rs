//! A temporary prompt repository and a way to run the real binary in it.

pub(crate) mod ecs;
pub(crate) mod http;
pub(crate) mod llm_server;
pub(crate) mod registry;
pub(crate) mod terminal;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

pub(crate) const PROMPT: &str = "\
# yaml-language-server: $schema=../../schemas/prompt.schema.json
id: summarize
version: 1.0.0
description: Summarise a support ticket in one sentence.
model:
  provider: openai
  name: gpt-4o-mini
  parameters:
    temperature: 0
messages:
  - role: system
    content: |
      You summarise support tickets.
      Answer in one sentence.
  - role: user
    content: \"Ticket: {{ ticket }}\"
output:
  format: text
";

pub(crate) const METADATA: &str = "\
id: summarize
description: One-sentence ticket summaries.
owner: support-tools
version: 1.0.0
inputs:
  ticket:
    type: string
output: text
threshold: 0.8
scorers:
  - name: similarity
    weight: 1
regression_tolerance: 0.02
";

pub(crate) const EXAMPLES: &str = "\
{\"id\": \"login\", \"vars\": {\"ticket\": \"I cannot log in since the update.\"}, \"expected\": \"Login fails after the update.\"}
{\"id\": \"refund\", \"vars\": {\"ticket\": \"Please refund order 1234.\"}, \"expected\": \"Customer asks for a refund of order 1234.\"}
";

pub(crate) struct Output {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

pub(crate) struct TestRepo {
    dir: tempfile::TempDir,
}

impl TestRepo {
    /// An empty git repository.
    pub(crate) fn empty() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        git2::Repository::init(dir.path()).expect("git init");
        TestRepo { dir }
    }

    /// A repository with one valid task, `summarize`, and its registry.
    pub(crate) fn sample() -> Self {
        let repo = Self::empty();
        repo.write("prompts/02-production/summarize.yaml", PROMPT);
        repo.write("prompts/03-metadata/summarize.yaml", METADATA);
        repo.write("prompts/01-examples/summarize.jsonl", EXAMPLES);
        let output = repo.run(&["registry"]);
        assert_eq!(output.code, 0, "{output:?}");
        repo
    }

    /// Writes a new registry from the files as they are, dropping the old one: test setups
    /// edit production in place, which `validate` otherwise reports as `production-changed`
    /// (production is locked against the registry's record).
    pub(crate) fn rebuild_registry(&self) {
        self.remove("prompt_registry.yaml");
        let output = self.run(&["registry"]);
        assert_eq!(output.code, 0, "{output:?}");
    }

    /// A clone of `origin`'s commits, as `actions/checkout` gives a job, with `origin` as its
    /// remote.
    pub(crate) fn clone_of(origin: &TestRepo) -> Self {
        Self::clone_from(origin.path())
    }

    /// A clone of the repository at `origin` (a work tree or a bare repository).
    pub(crate) fn clone_from(origin: &Path) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        git2::Repository::clone(&origin.to_string_lossy(), dir.path()).expect("git clone");
        TestRepo { dir }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The release id of the repository as it is: what `promptops bundle` prints.
    pub(crate) fn release_id(&self) -> String {
        let out = tempfile::tempdir().unwrap();
        let bundled = self.run(&["bundle", "--out", &out.path().to_string_lossy()]);
        assert_eq!(bundled.code, 0, "{bundled:?}");
        bundled.stdout.trim().to_owned()
    }

    pub(crate) fn write(&self, relative: &str, text: &str) {
        self.write_bytes(relative, text.as_bytes());
    }

    pub(crate) fn write_bytes(&self, relative: &str, bytes: &[u8]) {
        let path = self.path().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }

    pub(crate) fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.path().join(relative)).unwrap()
    }

    pub(crate) fn remove(&self, relative: &str) {
        std::fs::remove_file(self.path().join(relative)).unwrap();
    }

    /// Replaces `from` with `to` in a file; the text must be there.
    pub(crate) fn edit(&self, relative: &str, from: &str, to: &str) {
        let text = self.read(relative);
        assert!(text.contains(from), "{relative} does not contain {from:?}");
        self.write(relative, &text.replacen(from, to, 1));
    }

    /// Commits everything with a fixed author and date.
    pub(crate) fn commit(&self, message: &str, seconds: i64) {
        let repository = git2::Repository::open(self.path()).unwrap();
        let mut index = repository.index().unwrap();
        index
            .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
            .unwrap();
        index.write().unwrap();
        let tree = repository.find_tree(index.write_tree().unwrap()).unwrap();
        let signature =
            git2::Signature::new("Test", "test@example.com", &git2::Time::new(seconds, 0)).unwrap();
        let parents: Vec<git2::Commit<'_>> = repository
            .head()
            .ok()
            .and_then(|h| h.peel_to_commit().ok())
            .into_iter()
            .collect();
        let parents: Vec<&git2::Commit<'_>> = parents.iter().collect();
        repository
            .commit(
                Some("HEAD"),
                &signature,
                &signature,
                message,
                &tree,
                &parents,
            )
            .unwrap();
    }

    /// Gives the repository the git identity Pat Doe <pat@example.com>, so the commands that
    /// commit can.
    pub(crate) fn set_identity(&self) {
        let mut config = git2::Repository::open(self.path())
            .unwrap()
            .config()
            .unwrap();
        config.set_str("user.name", "Pat Doe").unwrap();
        config.set_str("user.email", "pat@example.com").unwrap();
    }

    /// Runs the binary with the repository as working directory.
    pub(crate) fn run(&self, args: &[&str]) -> Output {
        run_binary(self.path(), args)
    }

    /// Runs the binary with these environment variables (and none of the caller's API keys,
    /// base URLs or CI settings).
    pub(crate) fn run_env(&self, args: &[&str], environment: &[(&str, &str)]) -> Output {
        collect(self.command(args, environment))
    }

    /// The command `run_env` runs, for tests that need the child process itself.
    pub(crate) fn command(&self, args: &[&str], environment: &[(&str, &str)]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_promptops"));
        command
            .args(args)
            .current_dir(self.path())
            .env("NO_COLOR", "1")
            .env("CI", "true");
        for name in [
            "GITHUB_STEP_SUMMARY",
            "PROMPTOPS_REPO",
            "PROMPTOPS_CACHE_DIR",
            "PROMPTOPS_RETRY_DELAY_SCALE",
            "OPENAI_API_KEY",
            "OPENAI_BASE_URL",
            "ANTHROPIC_API_KEY",
            "ANTHROPIC_BASE_URL",
            "PROMPTOPS_NOW",
            "PROMPTOPS_LOG",
            "GITHUB_ACTIONS",
            "GITHUB_ACTOR",
        ] {
            command.env_remove(name);
        }
        command.envs(environment.iter().copied());
        command
    }

    /// Every file's bytes, to prove a command changed nothing.
    pub(crate) fn tree(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut files = BTreeMap::new();
        for entry in walkdir::WalkDir::new(self.path())
            .into_iter()
            .filter_entry(|e| e.file_name() != ".git")
        {
            let entry = entry.unwrap();
            if entry.file_type().is_file() {
                files.insert(
                    entry.path().to_path_buf(),
                    std::fs::read(entry.path()).unwrap(),
                );
            } else if entry.path_is_symlink() {
                files.insert(entry.path().to_path_buf(), b"<link>".to_vec());
            }
        }
        files
    }
}

pub(crate) fn run_binary(dir: &Path, args: &[&str]) -> Output {
    run_binary_with(dir, args, &[])
}

/// Runs the binary with extra environment variables.
pub(crate) fn run_binary_with(dir: &Path, args: &[&str], environment: &[(&str, &Path)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_promptops"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("PROMPTOPS_REPO")
        .env("NO_COLOR", "1")
        .envs(environment.iter().copied());
    collect(command)
}

/// Runs a command to the end and keeps its exit code and output.
fn collect(mut command: Command) -> Output {
    let output = command.output().expect("the binary runs");
    Output {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    }
}

/// The codes and places of the findings in `validate --format json` output.
pub(crate) fn findings(output: &Output) -> Vec<(String, String, u64)> {
    let document: serde_json::Value =
        serde_json::from_str(&output.stdout).unwrap_or_else(|e| panic!("{e}: {output:?}"));
    document["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_owned(),
                f["file"].as_str().unwrap().to_owned(),
                f["line"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Whether `validate --format json` reported `code` in `file` at `line`.
pub(crate) fn has(output: &Output, code: &str, file: &str, line: u64) -> bool {
    findings(output)
        .iter()
        .any(|(c, f, l)| c == code && f == file && *l == line)
}

/// Fails, showing the whole output, unless `validate --format json` reported `code` in `file`
/// at `line`.
#[track_caller]
pub(crate) fn expect_finding(output: &Output, code: &str, file: &str, line: u64) {
    assert!(
        has(output, code, file, line),
        "expected {code} at {file}:{line}; got {output:?}"
    );
}

/// The files of this checkout as committed (git's HEAD, not the work tree), by path: the
/// README's main job rewrites files in the checkout, and tests must not depend on that.
pub(crate) fn committed_files(wanted: impl Fn(&str) -> bool) -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let repository = git2::Repository::open(root).expect("the checkout is a git repository");
    let tree = repository
        .head()
        .and_then(|head| head.peel_to_tree())
        .expect("HEAD has a tree");
    let mut files = Vec::new();
    tree.walk(git2::TreeWalkMode::PreOrder, |folder, entry| {
        let path = format!("{folder}{}", entry.name().unwrap_or_default());
        if entry.kind() == Some(git2::ObjectType::Blob) && wanted(&path) {
            let blob = repository.find_blob(entry.id()).expect("a blob");
            files.push((path, blob.content().to_vec()));
        }
        git2::TreeWalkResult::Ok
    })
    .expect("the tree can be walked");
    files
}

/// A fresh git repository holding the bundled example as committed.
pub(crate) fn bundled_example() -> TestRepo {
    let repo = TestRepo::empty();
    for (path, bytes) in committed_files(|path| {
        path.starts_with("prompts/")
            || path.starts_with("schemas/")
            || path.starts_with(".promptops/")
            || path == "prompt_registry.yaml"
            || path == "promptops.yaml"
    }) {
        repo.write_bytes(&path, &bytes);
    }
    repo
}

/// The bundled example committed in a fresh repository whose git identity is Pat Doe, so the
/// commands that commit (promote, deploy, pipeline) can.
pub(crate) fn committed_example() -> TestRepo {
    let repo = bundled_example();
    repo.set_identity();
    repo.commit("the example", 1_795_437_296);
    repo
}

/// Environment pairs as `run_env` takes them.
pub(crate) fn pairs<'a>(environment: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    environment
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect()
}

/// A small deterministic generator (xorshift), so a failure names a seed that replays it.
pub(crate) struct Random(pub(crate) u64);

impl Random {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % (n.max(1) as u64)).unwrap()
    }
}

/// Runs the ignored test `name` of this test binary in a child process: an abort (a stack
/// overflow) kills the child, which `catch_unwind` in-process could never see, and fails here.
pub(crate) fn run_worker_in_child(name: &str) {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            name,
            "--test-threads=1",
            "--nocapture",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{name} failed or aborted ({}):\n{stdout}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("1 passed"), "{name} did not run: {stdout}");
}
