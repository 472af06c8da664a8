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
