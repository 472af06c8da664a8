//! `promptops image` against a real OCI registry on 127.0.0.1 (Debian's docker-registry): the
//! image is pulled back and checked (files, labels, env, digest), a second push uploads
//! nothing, `skopeo` reads the pushed image and the OCI layout, and ECR's login goes through
//! moto's `GetAuthorizationToken`.

use std::collections::BTreeMap;
use std::io::Read;

use serde_json::Value;

use crate::support::registry::{Moto, RegistryServer};
use crate::support::{TestRepo, bundled_example};

fn image(repo: &TestRepo, args: &[&str], environment: &[(&str, &str)]) -> crate::support::Output {
    repo.run_env(&[&["image"], args].concat(), environment)
}

fn json(output: &crate::support::Output) -> Value {
    serde_json::from_str(&output.stdout).unwrap_or_else(|e| panic!("{e}: {output:?}"))
}

/// The files of a gzip'd tar layer: path → bytes (folders as empty), and each entry's
/// (mode, uid, gid, mtime).
/// A tar entry's (mode, uid, gid, mtime).
type Owner = (u32, u64, u64, u64);

fn layer_files(gzip: &[u8]) -> BTreeMap<String, (Vec<u8>, Owner)> {
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(gzip)
        .read_to_end(&mut tar)
        .unwrap();
    let mut archive = tar::Archive::new(tar.as_slice());
    archive
        .entries()
        .unwrap()
        .map(|entry| {
            let mut entry = entry.unwrap();
            let header = entry.header().clone();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            (
                path,
                (
                    bytes,
                    (
                        header.mode().unwrap(),
                        header.uid().unwrap(),
                        header.gid().unwrap(),
                        header.mtime().unwrap(),
                    ),
                ),
            )
        })
        .collect()
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", promptops::domain::source::sha256_hex(bytes))
}

#[test]
fn image_pushes_a_reproducible_image_that_pulls_back_whole() {
    let registry = RegistryServer::start(None);
    let base_digest = registry.seed_base("runtime", "1", None);
    let repo = bundled_example();
    let base = format!("{}/runtime:1", registry.address);
    let push = format!("{}/prompts", registry.address);
    let args = [
        "--base",
        &base,
        "--push",
        &push,
        "--insecure-registry",
        &registry.address,
        "--format",
        "json",
    ];
    let first = image(&repo, &args, &[]);
    assert_eq!(first.code, 0, "{first:?}");
    let first = json(&first);
    let digest = first["digest"].as_str().unwrap().to_owned();
    let release_id = first["release_id"].as_str().unwrap().to_owned();
    let tag = format!("release-{}", &release_id[..12]);
    assert_eq!(first["tag"], tag.as_str());
    assert_eq!(first["reference"], format!("{push}@{digest}").as_str());
    assert_eq!(first["base_digest"], base_digest.as_str());
    assert!(first["bytes_uploaded"].as_u64().unwrap() > 0);
    assert_eq!(
        first["blobs_uploaded"], 2,
        "the layer and the config: {first}"
    );
    assert_eq!(
        first["blobs_mounted"], 1,
        "the base layer comes by cross-repository mount: {first}"
    );
    assert_eq!(first["manifest_pushed"], true);
    let uploads = registry.uploads_started("prompts");
    assert_eq!(uploads, 2);

    // A second push of the same prompts: the same digest, and no blob travels.
    let second = image(&repo, &args, &[]);
    assert_eq!(second.code, 0, "{second:?}");
    let second = json(&second);
    assert_eq!(second["digest"], digest.as_str());
    assert_eq!(second["bytes_uploaded"], 0);
    assert_eq!(second["blobs_uploaded"], 0);
    assert_eq!(second["manifest_pushed"], false);
    assert_eq!(
        registry.uploads_started("prompts"),
        uploads,
        "the registry saw no new upload"
    );

    // Pulled back: the manifest is what was reported, and holds the base layer and ours.
    let manifest_bytes = registry.manifest("prompts", &tag);
    assert_eq!(sha256(&manifest_bytes), digest);
    let manifest: Value = serde_json::from_slice(&manifest_bytes).unwrap();
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2);
    assert_eq!(layers[1]["digest"], first["layer_digest"]);
    let config_digest = manifest["config"]["digest"].as_str().unwrap();
    let config: Value = serde_json::from_slice(&registry.blob("prompts", config_digest)).unwrap();
    assert_eq!(
        config["config"]["Labels"]["dev.promptops.release"],
        release_id.as_str()
    );
    assert_eq!(
        config["config"]["Labels"]["org.opencontainers.image.title"],
        "promptops prompt loader"
    );
    let env: Vec<&str> = config["config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(env.contains(&"PROMPTOPS_BUNDLE=/srv/promptops"), "{env:?}");
    assert!(
        env.contains(&format!("PROMPTOPS_RELEASE={release_id}").as_str()),
        "{env:?}"
    );
    assert!(
        env.contains(&"PROMPTOPS_LISTEN=0.0.0.0:8080"),
        "the base's env is kept: {env:?}"
    );
    assert_eq!(config["config"]["Cmd"], serde_json::json!(["serve"]));
    assert_eq!(config["config"]["User"], "65532:65532");

    // The layer holds exactly the bundle `promptops bundle` writes, with fixed owners, modes
    // and times, and its diff id is the config's.
    let layer = registry.blob("prompts", layers[1]["digest"].as_str().unwrap());
    let files = layer_files(&layer);
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(layer.as_slice())
        .read_to_end(&mut tar)
        .unwrap();
    assert_eq!(config["rootfs"]["diff_ids"][1], sha256(&tar).as_str());
    let out = tempfile::tempdir().unwrap();
    let bundled = repo.run(&["bundle", "--out", out.path().to_str().unwrap()]);
    assert_eq!(bundled.stdout.trim(), release_id);
    let mut expected = Vec::new();
    for entry in walkdir::WalkDir::new(out.path()).min_depth(1) {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            let relative = entry
                .path()
                .strip_prefix(out.path())
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            expected.push((
                format!("srv/promptops/{relative}"),
                std::fs::read(entry.path()).unwrap(),
            ));
        }
    }
    expected.sort();
    let shipped: Vec<(String, Vec<u8>)> = files
        .iter()
        .filter(|(path, _)| !path.ends_with('/'))
        .map(|(path, (bytes, _))| (path.clone(), bytes.clone()))
        .collect();
    assert_eq!(shipped, expected);
    for (path, (_, (mode, uid, gid, mtime))) in &files {
        let want = if path.ends_with('/') { 0o755 } else { 0o644 };
        assert_eq!((*mode, *uid, *gid, *mtime), (want, 0, 0, 0), "{path}");
    }

    // A third-party reader agrees.
    let inspect = std::process::Command::new("skopeo")
        .args([
            "inspect",
            "--tls-verify=false",
            &format!("docker://{push}:{tag}"),
        ])
        .output()
        .unwrap();
    assert!(
        inspect.status.success(),
        "{}",
        String::from_utf8_lossy(&inspect.stderr)
    );
    let inspected: Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(inspected["Digest"], digest.as_str());
    assert_eq!(
        inspected["Labels"]["dev.promptops.release"],
        release_id.as_str()
    );

    // Another prompt: another release, another tag and digest, and only our layer and the
    // config travel.
    repo.edit(
        "prompts/02-production/normalize-product-title.yaml",
        "description: ",
        "description: Changed. ",
    );
    repo.rebuild_registry();
    let changed = image(&repo, &args, &[]);
    assert_eq!(changed.code, 0, "{changed:?}");
    let changed = json(&changed);
    assert_ne!(changed["digest"], digest.as_str());
    assert_ne!(changed["tag"], tag.as_str());
    assert_eq!(changed["blobs_uploaded"], 2);
    assert_eq!(changed["blobs_present"], 1);
}

#[test]
fn an_oci_layout_of_the_same_image_is_read_by_skopeo() {
    let registry = RegistryServer::start(None);
    registry.seed_base("runtime", "1", None);
    let repo = bundled_example();
    let base = format!("{}/runtime:1", registry.address);
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("image");
    let written = image(
        &repo,
        &[
            "--base",
            &base,
            "--oci-layout",
            layout.to_str().unwrap(),
            "--insecure-registry",
            &registry.address,
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(written.code, 0, "{written:?}");
    let written = json(&written);
    let pushed = image(
        &repo,
        &[
            "--base",
            &base,
            "--push",
            &format!("{}/prompts:v1", registry.address),
            "--insecure-registry",
            &registry.address,
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(pushed.code, 0, "{pushed:?}");
    let pushed = json(&pushed);
    assert_eq!(pushed["tag"], "v1", "a tag written in --push is kept");
    assert_eq!(
        written["digest"], pushed["digest"],
        "the layout holds the pushed image"
    );
    let inspect = std::process::Command::new("skopeo")
        .args(["inspect", &format!("oci:{}", layout.display())])
        .output()
        .unwrap();
    assert!(
        inspect.status.success(),
        "{}",
        String::from_utf8_lossy(&inspect.stderr)
    );
    let inspected: Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(inspected["Digest"], written["digest"]);
    assert_eq!(inspected["Layers"].as_array().unwrap().len(), 2);
    // The folder must be new or empty.
    let again = image(
        &repo,
        &[
            "--base",
            &base,
            "--oci-layout",
            layout.to_str().unwrap(),
            "--insecure-registry",
            &registry.address,
        ],
        &[],
    );
    assert_eq!(again.code, 2, "{again:?}");
    assert!(again.stderr.contains("is not empty"), "{again:?}");
}

#[test]
fn ecr_login_takes_the_password_from_get_authorization_token() {
    let moto = Moto::start();
    // moto's token is base64("AWS:123456789012-auth-token"): the registry knows that user.
    let registry = RegistryServer::start(Some(("AWS", "123456789012-auth-token")));
    registry.seed_base("runtime", "1", Some("AWS:123456789012-auth-token"));
    let repo = bundled_example();
    let base = format!("{}/runtime:1", registry.address);
    let push = format!("{}/prompts", registry.address);
    let environment = moto.environment();
    let environment: Vec<(&str, &str)> =
        environment.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let args = [
        "--base",
        &base,
        "--push",
        &push,
        "--insecure-registry",
        &registry.address,
    ];
    let anonymous = image(&repo, &args, &environment);
    assert_eq!(anonymous.code, 3, "{anonymous:?}");
    assert!(anonymous.stderr.contains("hint:"), "{anonymous:?}");
    let ecr = image(
        &repo,
        &[&args[..], &["--registry-auth", "ecr"]].concat(),
        &environment,
    );
    assert_eq!(ecr.code, 0, "{ecr:?}");
    assert!(
        ecr.stdout.starts_with(&format!("{push}@sha256:")),
        "{ecr:?}"
    );
    // Basic auth with the password from the environment, never from the command line.
    let basic = image(
        &repo,
        &[&args[..], &["--registry-username", "AWS"]].concat(),
        &[("PROMPTOPS_REGISTRY_PASSWORD", "123456789012-auth-token")],
    );
    assert_eq!(basic.code, 0, "{basic:?}");
    let no_password = image(
        &repo,
        &[&args[..], &["--registry-username", "AWS"]].concat(),
        &[],
    );
    assert_eq!(no_password.code, 2, "{no_password:?}");
    assert!(
        no_password.stderr.contains("PROMPTOPS_REGISTRY_PASSWORD"),
        "{no_password:?}"
    );
}

#[test]
fn bad_references_and_unreachable_registries_fail_clearly() {
    let registry = RegistryServer::start(None);
    registry.seed_base("runtime", "1", None);
    let repo = bundled_example();
    let at = |path: &str| format!("{}/{path}", registry.address);
    let run = |base: &str, push: &str, extra: &[&str]| {
        let args = [
            &[
                "--base",
                base,
                "--push",
                push,
                "--insecure-registry",
                &registry.address,
            ][..],
            extra,
        ]
        .concat();
        image(&repo, &args, &[])
    };
    let missing = run(&at("nothing:1"), &at("prompts"), &[]);
    assert_eq!(missing.code, 3, "{missing:?}");
    assert!(missing.stderr.contains("nothing:1"), "{missing:?}");
    let by_digest = format!("{}@sha256:{}", at("prompts"), "a".repeat(64));
    let digest_push = run(&at("runtime:1"), &by_digest, &[]);
    assert_eq!(digest_push.code, 2, "{digest_push:?}");
    let label = run(&at("runtime:1"), &at("prompts"), &["--label", "novalue"]);
    assert_eq!(label.code, 2, "{label:?}");
    let closed = format!("127.0.0.1:{}", crate::support::registry::free_port());
    let unreachable = run(
        &format!("{closed}/runtime:1"),
        &format!("{closed}/prompts"),
        &["--insecure-registry", &closed],
    );
    assert_eq!(unreachable.code, 3, "{unreachable:?}");
    // A repository that does not validate is not shipped.
    repo.edit(
        "prompts/02-production/normalize-product-title.yaml",
        "{{ raw_title }}",
        "{{ raw_title }} {{ nope }}",
    );
    let invalid = run(&at("runtime:1"), &at("prompts"), &[]);
    assert_ne!(invalid.code, 0, "{invalid:?}");
    assert_eq!(registry.uploads_started("prompts"), 0);
}

/// Regression: a registry error body that echoes the Authorization header printed
/// `Basic base64(user:password)` in the CI log; every form of the credential is scrubbed.
#[test]
fn a_registry_that_echoes_the_credentials_never_gets_them_printed() {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            std::thread::spawn(move || {
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buffer) {
                        Ok(0) | Err(_) => return,
                        Ok(read) => request.extend_from_slice(&buffer[..read]),
                    }
                }
                let text = String::from_utf8_lossy(&request).into_owned();
                let authorization = text
                    .lines()
                    .find(|line| line.to_ascii_lowercase().starts_with("authorization:"))
                    .map(|line| line["authorization:".len()..].trim().to_owned());
                let answer = match authorization {
                    None => "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"fake\"\r\nContent-Length: 0\r\n\r\n".to_owned(),
                    Some(value) => {
                        let body = format!(
                            "{{\"errors\":[{{\"code\":\"DENIED\",\"message\":\"you sent Authorization: {value}\"}}]}}"
                        );
                        format!(
                            "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        )
                    }
                };
                let _ = stream.write_all(answer.as_bytes());
            });
        }
    });
    let repo = bundled_example();
    let password = "s3cret-registry-password-42";
    let output = image(
        &repo,
        &[
            "--base",
            &format!("{address}/runtime:1"),
            "--push",
            &format!("{address}/prompts"),
            "--insecure-registry",
            &address,
            "--registry-username",
            "robot",
        ],
        &[("PROMPTOPS_REGISTRY_PASSWORD", password)],
    );
    assert_eq!(output.code, 3, "{output:?}");
    let basic = <base64::engine::GeneralPurpose as base64::Engine>::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("robot:{password}"),
    );
    let all = format!("{}{}", output.stdout, output.stderr);
    assert!(!all.contains(password), "{output:?}");
    assert!(!all.contains(&basic), "{output:?}");
    assert!(!all.contains(&basic[8..24]), "{output:?}");
}

/// Regression: registry credentials went to whatever token service (realm) a registry named,
/// over plain http to another host. They go only to an https realm or the registry's own host.
#[test]
fn credentials_never_go_to_a_plain_http_token_service_elsewhere() {
    use std::io::{Read as _, Write as _};
    use std::sync::atomic::{AtomicUsize, Ordering};
    // The token service on another loopback address.
    let token_service = std::net::TcpListener::bind("127.0.0.2:0").unwrap();
    let realm = format!("http://{}/token", token_service.local_addr().unwrap());
    let asked = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&asked);
    std::thread::spawn(move || {
        for stream in token_service.incoming() {
            if stream.is_ok() {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let realm = realm.clone();
            std::thread::spawn(move || {
                let mut buffer = [0u8; 4096];
                let _ = stream.read(&mut buffer);
                let answer = format!(
                    "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"{realm}\",service=\"fake\"\r\nContent-Length: 0\r\n\r\n"
                );
                let _ = stream.write_all(answer.as_bytes());
            });
        }
    });
    let repo = bundled_example();
    let output = image(
        &repo,
        &[
            "--base",
            &format!("{address}/runtime:1"),
            "--push",
            &format!("{address}/prompts"),
            "--insecure-registry",
            &address,
            "--registry-username",
            "robot",
        ],
        &[("PROMPTOPS_REGISTRY_PASSWORD", "s3cret-registry-password-42")],
    );
    assert_eq!(output.code, 3, "{output:?}");
    assert!(output.stderr.contains("token service"), "{output:?}");
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(
        asked.load(Ordering::SeqCst),
        0,
        "the token service was never asked"
    );
}

/// Regression: `image` read a 256 MiB manifest whole before its 4 MiB check. The manifest is
/// read to 4 MiB and no further, announced or not.
#[test]
fn a_huge_base_manifest_is_refused_without_reading_it() {
    use std::io::{Read as _, Write as _};
    for announced in [true, false] {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { break };
                std::thread::spawn(move || {
                    let mut buffer = [0u8; 4096];
                    let _ = stream.read(&mut buffer);
                    let head = if announced {
                        "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: 268435456\r\n\r\n"
                    } else {
                        "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nConnection: close\r\n\r\n"
                    };
                    let _ = stream.write_all(head.as_bytes());
                    let chunk = vec![b' '; 1 << 20];
                    for _ in 0..256 {
                        if stream.write_all(&chunk).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        let repo = bundled_example();
        let started = std::time::Instant::now();
        let output = image(
            &repo,
            &[
                "--base",
                &format!("{address}/runtime:1"),
                "--oci-layout",
                repo.path().join("out").to_str().unwrap(),
                "--insecure-registry",
                &address,
            ],
            &[],
        );
        assert_ne!(output.code, 0, "{output:?}");
        assert!(
            output.stderr.contains("larger than"),
            "{announced}: {output:?}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
    }
}

/// A registry that sends more of a base layer than its descriptor announces is cut off at the
/// announced size: no blob is read past it into memory.
#[test]
fn a_blob_is_read_no_further_than_its_descriptor_announces() {
    use std::io::{Read as _, Write as _};
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", "3".repeat(64))]},
    })
    .to_string();
    let config_digest = sha256(config.as_bytes());
    let layer_digest = format!("sha256:{}", "4".repeat(64));
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": 10}],
    })
    .to_string();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let (manifest, config, config_digest) =
                (manifest.clone(), config.clone(), config_digest.clone());
            std::thread::spawn(move || {
                let mut buffer = [0u8; 4096];
                let read = stream.read(&mut buffer).unwrap_or(0);
                let request = String::from_utf8_lossy(&buffer[..read]).into_owned();
                let path = request.split(' ').nth(1).unwrap_or("/").to_owned();
                let (kind, body): (&str, Vec<u8>) = if path.contains("/manifests/") {
                    (
                        "application/vnd.oci.image.manifest.v1+json",
                        manifest.into_bytes(),
                    )
                } else if path.ends_with(&config_digest) {
                    ("application/octet-stream", config.into_bytes())
                } else if path.contains("/blobs/") {
                    ("application/octet-stream", vec![b'x'; 64 << 20])
                } else {
                    ("application/json", b"{}".to_vec())
                };
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body);
            });
        }
    });
    let repo = bundled_example();
    let output = image(
        &repo,
        &[
            "--base",
            &format!("{address}/runtime:1"),
            "--oci-layout",
            repo.path().join("out").to_str().unwrap(),
            "--insecure-registry",
            &address,
            "--platform",
            "linux/amd64",
        ],
        &[],
    );
    assert_eq!(output.code, 3, "{output:?}");
    assert!(
        output.stderr.contains("more than the 10 bytes"),
        "{output:?}"
    );
}

/// The runtime image without Docker (`--runtime-binary`): the base plus the binary at
/// `/usr/local/bin/promptops` (0755) with the runtime stage's entrypoint, command, port and
/// user; an app image then builds on it as on the Dockerfile's.
#[test]
fn the_runtime_image_is_built_without_docker_and_the_app_builds_on_it() {
    let registry = RegistryServer::start(None);
    registry.seed_base("distroless", "nonroot", None);
    let repo = bundled_example();
    repo.write(
        "promptops-binary",
        "#!a stand-in for the promptops binary\n",
    );
    let runtime = format!("{}/promptops-runtime", registry.address);
    let output = image(
        &repo,
        &[
            "--base",
            &format!("{}/distroless:nonroot", registry.address),
            "--runtime-binary",
            "promptops-binary",
            "--push",
            &format!("{runtime}:0.1.0"),
            "--insecure-registry",
            &registry.address,
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(output.code, 0, "{output:?}");
    let manifest: Value =
        serde_json::from_slice(&registry.manifest("promptops-runtime", "0.1.0")).unwrap();
    let config: Value = serde_json::from_slice(&registry.blob(
        "promptops-runtime",
        manifest["config"]["digest"].as_str().unwrap(),
    ))
    .unwrap();
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["promptops"])
    );
    assert_eq!(config["config"]["Cmd"], serde_json::json!(["serve"]));
    assert!(
        config["config"]["ExposedPorts"]["8080/tcp"].is_object(),
        "{config}"
    );
    let layers = manifest["layers"].as_array().unwrap();
    let ours = registry.blob(
        "promptops-runtime",
        layers.last().unwrap()["digest"].as_str().unwrap(),
    );
    let files = layer_files(&ours);
    let (bytes, (mode, uid, _, _)) = &files["usr/local/bin/promptops"];
    assert_eq!(bytes.as_slice(), b"#!a stand-in for the promptops binary\n");
    assert_eq!((*mode, *uid), (0o755, 0));
    // The app image on top, as the usual flow builds it on the Dockerfile's runtime.
    let app = image(
        &repo,
        &[
            "--base",
            &format!("{runtime}:0.1.0"),
            "--push",
            &format!("{}/prompts", registry.address),
            "--insecure-registry",
            &registry.address,
        ],
        &[],
    );
    assert_eq!(app.code, 0, "{app:?}");
}
