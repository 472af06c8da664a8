//! `deploy rollback`: the service back on an earlier revision, by hand.

use crate::adapters::aws::Aws;
use crate::cli::DeployRollbackArgs;
use crate::domain::deploy;
use crate::domain::model::{DeploymentRecord, EventKind};
use crate::domain::outcome::{DeployAction, DeployOutcome, DeployResult};
use crate::report::Printer;
use crate::settings::Settings;

use crate::commands::runtime::block_on;

use super::record::{Recording, record_event, task_scores};
use super::rollout::wait_for;
use super::{Target, registry_of, target, usage};

/// `deploy rollback`: back to the revision that ran before the current one (as the deploy
/// history recorded it, else the previous revision of the family) or `--to-revision N`.
// Long on purpose: deploy rollback's one sequence (find the revision, update, wait, record),
// a shorter sibling of the deploy's plan.
pub(super) fn by_hand(
    settings: &Settings,
    args: &DeployRollbackArgs,
    printer: &mut Printer<'_>,
) -> anyhow::Result<DeployOutcome> {
    let reason = args.reason.trim();
    if reason.is_empty() {
        return Err(usage(
            "--reason must say why the service is rolled back".to_owned(),
            "e.g. --reason \"answers got worse\"",
        ));
    }
    let root = crate::commands::repository::root_for_change(settings)?;
    let (inputs, analysis) = crate::commands::repository::scan(&root, false)?;
    let Target {
        cluster,
        service,
        timeout,
        poll,
    } = target(&args.target, &analysis)?;
    let registry = registry_of(&analysis);
    let scores = task_scores(&analysis, &registry);
    let err = &mut *printer.err;
    block_on(async {
        let aws = Aws::connect().await;
        let state = aws.service(&cluster, &service).await?;
        let current = state.task_definition.clone();
        let family_arn = current
            .rsplit_once(':')
            .map_or(current.as_str(), |(family, _)| family)
            .to_owned();
        let revision: Option<u32> = current.rsplit_once(':').and_then(|(_, n)| n.parse().ok());
        let target_arn = match args.to_revision {
            Some(n) => format!("{family_arn}:{n}"),
            None => deploy::recorded_previous(&registry, &cluster, &service, &current)
                .or_else(|| {
                    revision
                        .filter(|n| *n > 1)
                        .map(|n| format!("{family_arn}:{}", n - 1))
                })
                .ok_or_else(|| {
                    usage(
                        format!("{} has no revision before it", deploy::short_arn(&current)),
                        "pass --to-revision N",
                    )
                })?,
        };
        let target_definition = aws.task_definition(&target_arn).await?;
        let release = target_definition
            .containers()
            .iter()
            .find_map(|c| c.release().map(str::to_owned));
        let _ = writeln!(
            err,
            "rolling {service} back from {} to {}",
            deploy::short_arn(&current),
            deploy::short_arn(&target_definition.arn)
        );
        aws.update_service(&cluster, &service, &target_definition.arn)
            .await?;
        let rollout = wait_for(
            &aws,
            (&cluster, &service),
            &target_definition.arn,
            (timeout, poll),
            err,
        )
        .await?;
        let message = deploy::commit_message(
            EventKind::DeployRollback,
            (&cluster, &service),
            None,
            &format!(
                "back to {} by hand",
                deploy::short_arn(&target_definition.arn)
            ),
            reason,
        );
        let (commit, _) = record_event(
            Recording {
                root: &root,
                settings,
                inputs: &inputs,
                target: &args.target,
                record: DeploymentRecord {
                    cluster: cluster.clone(),
                    service: service.clone(),
                    image: target_definition
                        .containers()
                        .first()
                        .map(|c| c.image.clone())
                        .unwrap_or_default(),
                    task_definition: target_definition.arn.clone(),
                    previous_task_definition: Some(current.clone()),
                    release_id: release.clone().unwrap_or_default(),
                    score: None,
                    run_url: settings.github_run_url(),
                },
                event: EventKind::DeployRollback,
                reason: Some(reason.to_owned()),
                tag: None,
                message,
            },
            &scores,
        )?;
        anyhow::Ok(DeployOutcome {
            action: DeployAction::Rollback,
            result: if rollout.failure().is_none() {
                DeployResult::RolledBack
            } else {
                DeployResult::Failed
            },
            ok: rollout.failure().is_none(),
            cluster: cluster.clone(),
            service: service.clone(),
            release_id: release,
            task_definition: Some(target_definition.arn.clone()),
            previous_task_definition: Some(current),
            reason: rollout.failure().or_else(|| Some(reason.to_owned())),
            commit,
            ..DeployOutcome::default()
        })
    })
}
