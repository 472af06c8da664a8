//! `promptops deploy`: the release's image to an ECS service, then wait, verify (the served
//! release and the scores), and record and tag; or roll back to the revision that ran before.
//! `deploy rollback` goes back by hand; `deploy status` shows what runs. Every decision is a
//! function of `domain::deploy`; the AWS calls are `adapters::aws`.

mod record;
mod rollback;
mod rollout;
mod status;
mod verify;

use std::time::Duration;

use crate::adapters::aws::Aws;
use crate::cli::{DeployArgs, DeployCommand, DeployTarget};
use crate::domain::analysis::{Analysis, RegistryState};
use crate::domain::bundle::ReleaseId;
use crate::domain::deploy::{self, TaskScore};
use crate::domain::image::release_tag;
use crate::domain::model::Registry;
use crate::domain::outcome::{DeployAction, DeployOutcome};
use crate::domain::source::InputFile;
use crate::exit::{ExitStatus, UserError};
use crate::report::{self, Printer};
use crate::settings::Settings;

use crate::commands::Outcome;
use crate::commands::runtime::block_on;

use record::task_scores;
use rollout::Deploying;

pub fn run(
    settings: &Settings,
    args: &DeployArgs,
    printer: &mut Printer<'_>,
) -> anyhow::Result<Outcome> {
    let (outcome, format) = match &args.command {
        Some(DeployCommand::Rollback(rollback)) => (
            rollback::by_hand(settings, rollback, printer)?,
            rollback.target.format,
        ),
        Some(DeployCommand::Status(status)) => {
            (status::show(settings, status)?, status.target.format)
        }
        None => (execute(settings, args, printer)?, args.target.format),
    };
    report::deploy::render(
        &outcome,
        crate::commands::flags::table_format(format),
        printer,
    )?;
    Ok(Outcome::Deploy(Box::new(outcome)))
}

pub(super) fn usage(message: String, hint: &str) -> anyhow::Error {
    UserError::new(ExitStatus::Error, message).hint(hint).into()
}

/// Where and how long: the flags, else `promptops.yaml`'s `deploy:`, else the defaults.
pub(super) struct Target {
    cluster: String,
    service: String,
    timeout: Duration,
    poll: Duration,
}

/// The target from the flags or `promptops.yaml`. A `promptops.yaml` with errors is refused
/// first: its deploy settings would be silently missing.
pub(super) fn target(target: &DeployTarget, analysis: &Analysis) -> anyhow::Result<Target> {
    if let Some(error) = analysis.findings.iter().find(|finding| {
        finding.file == crate::domain::layout::CONFIG_FILE
            && finding.severity == crate::domain::diagnostic::Severity::Error
    }) {
        return Err(UserError::new(
            ExitStatus::Error,
            format!(
                "{}:{}:{}: {}",
                error.file, error.line, error.column, error.message
            ),
        )
        .hint("fix promptops.yaml (`promptops validate` lists every problem), then deploy")
        .into());
    }
    let config = analysis.config.deploy.clone().unwrap_or_default();
    let (Some(cluster), Some(service)) = (
        target.cluster.clone().or(config.cluster),
        target.service.clone().or(config.service),
    ) else {
        return Err(usage(
            "deploy needs a cluster and a service".to_owned(),
            "pass --cluster and --service, or set deploy.cluster and deploy.service in promptops.yaml",
        ));
    };
    let timeout = match (&target.timeout, config.timeout_seconds) {
        (Some(text), _) => crate::commands::flags::duration(text, "timeout")?,
        (None, Some(seconds)) => Duration::from_secs_f64(seconds),
        (None, None) => Duration::from_mins(10),
    };
    Ok(Target {
        cluster,
        service,
        timeout,
        poll: crate::commands::flags::duration(&target.poll_interval, "poll-interval")?,
    })
}

pub(super) fn registry_of(analysis: &Analysis) -> Registry {
    match &analysis.registry {
        RegistryState::Parsed { registry, .. } => (**registry).clone(),
        _ => analysis.expected_registry.clone(),
    }
}

/// The image reference split with the OCI reference parser: the repository part
/// (`HOST/PATH`), its ECR repository name (`PATH`), and the digest or the written tag. The
/// registry must be named (ECR is never the default registry).
pub(super) fn split_image(text: &str) -> Option<(String, String, String)> {
    let reference = crate::adapters::oci::parse(text)
        .ok()
        .filter(|_| text.contains('/'))?;
    let id = reference
        .digest()
        .or_else(|| crate::adapters::oci::written_tag(text))?
        .to_owned();
    Some((
        format!("{}/{}", reference.registry(), reference.repository()),
        reference.repository().to_owned(),
        id,
    ))
}

/// Resolves what to deploy where, then (through AWS) plans the deploy and carries out the plan
/// step by step: register, update, wait, verify, check the scores, record; a failure after the
/// update rolls the service back and records that.
pub fn execute(
    settings: &Settings,
    args: &DeployArgs,
    printer: &mut Printer<'_>,
) -> anyhow::Result<DeployOutcome> {
    let root = if args.dry_run {
        crate::commands::repository::root(settings)?
    } else {
        crate::commands::repository::root_for_change(settings)?
    };
    let (inputs, analysis) = crate::commands::repository::scan(&root, false)?;
    let resolved = resolve(args, &root, &inputs, &analysis)?;
    let mut outcome = DeployOutcome {
        action: DeployAction::Deploy,
        cluster: resolved.target.cluster.clone(),
        service: resolved.target.service.clone(),
        release_id: Some(resolved.release.to_string()),
        ..DeployOutcome::default()
    };
    let err = &mut *printer.err;
    block_on(async {
        let aws = Aws::connect().await;
        let mut deploying = Deploying {
            aws: &aws,
            settings,
            args,
            root: &root,
            inputs: &inputs,
            resolved: &resolved,
            outcome: &mut outcome,
            err,
        };
        deploying.run().await
    })?;
    Ok(outcome)
}

/// What a deploy deploys where, from the flags, `promptops.yaml` and the repository.
pub(super) struct Resolved {
    target: Target,
    verify_url: Option<String>,
    container: Option<String>,
    release: ReleaseId,
    /// The image as `REGISTRY/REPOSITORY`, its ECR repository name, and its tag or digest.
    image: (String, String, String),
    registry: Registry,
    scores: Vec<TaskScore>,
}

/// Everything that can refuse a deploy before AWS is asked anything.
pub(super) fn resolve(
    args: &DeployArgs,
    root: &std::path::Path,
    inputs: &[InputFile],
    analysis: &Analysis,
) -> anyhow::Result<Resolved> {
    let target = target(&args.target, analysis)?;
    // Checked before AWS is asked anything: the record after the rollout needs it.
    crate::commands::flags::wait(&args.target.lock_timeout, "lock-timeout")?;
    let config = analysis.config.deploy.clone().unwrap_or_default();
    let release = crate::commands::repository::release(root, inputs, analysis)?.release_id;
    let image = match (
        &args.image,
        args.image_repository
            .as_ref()
            .or(config.image_repository.as_ref()),
    ) {
        (Some(image), _) => image.clone(),
        (None, Some(repository)) => format!(
            "{}:{}",
            repository.trim_end_matches('/'),
            release_tag(&release)
        ),
        (None, None) => {
            return Err(usage(
                "deploy needs an image".to_owned(),
                "pass --image REPO:TAG, or --image-repository REPO (the tag promptops image gave this release), or set deploy.image_repository",
            ));
        }
    };
    let Some(parts) = split_image(&image) else {
        return Err(usage(
            format!(
                "--image {image} is not REGISTRY/REPOSITORY:TAG or REGISTRY/REPOSITORY@sha256:…"
            ),
            "e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/prompts:release-0123456789ab",
        ));
    };
    if let Err(problem) = deploy::check_release_tag(&parts.2, &release) {
        return Err(usage(
            format!("--image {image}: {problem}"),
            "deploy from the commit the image was built from, or build this release's image (promptops image)",
        ));
    }
    let registry = registry_of(analysis);
    let scores = task_scores(analysis, &registry);
    Ok(Resolved {
        target,
        verify_url: args.verify_url.clone().or(config.verify_url),
        container: args.container.clone().or(config.container),
        release,
        image: parts,
        registry,
        scores,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_split_into_repository_name_and_tag_or_digest() {
        assert_eq!(
            split_image("123456789012.dkr.ecr.us-east-1.amazonaws.com/team/prompts:release-abc"),
            Some((
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/prompts".into(),
                "team/prompts".into(),
                "release-abc".into()
            ))
        );
        assert_eq!(
            split_image(&format!("localhost:5000/prompts@sha256:{}", "f".repeat(64))).map(|s| s.2),
            Some(format!("sha256:{}", "f".repeat(64)))
        );
        assert_eq!(split_image("localhost:5000/prompts"), None);
        assert_eq!(split_image("prompts:1"), None);
    }
}
