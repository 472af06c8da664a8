//! The committed JSON Schemas under `schemas/` are what the code generates.
//! Set `PROMPTOPS_BLESS=1` to rewrite them after changing a format type.

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
