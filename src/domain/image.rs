//! The app image as values: the base image's manifest and config, plus one layer holding the
//! release bundle, give the app image's config, manifest and digests. The layer is a tar with
//! sorted entries, fixed times, owners and modes, compressed by gzip with fixed settings, so the
//! same bundle always gives the same bytes, and the same bundle on the same base the same image
//! digest. The registry calls live in `adapters::oci`.

use std::collections::BTreeMap;

use oci_spec::image::{Descriptor, ImageIndexBuilder, ImageManifestBuilder, MediaType};
use serde_json::{Map, Value, json};

use super::bundle::Bundle;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// The media types `image` accepts for a base image reference.
pub const ACCEPTED_MANIFESTS: [&str; 4] = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST];

/// The most a base manifest (or index) may be: registries cap them at 4 MiB.
pub const MAX_MANIFEST_BYTES: usize = 4 << 20;
/// The most a base image's config may be.
pub const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// The label naming the release an image holds.
pub const RELEASE_LABEL: &str = "dev.promptops.release";

/// A blob: its bytes and their `sha256:` digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blob {
    pub bytes: Vec<u8>,
    pub digest: String,
}

impl Blob {
    pub fn new(bytes: Vec<u8>) -> Blob {
        let digest = digest_of(&bytes);
        Blob { bytes, digest }
    }
}

/// `sha256:<hex>` of `bytes`.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", super::source::sha256_hex(bytes))
}

/// Why a base image cannot carry the release.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImageError {
    #[error("the base manifest is not JSON: {0}")]
    NotJson(String),
    #[error(
        "the base manifest has media type `{0}`; an image manifest (OCI or Docker v2) is needed"
    )]
    MediaType(String),
    #[error("the base image index has no image for {0}")]
    NoPlatform(String),
    #[error("the base image's {0}")]
    Malformed(String),
}

/// The layer holding the bundle under `dir` (absolute, e.g. `/srv/promptops`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layer {
    pub blob: Blob,
    /// sha256 of the uncompressed tar (the config's `rootfs.diff_ids` entry).
    pub diff_id: String,
}

/// The tar of the bundle: the folders of `dir` and of the bundle's files, then the files, in
/// path order, with mtime 0, uid/gid 0, modes 0755 (folders) and 0644 (files).
pub fn layer(bundle: &Bundle, dir: &str) -> Layer {
    let root = dir.trim_matches('/');
    let mut folders = std::collections::BTreeSet::new();
    let mut prefix = String::new();
    for part in root.split('/').filter(|part| !part.is_empty()) {
        prefix.push_str(part);
        prefix.push('/');
        folders.insert(prefix.clone());
    }
    for path in bundle.files.keys() {
        let mut at = 0;
        while let Some(slash) = path[at..].find('/') {
            folders.insert(format!("{root}/{}", &path[..=at + slash]));
            at += slash + 1;
        }
    }
    let mut entries: BTreeMap<String, Option<(&[u8], u32)>> =
        folders.into_iter().map(|folder| (folder, None)).collect();
    for (path, bytes) in &bundle.files {
        entries.insert(format!("{root}/{path}"), Some((bytes.as_slice(), 0o644)));
    }
    tar_layer(entries)
}

/// The runtime stage's layer (the Dockerfile's `COPY … /usr/local/bin/promptops`): the
/// promptops binary, mode 0755, with its folders, deterministic as the bundle's layer is.
pub fn binary_layer(binary: &[u8]) -> Layer {
    let mut entries: BTreeMap<String, Option<(&[u8], u32)>> = BTreeMap::new();
    for folder in ["usr/", "usr/local/", "usr/local/bin/"] {
        entries.insert(folder.to_owned(), None);
    }
    entries.insert(RUNTIME_BINARY.to_owned(), Some((binary, 0o755)));
    tar_layer(entries)
}

/// Where the runtime stage puts the binary.
pub const RUNTIME_BINARY: &str = "usr/local/bin/promptops";

/// A gzip'd tar of `entries` (path → bytes and mode, or a folder), in path order, with mtime
/// 0 and uid/gid 0: the same entries give the same bytes.
fn tar_layer(entries: BTreeMap<String, Option<(&[u8], u32)>>) -> Layer {
    let mut builder = tar::Builder::new(Vec::new());
    builder.mode(tar::HeaderMode::Deterministic);
    for (path, content) in entries {
        let mut header = tar::Header::new_ustar();
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        let _ = header.set_username("");
        let _ = header.set_groupname("");
        match content {
            None => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                builder
                    .append_data(&mut header, &path, std::io::empty())
                    .expect("a tar in memory");
            }
            Some((bytes, mode)) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(mode);
                header.set_size(bytes.len() as u64);
                builder
                    .append_data(&mut header, &path, bytes)
                    .expect("a tar in memory");
            }
        }
    }
    let tar = builder.into_inner().expect("a tar in memory");
    let diff_id = digest_of(&tar);
    // Fixed settings: level 6, no name, mtime 0, OS "unknown".
    let mut gzip = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), flate2::Compression::new(6));
    std::io::Write::write_all(&mut gzip, &tar).expect("gzip in memory");
    let compressed = gzip.finish().expect("gzip in memory");
    Layer {
        blob: Blob::new(compressed),
        diff_id,
    }
}

/// What a manifest reference names: one image, or an index of images per platform.
#[derive(Debug, PartialEq, Eq)]
pub enum BaseManifest {
    Image,
    /// The digest of the image for the platform asked for.
    Index {
        digest: String,
    },
}

/// Reads a base manifest: an image manifest, or an index from which the image for
/// `os`/`architecture` is chosen.
pub fn read_base_manifest(
    bytes: &[u8],
    os: &str,
    architecture: &str,
) -> Result<BaseManifest, ImageError> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|error| ImageError::NotJson(error.to_string()))?;
    let media_type = value["mediaType"]
        .as_str()
        .unwrap_or(if value.get("manifests").is_some() {
            OCI_INDEX
        } else {
            OCI_MANIFEST
        });
    match media_type {
        OCI_MANIFEST | DOCKER_MANIFEST => Ok(BaseManifest::Image),
        OCI_INDEX | DOCKER_LIST => value["manifests"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|entry| {
                entry["platform"]["os"] == os && entry["platform"]["architecture"] == architecture
            })
            .and_then(|entry| entry["digest"].as_str())
            .map(|digest| BaseManifest::Index {
                digest: digest.to_owned(),
            })
            .ok_or_else(|| ImageError::NoPlatform(format!("{os}/{architecture}"))),
        other => Err(ImageError::MediaType(other.to_owned())),
    }
}

/// The base image's layers (as descriptors) and its config's digest.
pub fn base_parts(manifest: &[u8]) -> Result<(Vec<Value>, Value), ImageError> {
    let value: Value =
        serde_json::from_slice(manifest).map_err(|error| ImageError::NotJson(error.to_string()))?;
    let layers = value["layers"]
        .as_array()
        .cloned()
        .ok_or_else(|| ImageError::Malformed("manifest has no `layers`".into()))?;
    for layer in &layers {
        descriptor_digest(layer)?;
    }
    let config = value["config"].clone();
    descriptor_digest(&config)?;
    Ok((layers, config))
}

/// A descriptor's digest, checked to be a sha256 digest.
pub fn descriptor_digest(descriptor: &Value) -> Result<&str, ImageError> {
    descriptor["digest"]
        .as_str()
        .filter(|digest| {
            digest.len() == 71
                && digest.starts_with("sha256:")
                && digest[7..].bytes().all(|b| b.is_ascii_hexdigit())
        })
        .ok_or_else(|| {
            ImageError::Malformed(format!(
                "manifest has a descriptor without a sha256 digest: {descriptor}"
            ))
        })
}

/// The app image: its manifest and config, and the blobs to push besides the base's layers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppImage {
    pub manifest: Blob,
    pub config: Blob,
    pub layer: Layer,
    /// The base image's layers, as the manifest lists them.
    pub base_layers: Vec<Value>,
}

/// JSON bytes of a value built here (serialising one cannot fail; said as an error all the
/// same rather than a panic).
fn to_json(value: &impl serde::Serialize) -> Result<Vec<u8>, ImageError> {
    serde_json::to_vec(value).map_err(|error| ImageError::Malformed(error.to_string()))
}

/// A descriptor of one of our own blobs.
fn descriptor(media_type: MediaType, blob: &Blob) -> Result<Descriptor, ImageError> {
    let digest: oci_spec::image::Digest = blob
        .digest
        .parse()
        .map_err(|error: oci_spec::OciSpecError| ImageError::Malformed(error.to_string()))?;
    Ok(Descriptor::new(media_type, blob.bytes.len() as u64, digest))
}

/// The image manifest (always OCI): the config, the base's layers (Docker layer types become
/// their OCI twins, same bytes), then ours, and the base's digest as an annotation.
fn manifest(
    config: &Blob,
    base_layers: &[Value],
    layer: &Layer,
    base_digest: &str,
) -> Result<Blob, ImageError> {
    let mut layers = Vec::with_capacity(base_layers.len() + 1);
    for base in base_layers {
        let mut descriptor: Descriptor = serde_json::from_value(base.clone())
            .map_err(|error| ImageError::Malformed(format!("layer descriptor: {error}")))?;
        let converted = oci_layer_type(descriptor.media_type().as_ref()).to_owned();
        descriptor.set_media_type(MediaType::from(converted.as_str()));
        layers.push(descriptor);
    }
    layers.push(descriptor(MediaType::ImageLayerGzip, &layer.blob)?);
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(descriptor(MediaType::ImageConfig, config)?)
        .layers(layers)
        .annotations(std::collections::HashMap::from([(
            "org.opencontainers.image.base.digest".to_owned(),
            base_digest.to_owned(),
        )]))
        .build()
        .map_err(|error| ImageError::Malformed(error.to_string()))?;
    Ok(Blob::new(to_json(&manifest)?))
}

/// The OCI media type of a layer the base lists with a Docker media type (same bytes).
fn oci_layer_type(media_type: &str) -> &str {
    match media_type {
        "application/vnd.docker.image.rootfs.diff.tar.gzip" => OCI_LAYER_GZIP,
        "application/vnd.docker.image.rootfs.diff.tar" => "application/vnd.oci.image.layer.v1.tar",
        other => other,
    }
}

/// The app image: the base config with the layer's diff id, `env` set (replacing any value of
/// the same names), `labels` added, and a history entry; the manifest lists the base's layers
/// then the bundle's (always as an OCI manifest; Docker layer types become their OCI twins).
// Long on purpose: the config, then the manifest, field by field as the OCI image spec lays
// them out.
pub fn app_image(
    base_manifest: &[u8],
    base_digest: &str,
    base_config: &[u8],
    layer: Layer,
    env: &[(&str, &str)],
    labels: &BTreeMap<String, String>,
) -> Result<AppImage, ImageError> {
    let (base_layers, _) = base_parts(base_manifest)?;
    let mut config: Value = serde_json::from_slice(base_config)
        .map_err(|error| ImageError::Malformed(format!("config is not JSON: {error}")))?;
    if !config.is_object() {
        return Err(ImageError::Malformed("config is not a JSON object".into()));
    }
    let diff_ids = config["rootfs"]["diff_ids"]
        .as_array_mut()
        .ok_or_else(|| ImageError::Malformed("config has no `rootfs.diff_ids`".into()))?;
    if diff_ids.len() != base_layers.len() {
        return Err(ImageError::Malformed(format!(
            "config lists {} layer(s) and its manifest {}",
            diff_ids.len(),
            base_layers.len()
        )));
    }
    diff_ids.push(json!(layer.diff_id));
    if !config["config"].is_object() {
        config["config"] = json!({});
    }
    let runtime = config["config"]
        .as_object_mut()
        .expect("made an object above");
    let mut variables: Vec<Value> = runtime
        .get("Env")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|entry| {
            let name = entry
                .as_str()
                .and_then(|e| e.split('=').next())
                .unwrap_or("");
            !env.iter().any(|(set, _)| *set == name)
        })
        .collect();
    variables.extend(
        env.iter()
            .map(|(name, value)| json!(format!("{name}={value}"))),
    );
    runtime.insert("Env".into(), Value::Array(variables));
    let mut all_labels: Map<String, Value> = runtime
        .get("Labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (name, value) in labels {
        all_labels.insert(name.clone(), json!(value));
    }
    runtime.insert("Labels".into(), Value::Object(all_labels));
    if !config["history"].is_array() {
        config["history"] = json!([]);
    }
    config["history"]
        .as_array_mut()
        .expect("made an array above")
        .push(json!({
            "created_by": "promptops image",
            "comment": labels.get(RELEASE_LABEL).map_or(String::new(), |release| format!("release {release}")),
        }));
    let config = Blob::new(to_json(&config)?);
    Ok(AppImage {
        manifest: manifest(&config, &base_layers, &layer, base_digest)?,
        config,
        layer,
        base_layers,
    })
}

/// The runtime image, as the Dockerfile's `runtime` stage makes it but without Docker: the
/// base (`gcr.io/distroless/cc-debian12:nonroot`) plus the promptops binary, with the stage's
/// entrypoint, command, port, user, health check and listen address.
pub fn runtime_image(
    base_manifest: &[u8],
    base_digest: &str,
    base_config: &[u8],
    binary: &[u8],
) -> Result<AppImage, ImageError> {
    let mut labels = BTreeMap::new();
    labels.insert(
        "org.opencontainers.image.title".to_owned(),
        "promptops runtime".to_owned(),
    );
    let app = app_image(
        base_manifest,
        base_digest,
        base_config,
        binary_layer(binary),
        &[("PROMPTOPS_LISTEN", "0.0.0.0:8080")],
        &labels,
    )?;
    let mut config: Value = serde_json::from_slice(&app.config.bytes)
        .map_err(|error| ImageError::Malformed(format!("config is not JSON: {error}")))?;
    let runtime = &mut config["config"];
    runtime["Entrypoint"] = json!(["promptops"]);
    runtime["Cmd"] = json!(["serve"]);
    runtime["ExposedPorts"] = json!({"8080/tcp": {}});
    runtime["User"] = json!("65532");
    runtime["Healthcheck"] = json!({"Test": ["CMD", "promptops", "healthcheck"]});
    let config = Blob::new(to_json(&config)?);
    Ok(AppImage {
        manifest: manifest(&config, &app.base_layers, &app.layer, base_digest)?,
        config,
        ..app
    })
}

/// The default tag of a release's image: `release-` and the first 12 hex of its id.
pub fn release_tag(release_id: &str) -> String {
    format!("release-{}", super::bundle::short_release(release_id))
}

/// The files of an OCI image layout holding `image` (tagged `tag`): `oci-layout`,
/// `index.json` and `blobs/sha256/*`; `base_blobs` are the base layers' bytes by digest.
pub fn oci_layout(
    image: &AppImage,
    tag: &str,
    base_blobs: &BTreeMap<String, Vec<u8>>,
) -> Result<BTreeMap<String, Vec<u8>>, ImageError> {
    let mut files = BTreeMap::new();
    let mut blob = |digest: &str, bytes: &[u8]| {
        files.insert(
            format!("blobs/sha256/{}", digest.trim_start_matches("sha256:")),
            bytes.to_vec(),
        );
    };
    for (digest, bytes) in base_blobs {
        blob(digest, bytes);
    }
    blob(&image.layer.blob.digest, &image.layer.blob.bytes);
    blob(&image.config.digest, &image.config.bytes);
    blob(&image.manifest.digest, &image.manifest.bytes);
    files.insert(
        "oci-layout".into(),
        br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
    );
    let entry = descriptor(MediaType::ImageManifest, &image.manifest).map(|mut entry| {
        entry.set_annotations(Some(std::collections::HashMap::from([(
            "org.opencontainers.image.ref.name".to_owned(),
            tag.to_owned(),
        )])));
        entry
    });
    let index = entry.and_then(|entry| {
        ImageIndexBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageIndex)
            .manifests(vec![entry])
            .build()
            .map_err(|error| ImageError::Malformed(error.to_string()))
    });
    files.insert(
        "index.json".into(),
        index.and_then(|index| to_json(&index))?,
    );
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(text: &str) -> Bundle {
        let mut files = BTreeMap::new();
        files.insert("prompts/t.yaml".to_owned(), text.as_bytes().to_vec());
        files.insert("release.json".to_owned(), b"{}".to_vec());
        super::super::bundle::from_files(files)
    }

    fn base() -> (Vec<u8>, Vec<u8>) {
        let config = json!({
            "architecture": "amd64", "os": "linux",
            "config": {"Env": ["PATH=/usr/bin", "PROMPTOPS_RELEASE=old"], "Cmd": ["serve"]},
            "rootfs": {"type": "layers", "diff_ids": ["sha256:".to_owned() + &"a".repeat(64)]},
        });
        let config = serde_json::to_vec(&config).unwrap();
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": digest_of(&config), "size": config.len()},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": "sha256:".to_owned() + &"b".repeat(64), "size": 10}],
        });
        (serde_json::to_vec(&manifest).unwrap(), config)
    }

    #[test]
    fn the_layer_is_the_same_bytes_for_the_same_bundle() {
        let one = layer(&bundle("a"), "/srv/promptops");
        let two = layer(&bundle("a"), "/srv/promptops");
        assert_eq!(one, two);
        assert_ne!(
            one.blob.digest,
            layer(&bundle("b"), "/srv/promptops").blob.digest
        );
        let tar = {
            let mut out = Vec::new();
            std::io::Read::read_to_end(
                &mut flate2::read::GzDecoder::new(one.blob.bytes.as_slice()),
                &mut out,
            )
            .unwrap();
            out
        };
        assert_eq!(digest_of(&tar), one.diff_id);
        let mut archive = tar::Archive::new(tar.as_slice());
        let entries: Vec<(String, u32, u64)> = archive
            .entries()
            .unwrap()
            .map(|entry| {
                let entry = entry.unwrap();
                let header = entry.header();
                (
                    entry.path().unwrap().to_string_lossy().into_owned(),
                    header.mode().unwrap(),
                    header.mtime().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            entries,
            [
                ("srv/".to_owned(), 0o755, 0),
                ("srv/promptops/".to_owned(), 0o755, 0),
                ("srv/promptops/prompts/".to_owned(), 0o755, 0),
                ("srv/promptops/prompts/t.yaml".to_owned(), 0o644, 0),
                ("srv/promptops/release.json".to_owned(), 0o644, 0),
            ]
        );
    }

    #[test]
    fn the_app_image_appends_the_layer_and_sets_env_and_labels() {
        let (manifest, config) = base();
        let labels: BTreeMap<String, String> = [(RELEASE_LABEL.to_owned(), "r1".to_owned())].into();
        let image = app_image(
            &manifest,
            &digest_of(&manifest),
            &config,
            layer(&bundle("a"), "/srv/promptops"),
            &[
                ("PROMPTOPS_RELEASE", "r1"),
                ("PROMPTOPS_BUNDLE", "/srv/promptops"),
            ],
            &labels,
        )
        .unwrap();
        let config: Value = serde_json::from_slice(&image.config.bytes).unwrap();
        assert_eq!(
            config["config"]["Env"],
            json!([
                "PATH=/usr/bin",
                "PROMPTOPS_RELEASE=r1",
                "PROMPTOPS_BUNDLE=/srv/promptops"
            ])
        );
        assert_eq!(config["config"]["Labels"][RELEASE_LABEL], "r1");
        assert_eq!(
            config["rootfs"]["diff_ids"][1],
            image.layer.diff_id.as_str()
        );
        let manifest: Value = serde_json::from_slice(&image.manifest.bytes).unwrap();
        assert_eq!(manifest["mediaType"], OCI_MANIFEST);
        assert_eq!(manifest["layers"][0]["mediaType"], OCI_LAYER_GZIP);
        assert_eq!(
            manifest["layers"][1]["digest"],
            image.layer.blob.digest.as_str()
        );
        assert_eq!(manifest["config"]["digest"], image.config.digest.as_str());
        // Deterministic: the same inputs, the same digest.
        let again = app_image(
            &base().0,
            &digest_of(&base().0),
            &base().1,
            layer(&bundle("a"), "/srv/promptops"),
            &[
                ("PROMPTOPS_RELEASE", "r1"),
                ("PROMPTOPS_BUNDLE", "/srv/promptops"),
            ],
            &labels,
        )
        .unwrap();
        assert_eq!(again.manifest.digest, image.manifest.digest);
    }

    #[test]
    fn a_config_that_disagrees_with_its_manifest_is_refused() {
        let (manifest, _) = base();
        let config =
            serde_json::to_vec(&json!({"rootfs": {"type": "layers", "diff_ids": []}})).unwrap();
        let error = app_image(
            &manifest,
            "sha256:x",
            &config,
            layer(&bundle("a"), "/srv"),
            &[],
            &BTreeMap::new(),
        )
        .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("lists 0 layer(s) and its manifest 1"),
            "{error}"
        );
    }

    #[test]
    fn an_index_resolves_to_the_platform_asked_for() {
        let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": "sha256:arm", "platform": {"os": "linux", "architecture": "arm64"}},
            {"mediaType": OCI_MANIFEST, "digest": "sha256:amd", "platform": {"os": "linux", "architecture": "amd64"}},
        ]});
        let bytes = serde_json::to_vec(&index).unwrap();
        assert_eq!(
            read_base_manifest(&bytes, "linux", "amd64").unwrap(),
            BaseManifest::Index {
                digest: "sha256:amd".into()
            }
        );
        assert!(read_base_manifest(&bytes, "linux", "s390x").is_err());
        assert!(read_base_manifest(b"not json", "linux", "amd64").is_err());
    }
}
