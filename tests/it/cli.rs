//! The command line as users and their scripts meet it: every command's `--help`, and the
//! finding codes CI filters on. Both are snapshots, so a change shows in review (cargo-deny
//! snapshots its codes the same way): review the diff, then `INSTA_UPDATE=always cargo test`.

use clap::CommandFactory;

use crate::support::run_binary;

/// Every command and subcommand by its words (`eval merge`, `deploy status`), depth first.
fn commands(command: &clap::Command, words: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    for sub in command.get_subcommands() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        words.push(sub.get_name().to_owned());
        out.push(words.clone());
        commands(sub, words, out);
        words.pop();
    }
}

/// Each command's `--help` as the binary prints it.
#[test]
fn every_commands_help_is_a_snapshot() {
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut all = vec![Vec::new()];
    commands(&promptops::cli::Cli::command(), &mut Vec::new(), &mut all);
    // The walk reaches nested subcommands.
    assert!(
        all.iter().any(|words| words == &["eval", "merge"]),
        "{all:?}"
    );
    assert!(all.len() > 20, "{all:?}");
    for words in all {
        let mut args: Vec<&str> = words.iter().map(String::as_str).collect();
        args.push("--help");
        let output = run_binary(here, &args);
        assert_eq!(output.code, 0, "{output:?}");
        let name = if words.is_empty() {
            "help".to_owned()
        } else {
            format!("help-{}", words.join("-"))
        };
        insta::assert_snapshot!(name, output.stdout);
    }
}

/// The finding codes are an interface: users filter on them in CI. Renaming or dropping one
/// shows here.
#[test]
fn the_finding_codes_are_a_snapshot() {
    let codes: Vec<&str> = promptops::domain::diagnostic::Code::ALL
        .iter()
        .map(|code| code.as_str())
        .collect();
    insta::assert_snapshot!("finding-codes", codes.join("\n"));
}

/// The help a user reads: no Markdown backticks, no command that does not exist yet, the
/// global options apart, examples; completions and a man page from the same definition.
#[test]
fn help_completions_and_man_page_describe_the_real_cli() {
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut helps = vec![run_binary(here, &["--help"])];
    for command in [
        "validate",
        "registry",
        "status",
        "eval",
        "init",
        "promote",
        "archive",
        "rollback",
        "repair",
        "history",
        "bundle",
        "serve",
        "healthcheck",
        "image",
        "deploy",
        "pipeline",
        "completions",
    ] {
        helps.push(run_binary(here, &[command, "--help"]));
    }
    for help in &helps {
        assert_eq!(help.code, 0, "{help:?}");
        assert!(
            !help.stdout.contains('`'),
            "backticks in help:\n{}",
            help.stdout
        );
    }
    assert!(
        helps[1].stdout.contains("Global options:"),
        "{}",
        helps[1].stdout
    );
    assert!(helps[1].stdout.contains("Examples:"), "{}", helps[1].stdout);
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let output = run_binary(here, &["completions", shell]);
        assert_eq!(output.code, 0, "{output:?}");
        assert!(
            output.stdout.contains("validate") && output.stdout.contains("--candidate"),
            "{shell}: {}",
            output.stdout
        );
    }
    let man = run_binary(here, &["man"]);
    assert_eq!(man.code, 0, "{man:?}");
    assert!(
        man.stdout.starts_with(".ie") || man.stdout.contains(".TH promptops"),
        "{}",
        &man.stdout[..200.min(man.stdout.len())]
    );
    assert!(man.stdout.contains("validate"));
    let bad = run_binary(here, &["completions", "tcsh"]);
    assert_eq!(bad.code, 2, "{bad:?}");
}
