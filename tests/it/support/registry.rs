//! Real servers for `image`: Debian's `docker-registry` (the CNCF distribution registry) on a
//! free loopback port with its own config, `moto_server` for ECR's `GetAuthorizationToken`,
//! and a small base image seeded with `skopeo copy` from an OCI layout written here.
//! A missing tool fails the test with the command that installs it (`bash .ci/install-tools`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::http::request;

/// The tools these tests talk to: a test that lacks one fails, naming the command that
/// installs it (the README's test command runs it first). A test never installs anything.
pub(crate) fn ensure_tools() {
    let have = |tool: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    let missing: Vec<&str> = ["docker-registry", "skopeo", "moto_server", "gh"]
        .into_iter()
        .filter(|tool| !have(tool))
        .collect();
    assert!(
        missing.is_empty(),
        "missing {}: install them with `bash .ci/install-tools` (the README's test command runs it first)",
        missing.join(", ")
    );
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if ready() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not start");
}

/// The `127.0.0.1:PORT` a server wrote after `marker` in its log file.
fn logged_address(log: &Path, marker: &str) -> String {
    let mut found = None;
    wait_until(marker.trim(), || {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        found = text.split(marker).nth(1).and_then(|rest| {
            let rest = rest.trim_start_matches("http://");
            let end = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ':'))
                .unwrap_or(rest.len());
            let address = &rest[..end];
            address
                .rsplit_once(':')
                .filter(|(_, port)| !port.is_empty())
                .map(|_| address.to_owned())
        });
        found.is_some()
    });
    found.unwrap()
}

fn answers(address: &str, path: &str) -> Option<u16> {
    let stream = std::net::TcpStream::connect(address).ok()?;
    drop(stream);
    Some(request(address, "GET", path, &[], b"").status)
}

/// `docker-registry serve` on 127.0.0.1; stopped when dropped.
pub(crate) struct RegistryServer {
    child: Child,
    pub(crate) address: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl RegistryServer {
    /// A registry; with `basic`, one user with htpasswd (bcrypt) authentication.
    pub(crate) fn start(basic: Option<(&str, &str)>) -> RegistryServer {
        ensure_tools();
        let dir = tempfile::tempdir().unwrap();
        // Port 0: the registry takes a free port and logs it (a port chosen here could be
        // taken by a parallel test before the server binds it).
        let mut config = format!(
            "version: 0.1\nlog: {{level: info}}\nstorage: {{filesystem: {{rootdirectory: {}}}, delete: {{enabled: true}}}}\nhttp: {{addr: 127.0.0.1:0}}\n",
            dir.path().join("data").display()
        );
        if let Some((user, password)) = basic {
            let hash = bcrypt::hash(password, 5).unwrap();
            let htpasswd = dir.path().join("htpasswd");
            std::fs::write(&htpasswd, format!("{user}:{hash}\n")).unwrap();
            config.push_str(&format!(
                "auth: {{htpasswd: {{realm: test, path: {}}}}}\n",
                htpasswd.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = dir.path().join("registry.log");
        // Its access log (Apache format) and its own log, in one file.
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        let address = logged_address(&log, "listening on ");
        wait_until("docker-registry", || {
            matches!(answers(&address, "/v2/"), Some(200 | 401))
        });
        RegistryServer {
            child,
            address,
            log,
            _dir: dir,
        }
    }

    /// How many blob uploads the registry has started for `repository` (its own log).
    pub(crate) fn uploads_started(&self, repository: &str) -> usize {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let needle = format!("POST /v2/{repository}/blobs/uploads/");
        text.lines()
            .filter(|line| line.contains(&needle) && !line.contains("mount="))
            .count()
    }

    /// A manifest by tag or digest, as the registry stores it.
    pub(crate) fn manifest(&self, repository: &str, reference: &str) -> Vec<u8> {
        let answer = request(
            &self.address,
            "GET",
            &format!("/v2/{repository}/manifests/{reference}"),
            &[("Accept", "application/vnd.oci.image.manifest.v1+json")],
            b"",
        );
        assert_eq!(answer.status, 200, "{}", answer.text());
        answer.body
    }

    pub(crate) fn blob(&self, repository: &str, digest: &str) -> Vec<u8> {
        let answer = request(
            &self.address,
            "GET",
            &format!("/v2/{repository}/blobs/{digest}"),
            &[],
            b"",
        );
        assert_eq!(answer.status, 200, "{}", answer.text());
        answer.body
    }

    /// Seeds `repository:tag` with a one-layer base image (a marker file, a config with Env,
    /// Entrypoint and Cmd) through `skopeo copy`; returns the base's manifest digest.
    pub(crate) fn seed_base(&self, repository: &str, tag: &str, creds: Option<&str>) -> String {
        let layout = tempfile::tempdir().unwrap();
        let digest = write_base_layout(layout.path(), tag);
        let mut command = Command::new("skopeo");
        command.args(["copy", "--quiet", "--dest-tls-verify=false"]);
        if let Some(creds) = creds {
            command.args(["--dest-creds", creds]);
        }
        let output = command
            .arg(format!("oci:{}:{tag}", layout.path().display()))
            .arg(format!("docker://{}/{repository}:{tag}", self.address))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "skopeo copy: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        digest
    }
}

impl Drop for RegistryServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", promptops::domain::source::sha256_hex(bytes))
}

/// An OCI layout holding a small base image; its manifest digest.
fn write_base_layout(dir: &Path, tag: &str) -> String {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| -> String {
        let digest = sha256(bytes);
        std::fs::write(blobs.join(&digest[7..]), bytes).unwrap();
        digest
    };
    let mut tar = tar::Builder::new(Vec::new());
    let marker = b"the runtime image\n";
    let mut header = tar::Header::new_ustar();
    header.set_size(marker.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "etc/runtime-marker", &marker[..])
        .unwrap();
    let tar = tar.into_inner().unwrap();
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(&tar).unwrap();
    let gzip = gzip.finish().unwrap();
    let layer = put(&gzip);
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "created": "2026-01-01T00:00:00Z",
        "config": {
            "Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "PROMPTOPS_LISTEN=0.0.0.0:8080"],
            "Entrypoint": ["promptops"], "Cmd": ["serve"], "User": "65532:65532",
            "Labels": {"org.opencontainers.image.title": "promptops runtime"},
        },
        "rootfs": {"type": "layers", "diff_ids": [sha256(&tar)]},
        "history": [{"created_by": "test base"}],
    }))
    .unwrap();
    let config_digest = put(&config);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer, "size": gzip.len()}],
    }))
    .unwrap();
    let manifest_digest = put(&manifest);
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest, "size": manifest.len(),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }],
        }))
        .unwrap(),
    )
    .unwrap();
    manifest_digest
}

/// `moto_server` on 127.0.0.1; stopped when dropped.
pub(crate) struct Moto {
    child: Child,
    pub(crate) url: String,
    _log: tempfile::NamedTempFile,
    /// Its working folder: the recorder writes `moto_recording` there, one file per server.
    _dir: tempfile::TempDir,
}

impl Moto {
    pub(crate) fn start() -> Moto {
        ensure_tools();
        let log = tempfile::NamedTempFile::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new("moto_server")
            .current_dir(dir.path())
            .args(["-H", "127.0.0.1", "-p", "0"])
            .stdout(Stdio::null())
            .stderr(log.reopen().unwrap())
            .spawn()
            .unwrap();
        let address = logged_address(log.path(), "Running on ");
        wait_until("moto_server", || {
            answers(&address, "/moto-api/data.json") == Some(200)
        });
        Moto {
            child,
            url: format!("http://{address}"),
            _log: log,
            _dir: dir,
        }
    }

    /// The environment that points the AWS SDK at this server with dummy credentials.
    pub(crate) fn environment(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "test".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ENDPOINT_URL", self.url.clone()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ]
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
