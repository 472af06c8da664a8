//! The CI recipes: every promptops command the workflows, the action and the README call
//! parses with the real command-line definition; and `report pr` on a branch.

use clap::Parser;

use crate::support::bundled_example;

fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Splits a command line as a shell would for plain words and quotes; `$VAR`, `"$VAR"` and
/// `${{ … }}` become a placeholder value.
fn words(line: &str) -> Vec<String> {
    let mut line = line.to_owned();
    while let Some(start) = line.find("${{") {
        let end = line[start..]
            .find("}}")
            .map_or(line.len(), |at| start + at + 2);
        line.replace_range(start..end, "1");
    }
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quote = None;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, c) if c.is_whitespace() => {
                if !current.is_empty() {
                    words.push(std::mem::take(&mut current));
                }
            }
            (_, '$') if chars.peek().is_some_and(char::is_ascii_uppercase) => {
                while chars
                    .peek()
                    .is_some_and(|n| n.is_ascii_uppercase() || *n == '_')
                {
                    chars.next();
                }
                current.push('1');
            }
            (_, c) => current.push(c),
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// The promptops command lines in a file: `command:` inputs of this action (a step whose
/// `uses:` is `./` or `…/promptops@…`), and lines that start with `promptops ` (or `cargo run
/// … --`), split at `&&`, comments dropped.
fn commands(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut ours = false;
    for line in text.lines() {
        let line = line.trim().trim_start_matches("- ");
        if let Some(uses) = line.strip_prefix("uses: ") {
            ours = uses == "./" || uses.contains("/promptops@");
        }
        if let Some(command) = line.strip_prefix("command: ") {
            // Another action's `command:` input (maturin's), or an exec provider's list.
            if ours && !command.starts_with('[') {
                found.push(command.split(" #").next().unwrap_or("").trim().to_owned());
            }
            continue;
        }
        for part in line.split("&&") {
            let part = part.trim();
            let part = part
                .strip_prefix("cargo run --locked --quiet -- ")
                .map(str::to_owned)
                .or_else(|| part.strip_prefix("promptops ").map(str::to_owned));
            if let Some(part) = part {
                let without_comment = part.split(" #").next().unwrap_or("").trim().to_owned();
                // `promptops "${args[@]}"` (the action's own runner) passes its input through.
                if !without_comment.is_empty() && !without_comment.starts_with(['`', '"', '$']) {
                    found.push(without_comment);
                }
            }
        }
    }
    found
}

#[test]
fn every_command_the_workflows_the_action_and_the_readme_call_parses() {
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(root().join(".github/workflows"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.push(root().join("action.yml"));
    files.push(root().join("README.md"));
    files.push(root().join(".ci/run"));
    let mut checked = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        // README prose mentions `promptops X` inside sentences; only code lines count there.
        let text = if file.ends_with("README.md") {
            text.split("```")
                .enumerate()
                .filter(|(n, _)| n % 2 == 1)
                .map(|(_, block)| block)
                .collect::<Vec<_>>()
                .join("\n")
        } else {
            text
        };
        for command in commands(&text) {
            let mut argv = vec!["promptops".to_owned()];
            argv.extend(words(&command));
            if let Err(error) = promptops::cli::Cli::try_parse_from(&argv) {
                panic!(
                    "{}: `promptops {command}` does not parse:\n{error}",
                    file.display()
                );
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 20,
        "only {checked} commands found: the extraction is broken"
    );
    // The checker can fail.
    assert!(promptops::cli::Cli::try_parse_from(["promptops", "eval", "--no-such-flag"]).is_err());
}

#[test]
fn report_pr_says_what_a_branch_changes() {
    let repo = crate::support::committed_example();
    let head = git2::Repository::open(repo.path())
        .unwrap()
        .head()
        .unwrap()
        .target()
        .unwrap()
        .to_string();
    repo.edit(
        "prompts/00-templates/normalize-product-title.yaml",
        "description: ",
        "description: Improved. ",
    );
    assert_eq!(repo.run(&["registry"]).code, 0);
    let eval = repo.run(&[
        "eval",
        "normalize-product-title",
        "--candidate",
        "--baseline",
        "production",
        "--offline",
    ]);
    assert_eq!(eval.code, 0, "{eval:?}");
    let out = repo.path().join("report.md");
    let report = repo.run(&[
        "report",
        "pr",
        "--base",
        &head,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(report.code, 0, "{report:?}");
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.starts_with("<!-- promptops-report -->\n"), "{text}");
    assert!(text.contains("| `normalize-product-title` | candidate 1.3.0 | 0.914 (1.2.0) | 0.981 (1.3.0) | ▲ +0.066"), "{text}");
    assert!(text.contains("✅ not-worse"), "{text}");
    assert!(
        text.contains("- promote `normalize-product-title` 1.2.0 → 1.3.0"),
        "{text}"
    );
    assert!(
        !text.contains("classify-product-category"),
        "only what changed: {text}"
    );
    // Under Actions without --out: appended to the job summary.
    let summary = repo.path().join("summary.md");
    let to_summary = repo.run_env(
        &["report", "pr", "--base", &head],
        &[("GITHUB_STEP_SUMMARY", summary.to_str().unwrap())],
    );
    assert_eq!(to_summary.code, 0, "{to_summary:?}");
    assert_eq!(std::fs::read_to_string(&summary).unwrap(), text);
    // A base git does not know: named by its flag, in git's own words, with what to do.
    let unknown = repo.run(&["report", "pr", "--base", "origin/no-such-branch"]);
    assert_eq!(unknown.code, 2, "{unknown:?}");
    assert!(
        unknown.stderr.starts_with(
            "error: --base origin/no-such-branch: git: revspec 'origin/no-such-branch' not found\nhint: "
        ),
        "{unknown:?}"
    );
}

#[test]
fn under_actions_key_results_go_to_github_output_and_stages_are_grouped() {
    let repo = bundled_example();
    let output = repo.path().join("github-output");
    std::fs::write(&output, "").unwrap();
    let actions = [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_OUTPUT", output.to_str().unwrap()),
    ];
    let eval = repo.run_env(&["eval", "--offline"], &actions);
    assert_eq!(eval.code, 0, "{eval:?}");
    let text = std::fs::read_to_string(&output).unwrap();
    assert!(
        text.contains("score-normalize-product-title=0.9144\n"),
        "{text}"
    );
    assert!(
        text.contains("score-classify-product-category=0.9811\n"),
        "{text}"
    );
    assert!(text.ends_with("passed=true\n"), "{text}");
    let summary = repo.path().join("step-summary.md");
    let mut with_summary = actions.to_vec();
    with_summary.push(("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()));
    let pipeline = repo.run_env(&["pipeline", "--only", "validate"], &with_summary);
    assert_eq!(pipeline.code, 0, "{pipeline:?}");
    let table = std::fs::read_to_string(&summary).unwrap();
    assert!(
        table.starts_with("## promptops pipeline\n\n| stage | outcome |")
            && table.contains("\n| validate | ✅ passed | "),
        "{table}"
    );
    assert!(
        pipeline.stderr.contains("::group::pipeline: validate\n"),
        "{pipeline:?}"
    );
    assert!(pipeline.stderr.contains("::endgroup::"), "{pipeline:?}");
    assert!(
        std::fs::read_to_string(&output)
            .unwrap()
            .ends_with("failed-stage=\n")
    );
    // Outside Actions nothing is written there.
    let before = std::fs::read_to_string(&output).unwrap();
    let plain = repo.run_env(
        &["eval", "--offline"],
        &[("GITHUB_OUTPUT", output.to_str().unwrap())],
    );
    assert_eq!(plain.code, 0, "{plain:?}");
    assert_eq!(std::fs::read_to_string(&output).unwrap(), before);
}

/// The README's recipes are the workflow files, byte for byte: what users copy is what
/// `.ci/run` lints and these tests replay.
#[test]
fn the_readme_recipes_are_the_workflow_files() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let mut recipes = 0;
    for (at, _) in readme.match_indices("<!-- recipe: ") {
        let rest = &readme[at + "<!-- recipe: ".len()..];
        let path = &rest[..rest.find(" -->").unwrap()];
        let block = rest
            .split_once("```yaml\n")
            .and_then(|(_, block)| block.split_once("```\n"))
            .map_or_else(
                || panic!("README: no yaml block after the recipe {path}"),
                |(block, _)| block,
            );
        let file = std::fs::read_to_string(root().join(path)).unwrap();
        assert!(
            block == file,
            "README's copy of {path} differs from the file: copy the file into the README"
        );
        recipes += 1;
    }
    assert!(recipes >= 2, "only {recipes} recipes found in the README");
}

/// A workflow of `.github/workflows/`, parsed.
fn workflow(name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(root().join(".github/workflows").join(name)).unwrap();
    promptops::domain::yaml::parse(&text)
        .unwrap()
        .unwrap()
        .value
}

/// The steps of a job that use `action` (at any commit).
fn steps_using<'a>(job: &'a serde_json::Value, action: &str) -> Vec<&'a serde_json::Value> {
    job["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|step| {
            step["uses"]
                .as_str()
                .is_some_and(|uses| uses.split('@').next() == Some(action))
        })
        .collect()
}

/// actions/cache as GitHub runs it: the key's `hashFiles(...)` over the checkout, an exact hit
/// or else the newest cache whose key starts with a restore key, and a save under the key
/// only when it did not hit.
struct ActionsCache {
    key: String,
    restore_keys: Vec<String>,
    path: String,
    saved: Vec<(String, tempfile::TempDir)>,
}

impl ActionsCache {
    fn from_step(step: &serde_json::Value) -> Self {
        let with = &step["with"];
        ActionsCache {
            key: with["key"].as_str().unwrap().to_owned(),
            restore_keys: with["restore-keys"]
                .as_str()
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect(),
            path: with["path"].as_str().unwrap().to_owned(),
            saved: Vec::new(),
        }
    }

    /// The key for this checkout: `${{ hashFiles('a/**', 'b') }}` filled in.
    fn key_for(&self, checkout: &crate::support::TestRepo) -> String {
        use sha2::{Digest, Sha256};
        let (before, rest) = self.key.split_once("${{ hashFiles(").unwrap();
        let (arguments, after) = rest.split_once(") }}").unwrap();
        let mut files = std::collections::BTreeMap::new();
        for pattern in arguments.split(',') {
            let pattern = pattern.trim().trim_matches('\'');
            let matched: Vec<std::path::PathBuf> = if let Some(dir) = pattern.strip_suffix("/**") {
                walkdir::WalkDir::new(checkout.path().join(dir))
                    .into_iter()
                    .filter_map(Result::ok)
                    .filter(|entry| entry.file_type().is_file())
                    .map(walkdir::DirEntry::into_path)
                    .collect()
            } else {
                assert!(!pattern.contains('*'), "pattern {pattern} not emulated");
                vec![checkout.path().join(pattern)]
            };
            for path in matched.into_iter().filter(|path| path.is_file()) {
                let bytes = std::fs::read(&path).unwrap();
                files.insert(path, Sha256::digest(bytes));
            }
        }
        let mut all = Sha256::new();
        for digest in files.values() {
            all.update(digest);
        }
        format!(
            "{before}{}{after}",
            promptops::domain::source::sha256_hex_of_digest(&all.finalize())
        )
    }

    /// Restores into the checkout; returns the key and whether it hit exactly.
    fn restore(&self, checkout: &crate::support::TestRepo) -> (String, bool) {
        let key = self.key_for(checkout);
        let exact = self.saved.iter().rev().find(|(saved, _)| *saved == key);
        let found = exact.or_else(|| {
            self.saved.iter().rev().find(|(saved, _)| {
                self.restore_keys
                    .iter()
                    .any(|prefix| saved.starts_with(prefix.as_str()))
            })
        });
        if let Some((_, dir)) = found {
            copy_tree(dir.path(), &checkout.path().join(&self.path));
        }
        (key, exact.is_some())
    }

    fn save(&mut self, checkout: &crate::support::TestRepo, key: String, hit: bool) {
        if hit {
            return;
        }
        let from = checkout.path().join(&self.path);
        assert!(
            from.is_dir(),
            "the cached path {} is not where promptops keeps its answers",
            self.path
        );
        let dir = tempfile::tempdir().unwrap();
        copy_tree(&from, dir.path());
        self.saved.push((key, dir));
    }
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let target = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// `git ARGS` in `dir`; its trimmed stdout. Panics when git fails.
fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let output = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(output.status.success(), "git {args:?}: {output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// The sample task with 10 examples on the loopback model and a committed candidate.
fn committed_candidate(server: &crate::support::llm_server::LlmServer) -> crate::support::TestRepo {
    let repo = crate::eval::repo(server, 10, "");
    crate::eval::write_candidate(&repo, " Be brief.");
    repo.commit("a candidate", 1_795_437_296);
    repo
}

/// A bare `origin` on GitHub's `owner/prompts`, branch `main`, made from `work`; its
/// checkouts push to it through the URL the workflows push to (git's `insteadOf`).
struct Origin {
    dir: tempfile::TempDir,
}

impl Origin {
    const TOKEN: &str = "ghs_loopback";

    fn of(work: &crate::support::TestRepo) -> Origin {
        let dir = tempfile::tempdir().unwrap();
        let from = work.path().to_string_lossy().into_owned();
        git(
            dir.path(),
            &["clone", "--quiet", "--bare", &from, "origin.git"],
        );
        let origin = Origin { dir };
        let branch = git(&origin.path(), &["symbolic-ref", "--short", "HEAD"]);
        if branch != "main" {
            git(&origin.path(), &["branch", "-m", &branch, "main"]);
        }
        origin
    }

    fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("origin.git")
    }

    /// What `actions/checkout` gives a job, with pushes to GitHub going to this origin.
    fn checkout(&self) -> crate::support::TestRepo {
        let checkout = crate::support::TestRepo::clone_from(&self.path());
        git(
            checkout.path(),
            &[
                "config",
                &format!("url.{}.insteadOf", self.path().display()),
                &format!(
                    "https://x-access-token:{}@github.com/owner/prompts.git",
                    Self::TOKEN
                ),
            ],
        );
        checkout
    }

    /// The expressions and environment a job of `owner/prompts` sees.
    const GITHUB: [(&str, &str); 2] = [
        ("github.token", Self::TOKEN),
        ("github.repository", "owner/prompts"),
    ];
}

/// The pull-request recipe's cache, replayed over four runs against a loopback model: the
/// answers are kept, a changed prompt misses only its own requests, and every file a request is
/// made of is in the key (else the new answers would never be saved).
#[test]
fn the_cache_recipe_keeps_answers_and_a_changed_prompt_misses_only_its_own() {
    use crate::eval::{KEY, always_right};
    use crate::support::TestRepo;
    use crate::support::llm_server::LlmServer;
    let server = LlmServer::start(always_right);
    let origin = committed_candidate(&server);
    let pull_request = workflow("pull-request.yml");
    let job = &pull_request["jobs"]["check"];
    let step = steps_using(job, "actions/cache")[0];
    // Every workflow that keeps the cache keeps it the same way, so they share it.
    for name in ["main.yml"] {
        let other = workflow(name);
        for job in other["jobs"].as_object().unwrap().values() {
            for other_step in steps_using(job, "actions/cache") {
                assert_eq!(other_step["with"], step["with"], "{name}'s cache differs");
            }
        }
    }
    let mut cache = ActionsCache::from_step(step);
    let run = |cache: &mut ActionsCache| {
        let checkout = TestRepo::clone_of(&origin);
        let (key, hit) = cache.restore(&checkout);
        let before = server.count();
        let output = checkout.run_env(
            &["eval", "--candidate", "--baseline", "production"],
            &[("TEST_LLM_KEY", KEY)],
        );
        assert!(output.code <= 1, "{output:?}");
        cache.save(&checkout, key.clone(), hit);
        (key, hit, server.count() - before)
    };
    let (first, hit, asked) = run(&mut cache);
    assert!(!hit);
    assert_eq!(asked, 20, "production and candidate, 10 examples each");
    let (again, hit, asked) = run(&mut cache);
    assert_eq!(
        (again == first, hit, asked),
        (true, true, 0),
        "nothing changed"
    );

    origin.edit(
        "prompts/00-templates/summarize.yaml",
        "Be brief.",
        "Be short.",
    );
    origin.commit("the candidate changes", 1_795_437_300);
    let (changed, hit, asked) = run(&mut cache);
    assert!(
        !hit && changed != first,
        "a prompt change must change the key"
    );
    assert_eq!(asked, 10, "only the candidate's requests miss");
    let (_, hit, asked) = run(&mut cache);
    assert_eq!((hit, asked), (true, 0), "the grown cache was saved");

    // Every file a request is made of changes the key; the logs and the registry an eval
    // rewrites do not.
    let checkout = TestRepo::clone_of(&origin);
    let key = cache.key_for(&checkout);
    for file in [
        "prompts/02-production/summarize.yaml",
        "prompts/00-templates/summarize.yaml",
        "prompts/01-examples/summarize.jsonl",
        "prompts/03-metadata/summarize.yaml",
        "promptops.yaml",
    ] {
        let text = checkout.read(file);
        checkout.write(file, &format!("{text}\n"));
        assert_ne!(
            cache.key_for(&checkout),
            key,
            "{file} is not in the cache key"
        );
        checkout.write(file, &text);
    }
    let text = checkout.read("prompt_registry.yaml");
    checkout.write("prompt_registry.yaml", &format!("{text}\n"));
    checkout.write("prompts/04-evals/summarize/x.summary.json", "{}");
    assert_eq!(
        cache.key_for(&checkout),
        key,
        "logs and registry churn the key"
    );
}

/// A workflow job run step by step on a checkout, the way GitHub runs it: `run:` steps by
/// bash; this action's steps (`uses: ./`) by the action's own run script, with the step's
/// `env:`; artifacts kept in `artifacts/NAME` (a download without a name puts each in a folder
/// of its name); each step's `$GITHUB_STEP_SUMMARY` appended to `artifacts/job-summary.md`.
/// The `expressions` given and `github.token` and `github.repository` are filled in, other
/// expressions are empty; `environment` is every step's process environment (the secrets).
/// Checkout is the clone itself;
/// the other actions a job uses are returned, for the caller to check what they would read.
fn run_job(
    job: &serde_json::Value,
    checkout: &std::path::Path,
    expressions: &[(&str, &str)],
    environment: &[(&str, &str)],
    artifacts: &std::path::Path,
) -> Vec<serde_json::Value> {
    let fill = |text: &str| {
        let mut text = text.to_owned();
        for (expression, value) in expressions.iter().chain(&Origin::GITHUB) {
            text = text.replace(&format!("${{{{ {expression} }}}}"), value);
        }
        while let Some(start) = text.find("${{") {
            let end = text[start..]
                .find("}}")
                .map_or(text.len(), |at| start + at + 2);
            text.replace_range(start..end, "");
        }
        text
    };
    let action_run = action_run_script();
    let outputs = artifacts.join("github-output");
    let mut others = Vec::new();
    for (number, step) in job["steps"].as_array().unwrap().iter().enumerate() {
        let uses = step["uses"].as_str().unwrap_or_default();
        let action = uses.split('@').next().unwrap_or_default();
        let with = |key: &str| fill(step["with"][key].as_str().unwrap_or_default());
        let script = match (step["run"].as_str(), action) {
            (Some(script), _) => script.to_owned(),
            (None, "./") => action_run.clone(),
            (None, "actions/checkout") => continue,
            (None, "actions/upload-artifact") => {
                let from = checkout.join(with("path"));
                let files = walkdir::WalkDir::new(&from)
                    .into_iter()
                    .filter_map(Result::ok)
                    .filter(|entry| entry.file_type().is_file())
                    .count();
                assert!(
                    files > 0 || with("if-no-files-found") != "error",
                    "nothing to upload at {}",
                    with("path")
                );
                copy_tree(&from, &artifacts.join("store").join(with("name")));
                continue;
            }
            (None, "actions/download-artifact") => {
                assert_eq!(with("name"), "", "downloads all artifacts");
                copy_tree(&artifacts.join("store"), &checkout.join(with("path")));
                continue;
            }
            (None, _) => {
                others.push(step.clone());
                continue;
            }
        };
        // Each step has its own summary file; the job's summary is them in order.
        let step_summary = artifacts.join(format!("step-summary-{number}.md"));
        let mut command = bash_step(&script, checkout);
        command
            .envs(environment.iter().copied())
            .env("GITHUB_REPOSITORY", "owner/prompts")
            .env("GITHUB_STEP_SUMMARY", &step_summary)
            .env("GITHUB_OUTPUT", &outputs)
            .env("PROMPTOPS_COMMAND", with("command"));
        if let Some(variables) = step["env"].as_object() {
            for (name, value) in variables {
                command.env(name, fill(value.as_str().unwrap_or_default()));
            }
        }
        let output = command.output().unwrap();
        assert!(output.status.success(), "{step:#}\n{output:?}");
        if let Ok(text) = std::fs::read_to_string(&step_summary) {
            let mut job_summary = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(artifacts.join("job-summary.md"))
                .unwrap();
            std::io::Write::write_all(&mut job_summary, text.as_bytes()).unwrap();
            std::fs::remove_file(step_summary).unwrap();
        }
    }
    others
}

/// The nightly recipe as written: each shard job of the matrix on its own checkout, its
/// artifact, then the merge job on all of them. Each example is asked once; the merged run
/// gets its job summary and JUnit report; and a shard run committed earlier (history in git)
/// is not taken for one of tonight's shards, because a shard uploads only what it wrote.
#[test]
fn the_nightly_recipe_evaluates_each_example_once_and_merges_with_reports() {
    use crate::eval::{KEY, always_right, repo as eval_repo};
    use crate::support::llm_server::LlmServer;
    let server = LlmServer::start(always_right);
    let origin = eval_repo(&server, 13, "");
    let environment = [("TEST_LLM_KEY", KEY)];
    let old = origin.run_env(&["eval", "--shard", "1/4"], &environment);
    assert_eq!(old.code, 0, "{old:?}");
    origin.commit(
        "prompts, and a shard run from an earlier night",
        1_795_437_296,
    );
    let asked_before = server.count();
    let origin = Origin::of(&origin);

    let workflow = workflow("nightly.yml");
    let eval_job = &workflow["jobs"]["eval"];
    let shards = eval_job["strategy"]["matrix"]["shard"].as_array().unwrap();
    assert_eq!(shards.len(), 4);
    let artifacts = tempfile::tempdir().unwrap();
    for shard in shards {
        let shard = shard.as_u64().unwrap().to_string();
        let checkout = origin.checkout();
        let others = run_job(
            eval_job,
            checkout.path(),
            &[("matrix.shard", &shard)],
            &environment,
            artifacts.path(),
        );
        assert!(others.is_empty(), "{others:?}");
    }
    assert_eq!(
        server.count() - asked_before,
        13,
        "each example asked once, by one shard"
    );

    let merge = origin.checkout();
    let regression = &workflow["jobs"]["regression"];
    let others = run_job(
        regression,
        merge.path(),
        &[],
        &environment,
        artifacts.path(),
    );
    let summary = std::fs::read_to_string(artifacts.path().join("job-summary.md")).unwrap();
    assert!(summary.contains("summarize"), "{summary}");
    assert_eq!(others.len(), 1, "the JUnit reporter: {others:?}");
    let junit = others[0]["with"]["report_paths"].as_str().unwrap();
    let junit = merge.read(junit);
    assert!(junit.contains("<testsuite"), "{junit}");
    assert_eq!(
        junit.matches("<testcase").count(),
        1 + 13,
        "a gate and each example"
    );
    assert!(!junit.contains("<failure"), "{junit}");
    // Nothing regressed: nothing was rolled back, and the push had nothing to send.
    let head = git(&origin.path(), &["log", "-1", "--format=%s", "main"]);
    assert_eq!(head, "prompts, and a shard run from an earlier night");
}

/// A `shell: bash` step's script as GitHub runs it (`bash --noprofile --norc -eo pipefail`),
/// in `dir`, with this build's promptops first on PATH (as the action's installer leaves it).
fn bash_step(script: &str, dir: &std::path::Path) -> std::process::Command {
    let binaries = std::path::Path::new(env!("CARGO_BIN_EXE_promptops"))
        .parent()
        .unwrap();
    let mut command = std::process::Command::new("bash");
    command
        .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", script])
        .current_dir(dir)
        .env(
            "PATH",
            format!(
                "{}:{}",
                binaries.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS");
    command
}

/// A Python server on a free loopback port that names its port in the first line it prints;
/// killed when dropped.
struct PythonServer {
    child: std::process::Child,
    port: String,
}

impl PythonServer {
    fn start(args: &[&std::ffi::OsStr]) -> PythonServer {
        use std::io::BufRead;
        let mut child = std::process::Command::new("python3")
            .arg("-u")
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        // "Serving HTTP on 127.0.0.1 port 40123 (…)" or "listening on 40123"
        let port = line
            .split_whitespace()
            .find(|word| !word.is_empty() && word.chars().all(|c| c.is_ascii_digit()))
            .unwrap_or_else(|| panic!("the server said {line:?}"))
            .to_owned();
        PythonServer { child, port }
    }
}

impl Drop for PythonServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The script of action.yml's step that runs the command.
fn action_run_script() -> String {
    let text = std::fs::read_to_string(root().join("action.yml")).unwrap();
    let action = promptops::domain::yaml::parse(&text)
        .unwrap()
        .unwrap()
        .value;
    action["runs"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|step| step["id"] == "run")
        .and_then(|step| step["run"].as_str())
        .unwrap()
        .to_owned()
}

/// The action's run step, run the way GitHub runs a `shell: bash` step: the words split on
/// blanks (across lines too), `$NAME` and `${NAME}` taken from the environment, nothing else
/// expanded, and the exit status both returned and written as the `exit-code` output.
#[test]
fn the_actions_command_expands_environment_names_and_nothing_else() {
    let run = &action_run_script();
    let work = tempfile::tempdir().unwrap();
    let repo = crate::support::TestRepo::sample();
    let outputs = work.path().join("github-output");
    let step = |command: &str, environment: &[(&str, &str)]| {
        bash_step(run, repo.path())
            .env("PROMPTOPS_COMMAND", command)
            .env("GITHUB_OUTPUT", &outputs)
            .envs(environment.iter().copied())
            .output()
            .unwrap()
    };

    let json = step(
        "validate --for${SUFFIX} $FORMAT",
        &[("SUFFIX", "mat"), ("FORMAT", "json")],
    );
    assert_eq!(json.status.code(), Some(0), "{json:?}");
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["summary"]["errors"], 0);

    let canary = work.path().join("canary");
    let canary = canary.display();
    let hostile = step(
        &format!("validate $(touch {canary})\n`touch {canary}` ; touch {canary} * \"$HOME\""),
        &[],
    );
    assert_eq!(hostile.status.code(), Some(2), "{hostile:?}");
    let stderr = String::from_utf8_lossy(&hostile.stderr);
    assert!(stderr.contains("$(touch: no such file"), "{stderr}");
    assert!(
        !work.path().join("canary").exists(),
        "the command ran a shell"
    );

    let outputs = std::fs::read_to_string(outputs).unwrap();
    assert_eq!(
        outputs.lines().collect::<Vec<_>>(),
        ["exit-code=0", "exit-code=2"]
    );
}

/// The action's installer against a release served on loopback and the action's repository
/// as a local git repository: by tag, by the commit a tag points at (an action pinned by sha),
/// refusing an asset that does not match its .sha256, and saying so when no release tag points
/// at the commit (then it builds from source, which fails here on purpose: no crate there).
#[test]
fn the_action_installs_the_release_binary_checked_and_by_commit() {
    let work = tempfile::tempdir().unwrap();
    let action = work.path().join("action");
    let git = |args: &[&str]| {
        let mut all = vec!["-c", "user.name=t", "-c", "user.email=t@example.com"];
        all.extend_from_slice(args);
        git(&action, &all)
    };
    std::fs::create_dir_all(&action).unwrap();
    git(&["init", "--quiet"]);
    git(&["commit", "--quiet", "--allow-empty", "-m", "release"]);
    git(&["tag", "-a", "v0.1.0", "-m", "v0.1.0"]);
    let released = git(&["rev-parse", "HEAD"]);
    git(&["commit", "--quiet", "--allow-empty", "-m", "later"]);
    let unreleased = git(&["rev-parse", "HEAD"]);

    let arch = match std::env::consts::ARCH {
        "x86_64" => "x86_64",
        _ => "aarch64",
    };
    let asset = format!("promptops-{}-{arch}.tar.gz", std::env::consts::OS);
    let release_files = work.path().join("release_files");
    let release = release_files.join("v0.1.0");
    std::fs::create_dir_all(&release).unwrap();
    let stage = work.path().join("stage");
    std::fs::create_dir_all(&stage).unwrap();
    std::fs::write(
        stage.join("promptops"),
        "#!/bin/sh\necho 'promptops 0.1.0 (release asset)'\n",
    )
    .unwrap();
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg("chmod 755 promptops && tar -czf \"$0\" promptops && cd \"$(dirname \"$0\")\" && shasum -a 256 \"$(basename \"$0\")\" > \"$(basename \"$0\").sha256\"")
        .arg(release.join(&asset))
        .current_dir(&stage)
        .status()
        .unwrap();
    assert!(status.success());
    let server = PythonServer::start(&[
        "-m".as_ref(),
        "http.server".as_ref(),
        "0".as_ref(),
        "--bind".as_ref(),
        "127.0.0.1".as_ref(),
        "--directory".as_ref(),
        release_files.as_os_str(),
    ]);
    let url = format!("http://127.0.0.1:{}", server.port);

    let install = |reference: &str, cache: &str| {
        let github_path = work.path().join(format!("{cache}.path"));
        let cache = work.path().join(cache);
        let output = std::process::Command::new("bash")
            .arg(root().join(".ci/install-promptops"))
            .env("ACTION_REF", reference)
            .env("ACTION_REPOSITORY", "owner/promptops")
            .env("ACTION_PATH", work.path().join("stage"))
            .env("PROMPTOPS_RELEASES_URL", &url)
            .env("PROMPTOPS_ACTION_GIT_URL", work.path().join("action"))
            .env("RUNNER_TOOL_CACHE", &cache)
            .env("GITHUB_PATH", &github_path)
            .env("CARGO_TERM_QUIET", "true")
            .output()
            .unwrap();
        let path = std::fs::read_to_string(&github_path).unwrap_or_default();
        (output, path.trim().to_owned())
    };
    let run_installed = |dir: &str| {
        let output = std::process::Command::new(format!("{dir}/promptops"))
            .output()
            .unwrap();
        String::from_utf8(output.stdout).unwrap()
    };

    for (reference, cache) in [("v0.1.0", "by-tag"), (released.as_str(), "by-commit")] {
        let (output, dir) = install(reference, cache);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{reference}: {output:?}");
        assert!(
            stdout.contains(&format!(
                "installed {asset} of release v0.1.0 (sha256 checked)"
            )),
            "{stdout}"
        );
        assert_eq!(run_installed(&dir), "promptops 0.1.0 (release asset)\n");
    }

    let (output, _) = install(&unreleased, "unreleased");
    assert!(!output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(&format!("no release tag points at {unreleased}")),
        "{stdout}"
    );

    // A tampered asset: refused, nothing installed.
    let mut bytes = std::fs::read(release.join(&asset)).unwrap();
    bytes.extend_from_slice(b"tampered");
    std::fs::write(release.join(&asset), bytes).unwrap();
    let (output, dir) = install("v0.1.0", "tampered");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("does not match its .sha256"),
        "{output:?}"
    );
    assert!(dir.is_empty(), "GITHUB_PATH written for a refused asset");
    assert!(
        !work
            .path()
            .join("tampered/promptops/v0.1.0")
            .join(format!("{}-{arch}", std::env::consts::OS))
            .join("bin/promptops")
            .exists()
    );
}

/// The loopback GitHub API (`support/github_api.py`) over HTTPS with a fresh self-signed
/// certificate; the real `gh` reaches it as a GitHub Enterprise host. Killed when dropped.
struct GithubApi {
    _server: PythonServer,
    host: String,
    certificate: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl GithubApi {
    const TOKEN: &str = "ghs_loopback-token";

    fn start() -> GithubApi {
        let dir = tempfile::tempdir().unwrap();
        let certificate = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        let made = std::process::Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args([
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&certificate)
            .output()
            .unwrap();
        assert!(made.status.success(), "openssl: {made:?}");
        let script = root().join("tests/it/support/github_api.py");
        let server = PythonServer::start(&[
            script.as_os_str(),
            certificate.as_os_str(),
            key.as_os_str(),
            Self::TOKEN.as_ref(),
        ]);
        GithubApi {
            host: format!("127.0.0.1:{}", server.port),
            _server: server,
            certificate,
            _dir: dir,
        }
    }

    /// `curl` for the stand-in's own routes (seeding and state).
    fn call(&self, method: &str, path: &str, body: &str) -> serde_json::Value {
        let output = std::process::Command::new("curl")
            .args(["-fsS", "-X", method, "--cacert"])
            .arg(&self.certificate)
            .args(["-H", "Content-Type: application/json", "--data-raw", body])
            .arg(format!("https://{}{path}", self.host))
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        serde_json::from_slice(&output.stdout).unwrap()
    }
}

/// The pull-request workflow's job as written (bash -eo pipefail, the action's run script, the
/// real `gh`) on two pushes of a branch, against the loopback GitHub API and the bundled
/// example's stored answers: validate, eval of the changed tasks, the report to the job summary,
/// and one comment by the bot, found again on the second page of comments and updated; a
/// comment by someone else that starts with the marker is neither taken nor touched.
#[test]
fn the_pull_request_report_is_one_sticky_comment_updated_on_each_push() {
    crate::support::registry::ensure_tools();
    let origin = crate::support::committed_example();
    let base = git2::Repository::open(origin.path())
        .unwrap()
        .head()
        .unwrap()
        .shorthand()
        .unwrap()
        .to_owned();
    let checkout = crate::support::TestRepo::clone_of(&origin);
    let api = GithubApi::start();
    let marker = "<!-- promptops-report -->";
    for (login, body) in [
        ("octocat", "Looks good."),
        ("mallory", &format!("{marker}\nnot the report")),
        ("octocat", "One more thing."),
    ] {
        api.call(
            "POST",
            "/_seed/7",
            &serde_json::json!({"login": login, "body": body}).to_string(),
        );
    }
    let work = tempfile::tempdir().unwrap();
    let gh_config = work.path().join("gh").to_string_lossy().into_owned();
    let certificate = api.certificate.to_string_lossy().into_owned();
    let pull_request = workflow("pull-request.yml");
    let push = |message: &str, seconds: i64| {
        checkout.commit(message, seconds);
        let others = run_job(
            &pull_request["jobs"]["check"],
            checkout.path(),
            &[
                ("github.base_ref", &base),
                ("github.event.pull_request.number", "7"),
            ],
            &[
                ("GH_HOST", &api.host),
                ("GH_ENTERPRISE_TOKEN", GithubApi::TOKEN),
                ("GH_CONFIG_DIR", &gh_config),
                ("SSL_CERT_FILE", &certificate),
            ],
            work.path(),
        );
        assert_eq!(others.len(), 1, "the cache, replayed by its own test");
        let report = checkout.read("report.md");
        // The next push is a fresh checkout: nothing the job wrote stays.
        git(checkout.path(), &["clean", "-fdq"]);
        let state = api.call("GET", "/_state", "");
        let bots: Vec<serde_json::Value> = state
            .as_array()
            .unwrap()
            .iter()
            .filter(|comment| comment["user"]["login"] == "github-actions[bot]")
            .cloned()
            .collect();
        assert_eq!(bots.len(), 1, "one comment by the bot: {state:#}");
        let mallory = state.as_array().unwrap()[1].clone();
        assert_eq!(mallory["body"], format!("{marker}\nnot the report"));
        (bots[0].clone(), report)
    };

    checkout.edit(
        "prompts/00-templates/normalize-product-title.yaml",
        "description: ",
        "description: Improved. ",
    );
    assert_eq!(checkout.run(&["registry"]).code, 0);
    let (first, report) = push("a better candidate", 1_795_437_400);
    assert!(report.starts_with(marker), "{report}");
    assert!(report.contains("▲ +0.066"), "{report}");
    assert!(!report.contains("classify-product-category"), "{report}");
    assert_eq!(first["body"], report);
    assert_eq!(first["issue"], 7);

    // The next push touches a second task: the report changes, and the same comment says so.
    checkout.edit(
        "prompts/03-metadata/classify-product-category.yaml",
        "description: ",
        "description: Reworded. ",
    );
    assert_eq!(checkout.run(&["registry"]).code, 0);
    let (second, report) = push("a second task", 1_795_437_500);
    assert_ne!(second["body"], first["body"], "the comment was not updated");
    assert_eq!(second["id"], first["id"]);
    assert_eq!(second["body"], report);
    assert!(report.contains("classify-product-category"), "{report}");
    let summary = std::fs::read_to_string(work.path().join("job-summary.md")).unwrap();
    assert_eq!(summary.matches(marker).count(), 2, "{summary}");
    assert_eq!(summary.matches("## promptops eval").count(), 4, "{summary}");
}

/// The main workflow's promote job as written, against a bare `origin` with a `main` branch:
/// its shell steps run by bash (the bot's identity, the push), its promptops step with the
/// loopback model; GitHub's push URL is pointed at `origin` by git's `insteadOf`. The candidate
/// reaches `origin` as the bot's promotion commit with its tag.
#[test]
fn the_main_recipe_promotes_as_the_bot_and_pushes_the_commit_and_tag() {
    use crate::eval::{KEY, always_right};
    use crate::support::llm_server::LlmServer;
    let server = LlmServer::start(always_right);
    let origin = Origin::of(&committed_candidate(&server));
    let checkout = origin.checkout();
    let main = workflow("main.yml");
    let artifacts = tempfile::tempdir().unwrap();
    let others = run_job(
        &main["jobs"]["promote"],
        checkout.path(),
        &[],
        &[("TEST_LLM_KEY", KEY)],
        artifacts.path(),
    );
    let others: Vec<&str> = others
        .iter()
        .filter_map(|step| step["uses"].as_str())
        .collect();
    assert!(
        others.len() == 1 && others[0].starts_with("actions/cache@"),
        "the cache, replayed by its own test: {others:?}"
    );
    assert_eq!(
        server.count(),
        20,
        "production and candidate, 10 examples each"
    );

    let pushed = git(
        &origin.path(),
        &["log", "-1", "--format=%an <%ae>|%s", "main"],
    );
    assert_eq!(
        pushed,
        "github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>|promote summarize 1.1.0"
    );
    let tags = git(&origin.path(), &["tag", "--points-at", "main"]);
    assert_eq!(tags, "prompt/summarize/v1.1.0");
}

/// A pull request that changes no task (only the README, say): both eval steps exit 0, and
/// the job summary says why nothing was evaluated instead of showing an empty table.
#[test]
fn an_eval_of_no_changed_task_says_so_in_the_job_summary() {
    let repo = crate::support::committed_example();
    let summary = repo.path().join("summary.md");
    let summary_path = summary.to_string_lossy().into_owned();
    for (extra, says) in [
        (
            &["--candidate", "--baseline", "production"][..],
            "candidate",
        ),
        (&[][..], "production prompt"),
    ] {
        let mut args = vec![
            "eval",
            "--changed-since",
            "HEAD",
            "--summary-md",
            &summary_path,
        ];
        args.extend_from_slice(extra);
        let output = repo.run(&args);
        assert_eq!(output.code, 0, "{output:?}");
        assert_eq!(
            std::fs::read_to_string(&summary).unwrap(),
            format!(
                "## promptops eval\n\nno task with a {says} changed since HEAD; nothing to evaluate\n\n"
            )
        );
    }
}
