//! Rules about the code itself.

use std::path::Path;

/// `src/domain/` is the pure core: it takes values and returns values. This keeps it so.
#[test]
fn the_domain_does_not_touch_the_world() {
    let forbidden = [
        "std::fs",
        "fs_err",
        "std::env",
        "reqwest",
        "git2::",
        "aws_sdk",
        "aws_config",
        "tokio::",
        "SystemTime",
        "Instant::now",
        "println!",
        "eprintln!",
        "std::process",
    ];
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/domain");
    let mut hits = Vec::new();
    let mut files = 0;
    for entry in walkdir::WalkDir::new(&folder) {
        let path = entry.unwrap().into_path();
        if path.extension().is_none_or(|extension| extension != "rs") {
            continue;
        }
        files += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        for (number, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for word in forbidden {
                if line.contains(word) {
                    hits.push(format!("{}:{}: {word}", path.display(), number + 1));
                }
            }
        }
    }
    // The walk reaches the nested modules (domain/eval/) too.
    assert!(files > 20, "only {files} files under src/domain");
    assert!(
        hits.is_empty(),
        "the domain touches the world:\n{}",
        hits.join("\n")
    );
}

/// The pre-commit hooks we ship call commands that exist.
#[test]
fn pre_commit_hooks_name_real_commands() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join(".pre-commit-hooks.yaml")).unwrap();
    let document = promptops::domain::yaml::parse(&text).unwrap().unwrap();
    let hooks = document.value.as_array().unwrap();
    assert_eq!(hooks.len(), 2);
    for hook in hooks {
        let entry = hook["entry"].as_str().unwrap();
        let mut words = entry.split_whitespace();
        assert_eq!(words.next(), Some("promptops"));
        let mut args: Vec<&str> = words.collect();
        args.push("--help");
        let output = crate::support::run_binary(root, &args);
        assert_eq!(
            output.code, 0,
            "`{entry}` is not a promptops command: {output:?}"
        );
    }
}
