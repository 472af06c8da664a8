//! A person meets promptops in a terminal: the README's main job, run under a pseudo-terminal
//! on a fresh copy of the bundled example, must end as it does in CI.

use crate::support::committed_example;
use crate::support::terminal::run_in_terminal;

/// Regression: the README's first command panicked in a terminal (exit 101): the log's
/// subscriber was asked for colour, and the build lacked tracing-subscriber's `ansi` feature. A
/// release build printed a sentence about it before every command instead.
#[test]
fn the_readme_main_job_runs_in_a_terminal() {
    let repo = committed_example();
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_promptops"));
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let job = readme
        .lines()
        .find(|line| line.starts_with("cargo run --locked --quiet -- pipeline"))
        .expect("the README gives its main job as one line of cargo runs");
    for part in job.split(" && ") {
        let args: Vec<&str> = part
            .strip_prefix("cargo run --locked --quiet -- ")
            .expect("each part runs promptops through cargo")
            .split_whitespace()
            .collect();
        let run = run_in_terminal(repo.path(), binary, &args);
        assert_eq!(
            run.code,
            Some(0),
            "`promptops {}` in a terminal:\n{}",
            args.join(" "),
            run.screen
        );
        assert!(!run.screen.contains("panicked"), "{}", run.screen);
        assert!(
            !run.screen.contains("ansi"),
            "a sentence about colour support: {}",
            run.screen
        );
    }
    // And it drew for a person: `status` prints its table.
    let status = run_in_terminal(repo.path(), binary, &["status"]);
    assert!(
        status.screen.contains("normalize-product-title"),
        "{}",
        status.screen
    );
}
