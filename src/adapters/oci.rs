//! OCI registries over the distribution API (`oci-client`): pull a base image's manifest,
//! config and layers; push blobs (skipped when the registry has them, mounted across
//! repositories of the same registry when it can) and a manifest; and Amazon ECR's login
//! through `GetAuthorizationToken` with the standard AWS credential chain.

use std::time::Duration;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use crate::domain::image::{self, ACCEPTED_MANIFESTS, BaseManifest};

#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("{reference}: {what}: {source}")]
    Oci {
        reference: String,
        what: &'static str,
        source: oci_client::errors::OciDistributionError,
    },
    #[error("{0}")]
    Image(#[from] image::ImageError),
    #[error("Amazon ECR login: {0}")]
    Ecr(String),
    #[error(
        "{registry}: its token service is {realm}; credentials go to a token service only over https or on the registry's own host, so none were sent"
    )]
    Realm { registry: String, realm: String },
    #[error("{registry}: {problem}")]
    Probe { registry: String, problem: String },
    #[error("{reference}: blob {digest} has sha256 {actual}")]
    Corrupt {
        reference: String,
        digest: String,
        actual: String,
    },
    /// Another error, as it may be shown: with every credential this client knows taken out.
    #[error("{message}")]
    Redacted {
        message: String,
        hint: Option<&'static str>,
    },
}

impl OciError {
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            OciError::Ecr(_) => Some(
                "ECR needs AWS credentials (AWS_ACCESS_KEY_ID…, a profile, or the web identity of GitHub OIDC) and a region",
            ),
            OciError::Oci { source, .. } => match source {
                oci_client::errors::OciDistributionError::AuthenticationFailure(_)
                | oci_client::errors::OciDistributionError::UnauthorizedError { .. } => Some(
                    "log in: --registry-username with PROMPTOPS_REGISTRY_PASSWORD, or an ECR registry with AWS credentials",
                ),
                _ => Some(
                    "check the reference and that the registry answers (plain HTTP only with --insecure-registry HOST:PORT)",
                ),
            },
            OciError::Probe { .. } => Some(
                "check the reference and that the registry answers (plain HTTP only with --insecure-registry HOST:PORT); to log in: --registry-username with PROMPTOPS_REGISTRY_PASSWORD, or an ECR registry with AWS credentials",
            ),
            OciError::Realm { .. } => Some(
                "push to a registry whose token service is https (or on its own host); the credentials were kept back",
            ),
            OciError::Redacted { hint, .. } => *hint,
            _ => None,
        }
    }
}

type Result<T> = std::result::Result<T, OciError>;

/// How to log in to a registry.
#[derive(Clone, Debug)]
pub enum Login {
    Anonymous,
    Basic {
        username: String,
        password: String,
    },
    /// Amazon ECR: a password from `GetAuthorizationToken` (region from the host, else the
    /// AWS configuration).
    Ecr {
        region: Option<String>,
    },
}

/// The region of an ECR registry host (`<account>.dkr.ecr.<region>.amazonaws.com[.cn]`).
pub fn ecr_region(host: &str) -> Option<String> {
    let parts: Vec<&str> = host.split('.').collect();
    (parts.len() >= 6
        && parts[1] == "dkr"
        && parts[2].starts_with("ecr")
        && parts[0].bytes().all(|b| b.is_ascii_digit())
        && parts[4] == "amazonaws")
        .then(|| parts[3].to_owned())
}

/// A registry client; hosts named in `insecure` are spoken to over plain HTTP.
pub struct OciRegistry {
    client: Client,
    /// Hosts spoken to over plain HTTP.
    insecure: Vec<String>,
    /// The user and password logged in with, by registry (for the bounded manifest reads).
    logins: std::sync::Mutex<std::collections::BTreeMap<String, (String, String)>>,
    /// The credentials it logged in with, so its errors can be scrubbed of every form of them
    /// (a registry may echo the `Authorization` header in an error body).
    secrets: std::sync::Mutex<Vec<String>>,
}

/// A base image as pulled: its manifest (the platform's, for an index) and config.
pub struct Base {
    pub reference: Reference,
    pub manifest: Vec<u8>,
    pub digest: String,
    pub config: Vec<u8>,
}

/// What a push did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Pushed {
    pub bytes_uploaded: u64,
    pub blobs_uploaded: usize,
    pub blobs_mounted: usize,
    pub blobs_present: usize,
    /// False when the tag already named this manifest.
    pub manifest_pushed: bool,
}

pub fn parse(reference: &str) -> std::result::Result<Reference, String> {
    reference
        .parse::<Reference>()
        .map_err(|error| format!("`{reference}` is not an image reference: {error}"))
}

/// The tag written in a reference's text, if any (the parser says `latest` when none was).
pub fn written_tag(text: &str) -> Option<&str> {
    let name = text.split('@').next()?;
    let last = name.rsplit('/').next()?;
    last.split_once(':').map(|(_, tag)| tag)
}

impl OciRegistry {
    pub fn new(insecure: &[String]) -> OciRegistry {
        let config = ClientConfig {
            protocol: if insecure.is_empty() {
                ClientProtocol::Https
            } else {
                ClientProtocol::HttpsExcept(insecure.to_vec())
            },
            connect_timeout: Some(Duration::from_secs(10)),
            read_timeout: Some(Duration::from_mins(2)),
            ..ClientConfig::default()
        };
        OciRegistry {
            client: Client::new(config),
            insecure: insecure.to_vec(),
            logins: std::sync::Mutex::new(std::collections::BTreeMap::new()),
            secrets: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// `text` without any form of the credentials this client logged in with.
    /// `error` as it may be shown: its message with every credential this client knows taken
    /// out (a registry's answer can echo a token), its hint kept.
    pub fn redacted(&self, error: OciError) -> OciError {
        OciError::Redacted {
            message: self.redact(&error.to_string()),
            hint: error.hint(),
        }
    }

    pub fn redact(&self, text: &str) -> String {
        let secrets = self
            .secrets
            .lock()
            .map(|secrets| secrets.clone())
            .unwrap_or_default();
        super::llm::Secrets::new(secrets).redact(text)
    }

    /// Logs in to the registry of `reference` (before any other call for it).
    pub async fn login(&self, reference: &Reference, login: &Login) -> Result<()> {
        let auth = match login {
            Login::Anonymous => RegistryAuth::Anonymous,
            Login::Basic { username, password } => {
                RegistryAuth::Basic(username.clone(), password.clone())
            }
            Login::Ecr { region } => {
                let (username, password) = ecr_login(region.as_deref()).await?;
                RegistryAuth::Basic(username, password)
            }
        };
        if matches!(auth, RegistryAuth::Basic(..)) {
            self.check_token_realm(reference.resolve_registry()).await?;
        }
        if let RegistryAuth::Basic(username, password) = &auth {
            if let Ok(mut secrets) = self.secrets.lock() {
                secrets.push(password.clone());
                secrets.push(format!("{username}:{password}"));
            }
            if let Ok(mut logins) = self.logins.lock() {
                logins.insert(
                    reference.resolve_registry().to_owned(),
                    (username.clone(), password.clone()),
                );
            }
        }
        self.client
            .store_auth_if_needed(reference.resolve_registry(), &auth)
            .await;
        Ok(())
    }

    /// Before credentials are handed to the client: the registry's token service (the `realm`
    /// of its `WWW-Authenticate: Bearer` challenge, which the client sends them to) must be
    /// https or the registry's own host. The challenge is read with a bounded body and no
    /// redirect.
    async fn check_token_realm(&self, registry: &str) -> Result<()> {
        let probe = |problem: String| OciError::Probe {
            registry: registry.to_owned(),
            problem,
        };
        let scheme = if self.insecure.iter().any(|host| host == registry) {
            "http"
        } else {
            "https"
        };
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|error| probe(error.to_string()))?;
        let answer = client
            .get(format!("{scheme}://{registry}/v2/"))
            .send()
            .await
            .map_err(|error| {
                probe(format!(
                    "cannot reach /v2/: {}",
                    super::aws::describe(&error)
                ))
            })?;
        let Some(challenge) = answer
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|value| value.to_str().ok())
        else {
            return Ok(());
        };
        let Some(realm) = bearer_realm(challenge) else {
            return Ok(());
        };
        let registry_host = registry.rsplit_once(':').map_or(registry, |(host, _)| host);
        let fits = reqwest::Url::parse(&realm).is_ok_and(|url| {
            url.scheme() == "https"
                || url
                    .host_str()
                    .is_some_and(|host| host.eq_ignore_ascii_case(registry_host))
        });
        if fits {
            Ok(())
        } else {
            Err(OciError::Realm {
                registry: registry.to_owned(),
                realm,
            })
        }
    }

    /// A manifest pulled anonymously (with the registry's anonymous token when it asks for
    /// one), read to [`image::MAX_MANIFEST_BYTES`] and no further, with its digest (checked
    /// when the reference names one). No redirect leaves the registry's host.
    // Long on purpose: one conversation with the registry (ask, read the token challenge, fetch
    // the token, ask again, follow a same-host redirect), each step bounded.
    async fn manifest_bounded(&self, reference: &Reference) -> Result<(Vec<u8>, String)> {
        let registry = reference.resolve_registry().to_owned();
        let problem = |text: String| OciError::Probe {
            registry: registry.clone(),
            problem: format!("{}: {text}", reference.whole()),
        };
        let scheme = if self.insecure.contains(&registry) {
            "http"
        } else {
            "https"
        };
        let host = reqwest::Url::parse(&format!("{scheme}://{registry}/"))
            .ok()
            .and_then(|url| url.host_str().map(str::to_owned));
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() < 5
                    && attempt.url().host_str().map(str::to_owned) == host
                {
                    attempt.follow()
                } else {
                    attempt.stop()
                }
            }))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_mins(2))
            .build()
            .map_err(|error| problem(error.to_string()))?;
        let which = reference
            .digest()
            .or_else(|| reference.tag())
            .unwrap_or("latest")
            .to_owned();
        let url = format!(
            "{scheme}://{registry}/v2/{}/manifests/{which}",
            reference.repository()
        );
        // Credentials logged in with for this registry (their token service was checked then).
        let login = self
            .logins
            .lock()
            .ok()
            .and_then(|logins| logins.get(&registry).cloned());
        let get = |authorization: Authorization| {
            let request = client
                .get(&url)
                .header(reqwest::header::ACCEPT, ACCEPTED_MANIFESTS.join(", "));
            match authorization {
                Authorization::None => request,
                Authorization::Basic(user, password) => request.basic_auth(user, Some(password)),
                Authorization::Bearer(token) => request.bearer_auth(token),
            }
            .send()
        };
        let describe = |error: reqwest::Error| problem(super::aws::describe(&error));
        let mut answer = get(Authorization::None).await.map_err(describe)?;
        let challenge = answer
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        if answer.status() == reqwest::StatusCode::UNAUTHORIZED
            && let Some((user, password)) = &login
            && challenge
                .as_deref()
                .is_some_and(|challenge| challenge.trim_start().starts_with("Basic"))
        {
            answer = get(Authorization::Basic(user.clone(), password.clone()))
                .await
                .map_err(describe)?;
        } else if answer.status() == reqwest::StatusCode::UNAUTHORIZED
            && let Some(challenge) = challenge
            && let Some(realm) = bearer_realm(&challenge)
        {
            let mut token_url =
                reqwest::Url::parse(&realm).map_err(|error| problem(error.to_string()))?;
            {
                let mut query = token_url.query_pairs_mut();
                if let Some(service) = challenge_field(&challenge, "service") {
                    query.append_pair("service", &service);
                }
                query.append_pair(
                    "scope",
                    &format!("repository:{}:pull", reference.repository()),
                );
            }
            let mut token_request = client.get(token_url);
            if let Some((user, password)) = &login {
                token_request = token_request.basic_auth(user, Some(password));
            }
            let reply = token_request.send().await.map_err(describe)?;
            let body = super::http_body::bounded(reply, 1 << 20)
                .await
                .map_err(problem)?;
            let value: serde_json::Value = serde_json::from_slice(&body)
                .map_err(|error| problem(format!("the token answer: {error}")))?;
            let token = value["token"]
                .as_str()
                .or_else(|| value["access_token"].as_str())
                .ok_or_else(|| problem("the token answer holds no token".to_owned()))?
                .to_owned();
            answer = get(Authorization::Bearer(token)).await.map_err(describe)?;
        }
        if !answer.status().is_success() {
            return Err(problem(format!("the manifest answers {}", answer.status())));
        }
        let announced = answer
            .headers()
            .get("docker-content-digest")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let bytes = super::http_body::bounded(answer, image::MAX_MANIFEST_BYTES)
            .await
            .map_err(|text| {
                OciError::Image(image::ImageError::Malformed(format!("manifest: {text}")))
            })?;
        let digest = image::digest_of(&bytes);
        for claimed in reference.digest().into_iter().chain(announced.as_deref()) {
            if claimed != digest {
                return Err(OciError::Corrupt {
                    reference: reference.whole(),
                    digest: claimed.to_owned(),
                    actual: digest,
                });
            }
        }
        Ok((bytes, digest))
    }

    /// The base image for `os`/`architecture`: its manifest, digest and config.
    pub async fn pull_base(
        &self,
        reference: &Reference,
        os: &str,
        architecture: &str,
    ) -> Result<Base> {
        // Read here, not by the client: its read takes a body whole before any check, and a
        // registry that answers 256 MiB would have it all in memory.
        let (bytes, digest) = self.manifest_bounded(reference).await?;
        let (manifest, digest, reference) =
            match image::read_base_manifest(&bytes, os, architecture)? {
                BaseManifest::Image => (bytes.clone(), digest, reference.clone()),
                BaseManifest::Index { digest } => {
                    let platform = Reference::with_digest(
                        reference.registry().to_owned(),
                        reference.repository().to_owned(),
                        digest,
                    );
                    let (bytes, digest) = self.manifest_bounded(&platform).await?;
                    (bytes, digest, platform)
                }
            };
        let (_, config) = image::base_parts(&manifest)?;
        let config_digest = image::descriptor_digest(&config)?.to_owned();
        // A config is a few kilobytes; a registry that announces more is not trusted with memory.
        if config["size"]
            .as_u64()
            .is_none_or(|size| size > image::MAX_CONFIG_BYTES)
        {
            return Err(OciError::Image(image::ImageError::Malformed(format!(
                "config is announced as {} bytes; at most {} are read",
                config["size"],
                image::MAX_CONFIG_BYTES
            ))));
        }
        let config_size = config["size"].as_u64().unwrap_or(0);
        let config = self.blob(&reference, &config_digest, config_size).await?;
        Ok(Base {
            reference,
            manifest,
            digest,
            config,
        })
    }

    /// A blob's bytes, read to the `size` its descriptor announces and no further, then
    /// checked against its digest.
    pub async fn blob(&self, reference: &Reference, digest: &str, size: u64) -> Result<Vec<u8>> {
        let mut capped = Capped {
            bytes: Vec::new(),
            limit: usize::try_from(size).unwrap_or(usize::MAX),
        };
        self.client
            .pull_blob(reference, digest, &mut capped)
            .await
            .map_err(|source| OciError::Oci {
                reference: reference.whole(),
                what: "cannot read a blob",
                source,
            })?;
        let bytes = capped.bytes;
        let actual = image::digest_of(&bytes);
        if actual != digest {
            return Err(OciError::Corrupt {
                reference: reference.whole(),
                digest: digest.to_owned(),
                actual,
            });
        }
        Ok(bytes)
    }

    async fn has_blob(&self, target: &Reference, digest: &str) -> Result<bool> {
        self.client
            .blob_exists(target, digest)
            .await
            .map_err(|source| OciError::Oci {
                reference: target.whole(),
                what: "cannot ask for a blob",
                source,
            })
    }

    /// Pushes `app` to `target` (a reference with its tag): the base's layers (present, mounted
    /// from the base's repository, or copied), the bundle's layer, the config, then the manifest
    /// unless the tag already names it.
    pub async fn push(
        &self,
        base: &Base,
        app: &image::AppImage,
        target: &Reference,
    ) -> Result<Pushed> {
        let mut pushed = Pushed::default();
        let same_registry = base.reference.resolve_registry() == target.resolve_registry();
        for layer in &app.base_layers {
            let digest = image::descriptor_digest(layer)?;
            if self.has_blob(target, digest).await? {
                pushed.blobs_present += 1;
                continue;
            }
            if same_registry
                && self
                    .client
                    .mount_blob(target, &base.reference, digest)
                    .await
                    .is_ok()
                && self.has_blob(target, digest).await?
            {
                pushed.blobs_mounted += 1;
                continue;
            }
            let size = layer["size"].as_u64().ok_or_else(|| {
                OciError::Image(image::ImageError::Malformed(format!(
                    "layer {digest} announces no size"
                )))
            })?;
            let bytes = self.blob(&base.reference, digest, size).await?;
            self.upload(target, bytes, digest, &mut pushed).await?;
        }
        for blob in [&app.layer.blob, &app.config] {
            if self.has_blob(target, &blob.digest).await? {
                pushed.blobs_present += 1;
            } else {
                self.upload(target, blob.bytes.clone(), &blob.digest, &mut pushed)
                    .await?;
            }
        }
        let current = self
            .client
            .fetch_manifest_digest(target, &RegistryAuth::Anonymous)
            .await
            .ok();
        if current.as_deref() != Some(app.manifest.digest.as_str()) {
            self.client
                .push_manifest_raw(
                    target,
                    app.manifest.bytes.clone(),
                    image::OCI_MANIFEST.parse().expect("a valid header value"),
                )
                .await
                .map_err(|source| OciError::Oci {
                    reference: target.whole(),
                    what: "cannot push the manifest",
                    source,
                })?;
            pushed.manifest_pushed = true;
        }
        Ok(pushed)
    }

    async fn upload(
        &self,
        target: &Reference,
        bytes: Vec<u8>,
        digest: &str,
        pushed: &mut Pushed,
    ) -> Result<()> {
        let size = bytes.len() as u64;
        self.client
            .push_blob(target, bytes, digest)
            .await
            .map_err(|source| OciError::Oci {
                reference: target.whole(),
                what: "cannot push a blob",
                source,
            })?;
        pushed.bytes_uploaded += size;
        pushed.blobs_uploaded += 1;
        Ok(())
    }
}

/// A blob as it is read, refused past the size its descriptor announced.
struct Capped {
    bytes: Vec<u8>,
    limit: usize,
}

impl tokio::io::AsyncWrite for Capped {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buffer: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if this.bytes.len() + buffer.len() > this.limit {
            return std::task::Poll::Ready(Err(std::io::Error::other(format!(
                "the registry sent more than the {} bytes the blob's descriptor announces",
                this.limit
            ))));
        }
        this.bytes.extend_from_slice(buffer);
        std::task::Poll::Ready(Ok(buffer.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// How a bounded manifest read authenticates.
enum Authorization {
    None,
    Basic(String, String),
    Bearer(String),
}

/// The `realm` of a `Bearer` challenge (`Bearer realm="…",service="…"`), if it is one.
fn bearer_realm(challenge: &str) -> Option<String> {
    challenge_field(challenge, "realm")
}

/// A field of a `Bearer` challenge.
fn challenge_field(challenge: &str, field: &str) -> Option<String> {
    let rest = challenge.trim().strip_prefix("Bearer")?.trim_start();
    rest.split(',').find_map(|part| {
        let (key, value) = part.trim().split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case(field)
            .then(|| value.trim().trim_matches('"').to_owned())
    })
}

/// `GetAuthorizationToken`: the token is base64 of `AWS:<password>`.
async fn ecr_login(region: Option<&str>) -> Result<(String, String)> {
    use base64::Engine;
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region.to_owned()));
    }
    let config = loader.load().await;
    let answer = aws_sdk_ecr::Client::new(&config)
        .get_authorization_token()
        .send()
        .await
        .map_err(|error| OciError::Ecr(super::aws::describe(&error)))?;
    let token = answer
        .authorization_data()
        .first()
        .and_then(|data| data.authorization_token())
        .ok_or_else(|| OciError::Ecr("the answer has no authorization token".into()))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .map_err(|_| OciError::Ecr("the authorization token is not base64".into()))?;
    let text = String::from_utf8(decoded)
        .map_err(|_| OciError::Ecr("the authorization token is not text".into()))?;
    let (username, password) = text
        .split_once(':')
        .ok_or_else(|| OciError::Ecr("the authorization token is not USER:PASSWORD".into()))?;
    Ok((username.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecr_hosts_name_their_region() {
        assert_eq!(
            ecr_region("123456789012.dkr.ecr.eu-west-1.amazonaws.com").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(
            ecr_region("123456789012.dkr.ecr-fips.us-east-1.amazonaws.com").as_deref(),
            Some("us-east-1")
        );
        assert_eq!(ecr_region("127.0.0.1:5000"), None);
        assert_eq!(ecr_region("ghcr.io"), None);
    }

    #[test]
    fn a_bearer_challenge_names_its_realm() {
        assert_eq!(
            bearer_realm(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io""#
            )
            .as_deref(),
            Some("https://auth.docker.io/token")
        );
        assert_eq!(bearer_realm(r#"Basic realm="x""#), None);
    }

    #[test]
    fn only_a_written_tag_counts() {
        assert_eq!(written_tag("localhost:5000/prompts:v1"), Some("v1"));
        assert_eq!(written_tag("localhost:5000/prompts"), None);
        assert_eq!(written_tag("localhost:5000/prompts@sha256:ab"), None);
    }
}
