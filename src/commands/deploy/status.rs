//! `deploy status`: what the service runs, and what the registry knows of each release.

use crate::adapters::aws::Aws;
use crate::cli::DeployStatusArgs;
use crate::domain::deploy;
use crate::domain::outcome::{DeployAction, DeployOutcome, DeployResult, DeploymentLine};
use crate::settings::Settings;

use crate::commands::runtime::block_on;

use super::{Target, registry_of, target};

/// `deploy status`: each deployment, its image and release, and the prompt versions the
/// registry's deploy records give that release.
pub(super) fn show(settings: &Settings, args: &DeployStatusArgs) -> anyhow::Result<DeployOutcome> {
    let root = crate::commands::repository::root(settings)?;
    let (_, analysis) = crate::commands::repository::scan(&root, false)?;
    let Target {
        cluster, service, ..
    } = target(&args.target, &analysis)?;
    let versions = deploy::release_versions(&registry_of(&analysis), &cluster, &service);
    block_on(async {
        let aws = Aws::connect().await;
        let state = aws.service(&cluster, &service).await?;
        let mut lines = Vec::new();
        for deployment in &state.deployments {
            let definition = aws.task_definition(&deployment.task_definition).await?;
            let containers = definition.containers();
            let container = containers
                .iter()
                .find(|c| c.release().is_some())
                .or(containers.first());
            let release = container.and_then(|c| c.release().map(str::to_owned));
            lines.push(DeploymentLine {
                status: deployment.status.clone(),
                task_definition: deployment.task_definition.clone(),
                rollout_state: deployment.rollout_state.clone(),
                running: deployment.running,
                desired: deployment.desired,
                image: container.map(|c| c.image.clone()),
                versions: release
                    .as_ref()
                    .and_then(|r| versions.get(r).cloned())
                    .unwrap_or_default(),
                release_id: release,
            });
        }
        anyhow::Ok(DeployOutcome {
            action: DeployAction::Status,
            result: DeployResult::Shown,
            ok: true,
            cluster: cluster.clone(),
            service: service.clone(),
            task_definition: Some(state.task_definition.clone()),
            deployments: lines,
            ..DeployOutcome::default()
        })
    })
}
