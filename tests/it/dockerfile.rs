//! The Dockerfile holds what `serve` needs: its stages and settings are read from the file,
//! and its build context (after `.dockerignore`) is rebuilt in a temp folder, where the
//! commands of its build stage write a bundle that `serve` loads as the image would
//! (`PROMPTOPS_BUNDLE`, `PROMPTOPS_RELEASE`) and that is the repository's own release.

use std::path::{Path, PathBuf};

use crate::support::http::Server;

const BUNDLE_DIR: &str = "/srv/promptops";

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A Dockerfile instruction: its keyword and its text, continuation lines joined.
fn instructions(text: &str) -> Vec<(String, String)> {
    let mut joined = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
        } else {
            current.push_str(trimmed);
            joined.push(std::mem::take(&mut current));
        }
    }
    joined
        .into_iter()
        .map(|line| {
            let (keyword, rest) = line.split_once(' ').unwrap_or((&line, ""));
            (keyword.to_uppercase(), rest.trim().to_owned())
        })
        .collect()
}

/// The stages, by name, in order, each with its instructions.
fn stages(text: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut stages: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for (keyword, rest) in instructions(text) {
        if keyword == "FROM" {
            let name = rest
                .split_whitespace()
                .collect::<Vec<_>>()
                .windows(2)
                .find(|pair| pair[0].eq_ignore_ascii_case("AS"))
                .map(|pair| pair[1].to_owned())
                .unwrap_or_default();
            stages.push((name, vec![(keyword, rest)]));
        } else if let Some(stage) = stages.last_mut() {
            stage.1.push((keyword, rest));
        }
    }
    stages
}

/// Whether `.dockerignore` keeps `path` in the build context (last matching pattern wins;
/// a pattern naming a folder covers what is inside; `*` stays within one name).
fn kept(patterns: &[String], path: &str) -> bool {
    let mut keep = true;
    for pattern in patterns {
        let (negated, pattern) = match pattern.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, pattern.as_str()),
        };
        let pattern = pattern.trim_end_matches('/');
        let parts: Vec<&str> = path.split('/').collect();
        let wanted: Vec<&str> = pattern.split('/').collect();
        let matches = parts.len() >= wanted.len()
            && wanted
                .iter()
                .zip(&parts)
                .all(|(want, part)| *want == "*" || want == part);
        if matches {
            keep = negated;
        }
    }
    keep
}

fn tracked_files(root: &Path) -> Vec<String> {
    let output = std::process::Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(root)
        .output()
        .unwrap();
    String::from_utf8(output.stdout)
        .unwrap()
        .split('\0')
        .filter(|path| !path.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_app_stage_serves_the_bundle_its_build_stage_writes() {
    let root = repo_root();
    let text = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    let stages = stages(&text);
    let names: Vec<&str> = stages.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        ["build", "runtime", "app"],
        "app must be the last (default) stage"
    );
    let find = |stage: &str, keyword: &str| -> Vec<String> {
        stages
            .iter()
            .find(|(name, _)| name == stage)
            .unwrap()
            .1
            .iter()
            .filter(|(k, _)| k == keyword)
            .map(|(_, rest)| rest.clone())
            .collect()
    };

    // runtime: the binary, non-root, port, health check, entry point.
    assert!(
        find("runtime", "USER")
            .iter()
            .all(|user| !user.starts_with('0') && !user.starts_with("root"))
    );
    assert_eq!(find("runtime", "USER").len(), 1);
    assert_eq!(find("runtime", "EXPOSE"), ["8080"]);
    assert!(find("runtime", "HEALTHCHECK")[0].ends_with(r#"CMD ["promptops", "healthcheck"]"#));
    assert_eq!(find("runtime", "ENTRYPOINT"), [r#"["promptops"]"#]);
    assert_eq!(find("runtime", "CMD"), [r#"["serve"]"#]);
    assert!(find("runtime", "ENV").contains(&"PROMPTOPS_LISTEN=0.0.0.0:8080".to_owned()));

    // app: the bundle the build stage wrote, where PROMPTOPS_BUNDLE points.
    let copies = find("app", "COPY");
    assert_eq!(copies.len(), 1, "{copies:?}");
    let words: Vec<&str> = copies[0].split_whitespace().collect();
    assert!(words.contains(&"--from=build"), "{words:?}");
    let (source, destination) = (words[words.len() - 2], words[words.len() - 1]);
    assert_eq!(destination, BUNDLE_DIR);
    let env = find("app", "ENV").join(" ");
    assert!(
        env.contains(&format!("PROMPTOPS_BUNDLE={BUNDLE_DIR}")),
        "{env}"
    );
    assert!(env.contains("PROMPTOPS_RELEASE=${RELEASE_ID}"), "{env}");
    let labels = find("app", "LABEL").join(" ");
    for label in [
        "org.opencontainers.image.source",
        "org.opencontainers.image.revision",
        "dev.promptops.release",
    ] {
        assert!(labels.contains(label), "{labels}");
    }
    let bundle_run = find("build", "RUN")
        .into_iter()
        .find(|run| run.contains(" bundle "))
        .expect("the build stage writes the bundle");
    assert!(
        bundle_run.ends_with(&format!("bundle --out {source}")),
        "{bundle_run}"
    );

    // The build context after .dockerignore, and what the build stage's COPY lines take of it.
    let patterns: Vec<String> = std::fs::read_to_string(root.join(".dockerignore"))
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect();
    let context: Vec<String> = tracked_files(&root)
        .into_iter()
        .filter(|path| kept(&patterns, path))
        .collect();
    assert!(
        !context
            .iter()
            .any(|path| path.starts_with("target/") || path.starts_with(".git/"))
    );
    let work = tempfile::tempdir().unwrap();
    for copy in find("build", "COPY") {
        let words: Vec<&str> = copy
            .split_whitespace()
            .filter(|w| !w.starts_with("--"))
            .collect();
        let (sources, target) = words.split_at(words.len() - 1);
        let target = target[0].trim_start_matches("./");
        for source in sources {
            let source = source.trim_end_matches('/');
            for path in context
                .iter()
                .filter(|p| *p == source || p.starts_with(&format!("{source}/")))
            {
                // `COPY a b ./` puts a file at ./a; `COPY dir ./dir` puts its contents there.
                let relative = if path == source {
                    Path::new(path)
                        .file_name()
                        .unwrap()
                        .to_str()
                        .unwrap()
                        .to_owned()
                } else {
                    let inside = &path[source.len() + 1..];
                    let base = if target.is_empty() {
                        source
                    } else {
                        target.trim_end_matches('/')
                    };
                    format!("{base}/{inside}")
                };
                let to = work.path().join(&relative);
                std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                std::fs::copy(root.join(path), &to).unwrap();
            }
        }
    }
    let out = tempfile::tempdir().unwrap();
    let in_image = out.path().join("bundle");
    let built = crate::support::run_binary(
        work.path(),
        &[
            "--repo",
            work.path().to_str().unwrap(),
            "bundle",
            "--out",
            in_image.to_str().unwrap(),
        ],
    );
    assert_eq!(built.code, 0, "{built:?}");
    let from_repo = crate::support::run_binary(
        &root,
        &[
            "--repo",
            root.to_str().unwrap(),
            "bundle",
            "--out",
            out.path().join("repo").to_str().unwrap(),
        ],
    );
    assert_eq!(from_repo.code, 0, "{from_repo:?}");
    let release_id = built.stdout.trim();
    assert_eq!(
        release_id,
        from_repo.stdout.trim(),
        "the image holds the repository's release"
    );

    // serve as the image runs it: no flags, the bundle and its id from the environment.
    let elsewhere = crate::support::TestRepo::empty();
    let mut command = elsewhere.command(
        &["serve", "--listen", "127.0.0.1:0"],
        &[
            ("PROMPTOPS_BUNDLE", in_image.to_str().unwrap()),
            ("PROMPTOPS_RELEASE", release_id),
        ],
    );
    let server = Server::spawn(&mut command);
    assert_eq!(server.get("/v1/release").json()["release_id"], release_id);
    drop(server);
    let wrong = elsewhere.run_env(
        &["serve", "--listen", "127.0.0.1:0"],
        &[
            ("PROMPTOPS_BUNDLE", in_image.to_str().unwrap()),
            ("PROMPTOPS_RELEASE", "0000"),
        ],
    );
    assert_eq!(wrong.code, 2, "{wrong:?}");
    assert!(
        wrong.stderr.contains("PROMPTOPS_RELEASE is 0000"),
        "{wrong:?}"
    );
}

#[test]
fn the_dockerignore_matcher_follows_last_match_wins() {
    let patterns: Vec<String> = ["*", "!src/", "!prompts/", "prompts/04-evals"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    assert!(kept(&patterns, "src/main.rs"));
    assert!(!kept(&patterns, "README.md"));
    assert!(!kept(&patterns, "prompts/04-evals/x.jsonl"));
    assert!(kept(&patterns, "prompts/02-production/x.yaml"));
}
