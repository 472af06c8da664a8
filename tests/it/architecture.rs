//! Rules about the code itself.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The modules of the crate and the modules each one imports (`use crate::…`, `use super::…`
/// and paths written inline), resolved to the module that defines what is named.
struct Imports {
    /// `domain::eval::scorers` → the modules it imports.
    edges: BTreeMap<String, BTreeSet<String>>,
}

impl Imports {
    /// Reads every `.rs` file under `src/` (the binary's `main.rs` aside).
    fn of_crate() -> Imports {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        for entry in walkdir::WalkDir::new(&src) {
            let path = entry.unwrap().into_path();
            if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("src/main.rs") {
                let relative = path
                    .strip_prefix(&src)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                files.push((relative, std::fs::read_to_string(&path).unwrap()));
            }
        }
        Imports::of(&files)
    }

    /// `files`: (path under `src/`, text).
    fn of(files: &[(String, String)]) -> Imports {
        let modules: BTreeSet<String> = files.iter().map(|(path, _)| module_of(path)).collect();
        let mut edges = BTreeMap::new();
        for (path, text) in files {
            let from = module_of(path);
            let mut targets = BTreeSet::new();
            for imported in imported_paths(&strip_comments(text)) {
                let Some(absolute) = resolve(&from, &imported) else {
                    continue;
                };
                // The longest module that is a prefix of the path defines what is named.
                let mut segments: Vec<&str> = absolute.split("::").collect();
                while !segments.is_empty() {
                    let candidate = segments.join("::");
                    if modules.contains(&candidate) {
                        if candidate != from && !from.starts_with(&format!("{candidate}::")) {
                            targets.insert(candidate);
                        }
                        break;
                    }
                    segments.pop();
                }
            }
            edges.insert(from, targets);
        }
        Imports { edges }
    }

    /// Every import that breaks a layer rule, as `from -> to`.
    fn layer_breaches(&self) -> Vec<String> {
        let mut breaches = Vec::new();
        for (from, targets) in &self.edges {
            for to in targets {
                let allowed = match layer(from) {
                    "cli" => false,
                    "domain" => layer(to) == "domain",
                    "adapters" => matches!(layer(to), "domain" | "adapters"),
                    "report" => matches!(layer(to), "domain" | "report"),
                    // Commands take their arguments from `cli` and nothing else of it.
                    "commands" => layer(to) != "cli" || to == "cli",
                    _ => true,
                };
                if !allowed {
                    breaches.push(format!("{from} -> {to}"));
                }
            }
        }
        breaches
    }

    /// A cycle among the modules that `keep` selects, if there is one.
    fn cycle(&self, keep: impl Fn(&str) -> bool) -> Option<Vec<String>> {
        fn visit<'a>(
            node: &'a str,
            edges: &'a BTreeMap<String, BTreeSet<String>>,
            keep: &dyn Fn(&str) -> bool,
            state: &mut BTreeMap<&'a str, u8>,
            stack: &mut Vec<&'a str>,
        ) -> Option<Vec<String>> {
            state.insert(node, 1);
            stack.push(node);
            for next in edges.get(node).into_iter().flatten() {
                if !keep(next) {
                    continue;
                }
                match state.get(next.as_str()) {
                    Some(1) => {
                        let start = stack.iter().position(|n| *n == next).unwrap();
                        let mut cycle: Vec<String> =
                            stack[start..].iter().map(|n| (*n).to_owned()).collect();
                        cycle.push(next.clone());
                        return Some(cycle);
                    }
                    Some(_) => {}
                    None => {
                        if let Some(cycle) = visit(next, edges, keep, state, stack) {
                            return Some(cycle);
                        }
                    }
                }
            }
            stack.pop();
            state.insert(node, 2);
            None
        }
        let mut state = BTreeMap::new();
        for node in self.edges.keys().filter(|n| keep(n)) {
            if !state.contains_key(node.as_str())
                && let Some(cycle) = visit(node, &self.edges, &keep, &mut state, &mut Vec::new())
            {
                return Some(cycle);
            }
        }
        None
    }

    /// The graph between layers (`domain`, `commands`, …), for a cycle check at that level.
    fn layers(&self) -> Imports {
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, targets) in &self.edges {
            let entry = edges.entry(layer(from).to_owned()).or_default();
            entry.extend(
                targets
                    .iter()
                    .map(|to| layer(to).to_owned())
                    .filter(|to| to != layer(from)),
            );
        }
        Imports { edges }
    }
}

/// `commands/eval/mod.rs` → `commands::eval`; `lib.rs` → the empty name (the crate root).
fn module_of(path: &str) -> String {
    let path = path.trim_end_matches(".rs");
    let path = path.strip_suffix("/mod").unwrap_or(path);
    if path == "lib" {
        return String::new();
    }
    path.replace('/', "::")
}

/// The top-level module: `domain`, `adapters`, `settings`, …
fn layer(module: &str) -> &str {
    module.split("::").next().unwrap_or_default()
}

/// The text without `//` comments (doc comments name paths in prose).
fn strip_comments(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            // A `//` inside a string (a URL) keeps the line up to it, which is all code.
            Some(index) => &line[..index],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `crate::…`/`super::…`/`self::…` path in the text: from `use` items (braces
/// expanded) and written inline.
fn imported_paths(text: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let use_item = regex::Regex::new(r"(?ms)^\s*(?:pub(?:\([a-z]+\))?\s+)?use\s+([^;]+);").unwrap();
    let punctuation = regex::Regex::new(r" ?([{},]|::) ?").unwrap();
    let mut rest = text.to_owned();
    for found in use_item.captures_iter(text) {
        let spaced = found[1].split_whitespace().collect::<Vec<_>>().join(" ");
        let tree = punctuation.replace_all(&spaced, "$1").into_owned();
        expand(&tree, &mut paths);
        rest = rest.replace(&found[0], "");
    }
    let inline = regex::Regex::new(r"\b(?:crate|super|self)(?:::[A-Za-z_][A-Za-z0-9_]*)+").unwrap();
    paths.extend(inline.find_iter(&rest).map(|m| m.as_str().to_owned()));
    paths
        .into_iter()
        .filter(|path| {
            path.starts_with("crate::") || path.starts_with("super::") || path.starts_with("self::")
        })
        .collect()
}

/// `a::{b, c::{d as e, f}}` → `a::b`, `a::c::d`, `a::c::f` (spaces only around `as`).
fn expand(tree: &str, out: &mut Vec<String>) {
    let Some(open) = tree.find('{') else {
        let path = tree.split(" as ").next().unwrap_or(tree);
        out.push(path.trim_end_matches("::*").to_owned());
        return;
    };
    let prefix = &tree[..open];
    let close = tree
        .rfind('}')
        .filter(|close| *close > open)
        .unwrap_or(tree.len());
    let inner = &tree[open + 1..close];
    let mut depth = 0;
    let mut start = 0;
    let mut parts = Vec::new();
    for (index, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    for part in parts.into_iter().filter(|part| !part.is_empty()) {
        if part == "self" {
            out.push(prefix.trim_end_matches("::").to_owned());
        } else {
            expand(&format!("{prefix}{part}"), out);
        }
    }
}

/// An import path as an absolute path from the crate root, seen from module `from`.
fn resolve(from: &str, path: &str) -> Option<String> {
    let mut base: Vec<&str> = if from.is_empty() {
        Vec::new()
    } else {
        from.split("::").collect()
    };
    let mut segments = path.split("::").peekable();
    match segments.peek().copied() {
        Some("crate") => {
            base.clear();
            segments.next();
        }
        Some("self") => {
            segments.next();
        }
        Some("super") => {
            while segments.peek() == Some(&"super") {
                segments.next();
                base.pop()?;
            }
        }
        _ => return None,
    }
    base.extend(segments);
    Some(base.join("::"))
}

/// The layer rules of `DESIGN.md` section 4: `cli` imports nothing of the crate, `domain` only
/// `domain` (and has no cycles), `adapters` and `report` only `domain`, and no cycle between
/// layers.
#[test]
fn imports_follow_the_layer_rules() {
    let imports = Imports::of_crate();
    // The walk reaches every layer and the nested modules.
    for module in [
        "cli",
        "domain::eval::scorers",
        "adapters::eval_store",
        "report::eval",
    ] {
        assert!(
            imports
                .edges
                .keys()
                .any(|m| m == module || m.starts_with(&format!("{module}::"))),
            "{module} was not read"
        );
    }
    assert!(
        imports.edges["commands::eval"].contains("adapters::eval_store"),
        "{:?}",
        imports.edges["commands::eval"]
    );
    let breaches = imports.layer_breaches();
    assert!(
        breaches.is_empty(),
        "imports that break the layer rules:\n{}",
        breaches.join("\n")
    );
    let cycle = imports.cycle(|module| layer(module) == "domain");
    assert_eq!(cycle, None, "a cycle of imports in the domain");
    assert_eq!(
        imports.layers().cycle(|_| true),
        None,
        "a cycle between layers"
    );
}

/// The checker itself finds what it is there to find: a cycle, a layer breach, and paths in
/// every form (grouped, nested, `super`, inline).
#[test]
fn the_import_checker_finds_cycles_and_breaches() {
    let files = [
        (
            "domain/a.rs".to_owned(),
            "use super::{b::Thing, c};\n// use crate::report::x;\nfn f() { crate::adapters::fs::write(); }".to_owned(),
        ),
        (
            "domain/b.rs".to_owned(),
            "use crate::domain::{\n    self,\n    a::{X as Z, Y},\n};".to_owned(),
        ),
        ("domain/c.rs".to_owned(), String::new()),
        ("domain/mod.rs".to_owned(), "pub mod a; pub mod b; pub mod c;".to_owned()),
        ("adapters/fs.rs".to_owned(), String::new()),
        ("cli/mod.rs".to_owned(), "use crate::domain::c;".to_owned()),
        ("report/mod.rs".to_owned(), "use crate::domain::c;".to_owned()),
    ];
    let imports = Imports::of(&files);
    assert_eq!(
        imports.edges["domain::a"],
        BTreeSet::from([
            "domain::b".to_owned(),
            "domain::c".to_owned(),
            "adapters::fs".to_owned()
        ])
    );
    assert_eq!(
        imports.layer_breaches(),
        ["cli -> domain::c", "domain::a -> adapters::fs"]
    );
    let cycle = imports.cycle(|module| layer(module) == "domain").unwrap();
    assert_eq!(cycle, ["domain::a", "domain::b", "domain::a"]);
}

/// `src/domain/` and `src/report/` neither print nor touch files: clippy's
/// `disallowed-methods`/`disallowed-macros` (in `clippy.toml`) enforce it, switched on for
/// those folders with `#![deny(...)]` in their `mod.rs`.
#[test]
fn the_domain_and_the_report_deny_printing_and_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = std::fs::read_to_string(root.join("clippy.toml")).unwrap();
    for name in [
        "std::fs::read",
        "std::fs::write",
        "std::env::var",
        "std::println",
        "std::eprintln",
        "std::print",
    ] {
        assert!(
            config.contains(&format!("\"{name}\"")),
            "clippy.toml does not name {name}"
        );
    }
    for module in ["src/domain/mod.rs", "src/report/mod.rs"] {
        let text = std::fs::read_to_string(root.join(module)).unwrap();
        assert!(
            text.contains("#![deny(clippy::disallowed_methods, clippy::disallowed_macros)]"),
            "{module} does not deny the disallowed methods"
        );
    }
}

/// `src/domain/` is the pure core: it takes values and returns values, and starts no thread
/// and opens no socket (the edges hand it what runs work: `domain::parallel::Spawn`). This
/// keeps it so.
#[test]
fn the_domain_does_not_touch_the_world() {
    let forbidden = [
        "std::fs",
        "fs_err",
        "std::env",
        "std::thread",
        "std::net",
        "reqwest",
        "hyper",
        "axum",
        "http::",
        "oci_client",
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
    assert_eq!(hooks.len(), 4);
    for hook in hooks {
        let entry = hook["entry"].as_str().unwrap();
        // Each wheel hook (python) has a `-src` twin (rust) running the same command.
        let id = hook["id"].as_str().unwrap();
        let (twin, language) = match id.strip_suffix("-src") {
            Some(base) => (base.to_owned(), "rust"),
            None => (format!("{id}-src"), "python"),
        };
        assert_eq!(hook["language"].as_str(), Some(language), "{id}");
        assert!(
            hooks
                .iter()
                .any(|other| other["id"].as_str() == Some(twin.as_str())
                    && other["entry"].as_str() == Some(entry)),
            "{id} has no twin {twin} running `{entry}`"
        );
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

/// The package pre-commit installs (the root pyproject.toml) pins the wheel of this very
/// version, and the wheel's own pyproject is that distribution: a hook at tag vX.Y.Z runs X.Y.Z.
#[test]
fn the_pre_commit_package_pins_this_versions_wheel() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let placeholder = std::fs::read_to_string(root.join("pyproject.toml")).unwrap();
    let wheel = std::fs::read_to_string(root.join("python/pyproject.toml")).unwrap();
    let pin = format!(
        "dependencies = [\"promptops-cli=={}\"]",
        env!("CARGO_PKG_VERSION")
    );
    assert!(
        placeholder.lines().any(|line| line == pin),
        "pyproject.toml must say {pin}"
    );
    assert!(wheel.lines().any(|line| line == "name = \"promptops-cli\""));
    assert!(wheel.lines().any(|line| line == "bindings = \"bin\""));
}

/// The lines of each function body from `lines[start]` (its `fn` line) to its closing brace,
/// counting braces outside strings, characters and comments.
fn function_length(lines: &[&str], start: usize) -> usize {
    let strings = regex::Regex::new(r#""(\\.|[^"\\])*"|'(\\.|[^'\\])'"#).unwrap();
    let mut depth = 0i64;
    let mut opened = false;
    for (offset, line) in lines[start..].iter().enumerate() {
        let code = strings.replace_all(line, "\"\"");
        let code = code.split("//").next().unwrap_or_default();
        for c in code.chars() {
            match c {
                '{' => {
                    depth += 1;
                    opened = true;
                }
                '}' => depth -= 1,
                _ => {}
            }
        }
        if (opened && depth <= 0) || (!opened && code.trim_end().ends_with(';')) {
            return offset + 1;
        }
    }
    lines.len() - start
}

/// A function over 100 lines says why it is long (a `// Long on purpose: …` comment above it,
/// as the long ones do); the others stay short. Test modules are not counted.
#[test]
fn a_function_over_100_lines_says_why() {
    let function = regex::Regex::new(
        r"^\s*(pub(\([^)]*\))?\s+)?(async\s+)?(const\s+)?(unsafe\s+)?fn\s+([A-Za-z_][A-Za-z0-9_]*)",
    )
    .unwrap();
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut silent = Vec::new();
    let mut measured = 0;
    for entry in walkdir::WalkDir::new(&folder) {
        let path = entry.unwrap().into_path();
        if path.extension().is_none_or(|extension| extension != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let end = lines
            .iter()
            .position(|line| line.starts_with("#[cfg(test)]"))
            .unwrap_or(lines.len());
        let mut index = 0;
        while index < end {
            let Some(found) = function.captures(lines[index]) else {
                index += 1;
                continue;
            };
            measured += 1;
            let length = function_length(&lines, index);
            let said = lines[..index]
                .iter()
                .rev()
                .take_while(|line| {
                    let line = line.trim_start();
                    line.starts_with("//") || line.starts_with("#[")
                })
                .any(|line| line.contains("Long on purpose"));
            if length > 100 && !said {
                silent.push(format!(
                    "{}:{}: fn {} is {length} lines",
                    path.strip_prefix(&folder).unwrap().display(),
                    index + 1,
                    &found[6]
                ));
            }
            index += length.max(1);
        }
    }
    assert!(measured > 500, "only {measured} functions measured");
    assert!(
        silent.is_empty(),
        "long functions that do not say why (shrink them, or say why above them with \
         `// Long on purpose: …`):\n{}",
        silent.join("\n")
    );
}

/// Regression (defect 28): `MIT OR Apache-2.0` was declared without the license texts.
#[test]
fn the_declared_licenses_are_shipped() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("license = \"MIT OR Apache-2.0\""));
    let mit = std::fs::read_to_string(root.join("LICENSE-MIT")).unwrap();
    assert!(mit.contains("Permission is hereby granted, free of charge"));
    let apache = std::fs::read_to_string(root.join("LICENSE-APACHE")).unwrap();
    assert!(apache.contains("Apache License") && apache.contains("Version 2.0, January 2004"));
}
