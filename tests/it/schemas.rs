//! The committed JSON Schemas under `schemas/` are what the code generates.
//! Set `PROMPTOPS_BLESS=1` to rewrite them after changing a format type.

use crate::support::TestRepo;
use promptops::domain::schema::SchemaKind;

#[test]
fn committed_schemas_match_the_generated_ones() {
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    let bless = std::env::var_os("PROMPTOPS_BLESS").is_some();
    let mut stale = Vec::new();
    for kind in SchemaKind::ALL {
        let path = folder.join(kind.file_name());
        let generated = kind.render();
        if bless {
            std::fs::create_dir_all(&folder).unwrap();
            std::fs::write(&path, &generated).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(generated.as_str()) {
            stale.push(kind.file_name());
        }
    }
    assert!(
        stale.is_empty(),
        "stale schemas {stale:?}: run `PROMPTOPS_BLESS=1 cargo test schemas` and commit"
    );
}

#[test]
fn committed_files_point_editors_at_their_schema() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for (file, schema) in [
        (
            "prompts/02-production/normalize-product-title.yaml",
            "prompt.schema.json",
        ),
        (
            "prompts/03-metadata/normalize-product-title.yaml",
            "metadata.schema.json",
        ),
        ("promptops.yaml", "config.schema.json"),
        ("prompt_registry.yaml", "registry.schema.json"),
    ] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with("# yaml-language-server: $schema="))
            .unwrap_or_else(|| panic!("{file}"));
        let target = root
            .join(file)
            .parent()
            .unwrap()
            .join(line.trim_start_matches("# yaml-language-server: $schema="));
        assert!(
            target.ends_with(schema) && target.is_file(),
            "{file} points at {}",
            target.display()
        );
    }
}

/// The published metadata schema lists every scorer with its own options, so an editor
/// completes them and flags a typo; `validate` reports the typo once, as the scorer finding.
#[test]
fn the_metadata_schema_lists_each_scorers_options() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/metadata.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let names: Vec<&str> = schema["$defs"]["ScorerName"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|name| name.as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 12, "{names:?}");
    let branches = schema["$defs"]["ScorerSpec"]["allOf"].as_array().unwrap();
    for name in &names {
        assert!(
            branches
                .iter()
                .any(|b| b["if"]["properties"]["name"]["const"] == *name
                    && b["then"]["properties"]["options"]["$ref"].is_string()),
            "no options for {name}"
        );
    }
    let regex = &schema["$defs"]["RegexOptions"];
    assert_eq!(regex["additionalProperties"], false);
    assert_eq!(regex["required"], serde_json::json!(["pattern"]));
    // An editor's validator refuses a misspelt option against the published schema.
    let validator = jsonschema::validator_for(&schema).unwrap();
    let metadata = serde_json::json!({
        "id": "t", "description": "d", "inputs": {}, "output": {"format": "text"},
        "threshold": 0.5,
        "scorers": [{"name": "similarity", "options": {"methd": "token_f1"}}],
    });
    let errors: Vec<String> = validator
        .iter_errors(&metadata)
        .map(|e| e.instance_path().to_string())
        .collect();
    assert!(
        errors.iter().any(|p| p.starts_with("/scorers/0/options")),
        "{errors:?}"
    );
    // promptops itself reports it once, with its own message and line.
    let repo = TestRepo::sample();
    repo.edit(
        "prompts/03-metadata/summarize.yaml",
        "  - name: similarity\n",
        "  - name: similarity\n    options:\n      methd: token_f1\n",
    );
    let output = repo.run(&["validate", "--format", "json"]);
    assert_eq!(output.code, 1, "{output:?}");
    let found = crate::support::findings(&output);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "invalid-scorer-options");
    assert!(
        output.stdout.contains("unknown option `methd`"),
        "{output:?}"
    );
}
