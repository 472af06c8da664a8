//! `promptops image`: the app image without Docker. The base image's manifest and config are
//! read from its registry, one deterministic layer holding the release bundle is appended
//! (`domain::image`), and the image is pushed (`adapters::oci`) or written as an OCI
//! layout. The same bundle on the same base gives the same digest.

use std::collections::BTreeMap;

use crate::adapters::oci::{self, Login, OciRegistry};
use crate::adapters::{self};
use crate::cli::{ImageArgs, RegistryAuth};
use crate::domain::bundle::IMAGE_BUNDLE_DIR;
use crate::domain::image::{self, RELEASE_LABEL};
use crate::domain::outcome::ImageOutcome;
use crate::exit::{ExitStatus, UserError};
use crate::report::{self, Printer};
use crate::settings::Settings;

use super::Outcome;

pub fn run(
    settings: &Settings,
    args: &ImageArgs,
    printer: &mut Printer<'_>,
) -> anyhow::Result<Outcome> {
    let outcome = execute(settings, args, printer)?;
    report::image::render(&outcome, super::flags::table_format(args.format), printer)?;
    Ok(Outcome::Image(outcome))
}

fn usage(message: String, hint: &str) -> anyhow::Error {
    UserError::new(ExitStatus::Error, message).hint(hint).into()
}

/// The largest binary `--runtime-binary` reads (promptops is tens of MiB).
const MAX_BINARY_BYTES: u64 = 512 << 20;

/// Reads the base from its registry, builds the image on it, and pushes it (or writes it as an
/// OCI layout). Everything that can refuse (the release, the flags) is checked first.
// Long on purpose: the registry conversation (log in, pull, build, then push or write) is one
// async block that owns the connection; the push and the layout are methods of `Built`.
pub fn execute(
    settings: &Settings,
    args: &ImageArgs,
    printer: &mut Printer<'_>,
) -> anyhow::Result<ImageOutcome> {
    // `--runtime-binary`: the runtime image itself (the Dockerfile's runtime stage, without
    // Docker), which holds no release.
    let runtime_binary = match &args.runtime_binary {
        Some(path) => Some(adapters::fs::read_regular(
            &settings.current_dir.join(path),
            MAX_BINARY_BYTES,
        )?),
        None => None,
    };
    // Checked as `serve` will check it: an image never holds a release its server refuses.
    let bundle = match &runtime_binary {
        Some(_) => None,
        None => Some(
            super::serve::load_release(
                settings,
                args.bundle.as_ref(),
                printer,
                "no image was built",
            )?
            .0,
        ),
    };
    let release_id = bundle
        .as_ref()
        .map_or_else(String::new, |bundle| bundle.release_id.to_string());
    let (os, architecture) = platform(args.platform.as_deref())?;
    let labels = labels(args, bundle.as_ref().map(|_| release_id.as_str()))?;
    let (base, target) = references(args)?;
    let login = login(settings, args, target.as_ref())?;
    let registry = OciRegistry::new(&args.insecure_registry);
    super::runtime::block_on(async {
        if let Some(target) = &target {
            registry
                .login(target, &login)
                .await
                .map_err(|error| registry.redacted(error))?;
        }
        if target
            .as_ref()
            .is_none_or(|target| target.resolve_registry() != base.resolve_registry())
        {
            registry
                .login(&base, &Login::Anonymous)
                .await
                .map_err(|error| registry.redacted(error))?;
        }
        let pulled = registry
            .pull_base(&base, &os, &architecture)
            .await
            .map_err(|error| registry.redacted(error))?;
        let app = match (&bundle, &runtime_binary) {
            (_, Some(binary)) => {
                image::runtime_image(&pulled.manifest, &pulled.digest, &pulled.config, binary)
            }
            (Some(bundle), None) => image::app_image(
                &pulled.manifest,
                &pulled.digest,
                &pulled.config,
                image::layer(bundle, IMAGE_BUNDLE_DIR),
                &[
                    ("PROMPTOPS_BUNDLE", IMAGE_BUNDLE_DIR),
                    ("PROMPTOPS_RELEASE", &release_id),
                ],
                &labels,
            ),
            (None, None) => Err(image::ImageError::Malformed(
                "no bundle and no runtime binary".to_owned(),
            )),
        }
        .map_err(|error| {
            usage(
                format!("{}: {error}", args.base),
                "use the runtime image the Dockerfile's runtime stage builds",
            )
        })?;
        let default_tag = match &runtime_binary {
            Some(binary) => format!(
                "runtime-{}",
                &crate::domain::source::sha256_hex(binary)[..12]
            ),
            None => image::release_tag(&release_id),
        };
        let mut outcome = ImageOutcome {
            reference: String::new(),
            digest: app.manifest.digest.clone(),
            tag: default_tag.clone(),
            release_id: release_id.clone(),
            base: args.base.clone(),
            base_digest: pulled.digest.clone(),
            layer_digest: app.layer.blob.digest.clone(),
            config_digest: app.config.digest.clone(),
            bytes_uploaded: 0,
            blobs_uploaded: 0,
            blobs_mounted: 0,
            blobs_present: 0,
            manifest_pushed: false,
            oci_layout: args.oci_layout.is_some(),
        };
        let built = Built {
            registry: &registry,
            pulled: &pulled,
            app: &app,
            default_tag,
        };
        if let Some(target) = &target {
            built.push(target, args, &mut outcome).await?;
        } else if let Some(dir) = &args.oci_layout {
            built
                .write_layout(&settings.current_dir, dir, args, &mut outcome)
                .await?;
        }
        anyhow::Ok(outcome)
    })
}

/// The image's labels: the release's (when it holds one), its title, and each `--label`.
fn labels(args: &ImageArgs, release_id: Option<&str>) -> anyhow::Result<BTreeMap<String, String>> {
    let mut labels: BTreeMap<String, String> = BTreeMap::new();
    if let Some(release_id) = release_id {
        labels.insert(RELEASE_LABEL.to_owned(), release_id.to_owned());
    }
    labels.insert(
        "org.opencontainers.image.title".to_owned(),
        "promptops prompt loader".to_owned(),
    );
    for label in &args.label {
        let Some((key, value)) = label
            .split_once('=')
            .filter(|(key, _)| !key.trim().is_empty())
        else {
            return Err(usage(
                format!("--label {label} is not KEY=VALUE"),
                "e.g. --label org.opencontainers.image.source=https://github.com/acme/prompts",
            ));
        };
        labels.insert(key.trim().to_owned(), value.to_owned());
    }
    Ok(labels)
}

/// `--base`, and `--push` when given (a repository or a tag, never a digest).
fn references(
    args: &ImageArgs,
) -> anyhow::Result<(oci_client::Reference, Option<oci_client::Reference>)> {
    let base = oci::parse(&args.base)
        .map_err(|message| usage(message, "e.g. --base ghcr.io/acme/promptops-runtime:0.1.0"))?;
    let Some(push) = &args.push else {
        return Ok((base, None));
    };
    let parsed = oci::parse(push).map_err(|message| {
        usage(
            message,
            "e.g. --push 123456789012.dkr.ecr.eu-west-1.amazonaws.com/prompts",
        )
    })?;
    if parsed.digest().is_some() {
        return Err(usage(
            format!("--push {push} names a digest; push to a repository or a tag"),
            "drop the @sha256:… part",
        ));
    }
    Ok((base, Some(parsed)))
}

/// An image built on its base, ready to go out.
struct Built<'a> {
    registry: &'a OciRegistry,
    pulled: &'a oci::Base,
    app: &'a image::AppImage,
    /// `release-<12 hex>` (or `runtime-<12 hex>`), unless a tag was written.
    default_tag: String,
}

impl Built<'_> {
    /// Pushes to `target` (blobs it has are skipped, the base's layers mounted).
    async fn push(
        self,
        target: &oci_client::Reference,
        args: &ImageArgs,
        outcome: &mut ImageOutcome,
    ) -> anyhow::Result<()> {
        let tag = args
            .push
            .as_deref()
            .and_then(oci::written_tag)
            .map_or(self.default_tag, str::to_owned);
        let tagged = oci_client::Reference::with_tag(
            target.registry().to_owned(),
            target.repository().to_owned(),
            tag.clone(),
        );
        let pushed = self
            .registry
            .push(self.pulled, self.app, &tagged)
            .await
            .map_err(|error| self.registry.redacted(error))?;
        outcome.reference = format!(
            "{}/{}@{}",
            target.registry(),
            target.repository(),
            self.app.manifest.digest
        );
        outcome.tag = tag;
        outcome.bytes_uploaded = pushed.bytes_uploaded;
        outcome.blobs_uploaded = pushed.blobs_uploaded;
        outcome.blobs_mounted = pushed.blobs_mounted;
        outcome.blobs_present = pushed.blobs_present;
        outcome.manifest_pushed = pushed.manifest_pushed;
        Ok(())
    }

    /// Writes the same image as an OCI layout into a new or empty folder (the base's layers
    /// read from its registry).
    async fn write_layout(
        self,
        current_dir: &std::path::Path,
        dir: &std::path::Path,
        args: &ImageArgs,
        outcome: &mut ImageOutcome,
    ) -> anyhow::Result<()> {
        let out = current_dir.join(dir);
        if let Ok(mut entries) = std::fs::read_dir(&out)
            && entries.next().is_some()
        {
            return Err(usage(
                format!("{} is not empty; nothing was written", dir.display()),
                "write an OCI layout to a new or empty folder",
            ));
        }
        let mut base_blobs = BTreeMap::new();
        for layer in &self.app.base_layers {
            let digest = image::descriptor_digest(layer)
                .map_err(|error| usage(error.to_string(), "use another base"))?;
            let size = layer["size"].as_u64().ok_or_else(|| {
                usage(
                    format!("{}: layer {digest} announces no size", args.base),
                    "use another base",
                )
            })?;
            let bytes = self
                .registry
                .blob(&self.pulled.reference, digest, size)
                .await
                .map_err(|error| self.registry.redacted(error))?;
            base_blobs.insert(digest.to_owned(), bytes);
        }
        let tag = args.tag.clone().unwrap_or(self.default_tag);
        let layout = image::oci_layout(self.app, &tag, &base_blobs)
            .map_err(|error| usage(error.to_string(), "use another base"))?;
        for (path, bytes) in layout {
            adapters::fs::write_atomic(&out.join(path), &bytes)?;
        }
        outcome.reference = format!("oci:{}:{tag}", dir.display());
        outcome.tag = tag;
        Ok(())
    }
}

/// `--platform OS/ARCH`, or linux and this machine's CPU in the names images use.
fn platform(asked: Option<&str>) -> anyhow::Result<(String, String)> {
    if let Some(asked) = asked {
        return asked
            .split_once('/')
            .filter(|(os, arch)| !os.is_empty() && !arch.is_empty())
            .map(|(os, arch)| (os.to_owned(), arch.to_owned()))
            .ok_or_else(|| {
                usage(
                    format!("--platform {asked} is not OS/ARCH"),
                    "e.g. --platform linux/amd64",
                )
            });
    }
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    Ok(("linux".to_owned(), arch.to_owned()))
}

/// How to log in to the registry pushed to.
fn login(
    settings: &Settings,
    args: &ImageArgs,
    target: Option<&oci_client::Reference>,
) -> anyhow::Result<Login> {
    let host = target.map(|target| target.resolve_registry().to_owned());
    let basic = || -> anyhow::Result<Login> {
        let Some(username) = args.registry_username.clone() else {
            return Err(usage(
                "--registry-auth basic needs --registry-username".to_owned(),
                "pass --registry-username USER and set PROMPTOPS_REGISTRY_PASSWORD",
            ));
        };
        let Some(password) = settings.registry_password.clone() else {
            return Err(usage(
                format!("--registry-username {username} needs PROMPTOPS_REGISTRY_PASSWORD"),
                "set the password in PROMPTOPS_REGISTRY_PASSWORD (never on the command line)",
            ));
        };
        Ok(Login::Basic { username, password })
    };
    Ok(match args.registry_auth {
        RegistryAuth::Anonymous => Login::Anonymous,
        RegistryAuth::Basic => basic()?,
        RegistryAuth::Ecr => Login::Ecr {
            region: host.as_deref().and_then(oci::ecr_region),
        },
        RegistryAuth::Auto => {
            if let Some(region) = host.as_deref().and_then(oci::ecr_region) {
                Login::Ecr {
                    region: Some(region),
                }
            } else if args.registry_username.is_some() {
                basic()?
            } else {
                Login::Anonymous
            }
        }
    })
}
