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

/// The promptops command lines in a file: `command:` inputs of the action, and lines that
/// start with `promptops ` (or `cargo run … --`), split at `&&`, comments dropped.
fn commands(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in text.lines() {
        let line = line.trim().trim_start_matches("- ");
        if let Some(command) = line.strip_prefix("command: ") {
            // `command: [python3, …]` is an exec provider's, not the action's input.
            if !command.starts_with('[') {
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
    let pipeline = repo.run_env(&["pipeline", "--only", "validate"], &actions);
    assert_eq!(pipeline.code, 0, "{pipeline:?}");
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
