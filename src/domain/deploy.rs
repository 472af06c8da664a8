//! The decisions of `promptops deploy`, as pure functions: the container change of the new
//! task-definition revision, the classification of observed service states, the score check
//! against the previously deployed release, and the auto-tag's name. The AWS calls live in
//! `adapters::aws`; the command only sequences them.

use std::collections::BTreeMap;

use super::model::{DeploymentRecord, EventKind, HistoryEvent, Registry};
use super::outcome::ScoreCheck;
use super::trailers::{self, Trailer};

/// The environment variable that names the release a container serves.
pub const RELEASE_VARIABLE: &str = "PROMPTOPS_RELEASE";

/// A container of a task definition, as far as a deploy changes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerView {
    pub name: String,
    pub image: String,
    pub environment: Vec<(String, String)>,
}

impl ContainerView {
    /// The release id the container is told to serve.
    pub fn release(&self) -> Option<&str> {
        self.environment
            .iter()
            .find(|(name, _)| name == RELEASE_VARIABLE)
            .map(|(_, value)| value.as_str())
    }
}

/// The one change a deploy makes to a task definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerChange {
    pub index: usize,
    pub name: String,
    pub old_image: String,
    pub new_image: String,
    pub old_release: Option<String>,
    /// The container's environment after the change (order kept; the release set or added).
    pub environment: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DeployError {
    #[error("the task definition has no container `{wanted}`; it has: {known}")]
    NoSuchContainer { wanted: String, known: String },
    #[error(
        "the task definition has {count} containers ({known}); say which one serves the prompts"
    )]
    WhichContainer { count: usize, known: String },
}

/// The change: the chosen container (`wanted`, else the only one) gets `image` and
/// `PROMPTOPS_RELEASE=release`; nothing else changes.
pub fn change_container(
    containers: &[ContainerView],
    wanted: Option<&str>,
    image: &str,
    release: &str,
) -> Result<ContainerChange, DeployError> {
    let known = || {
        containers
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let index = match wanted {
        Some(wanted) => containers
            .iter()
            .position(|c| c.name == wanted)
            .ok_or_else(|| DeployError::NoSuchContainer {
                wanted: wanted.to_owned(),
                known: known(),
            })?,
        None if containers.len() == 1 => 0,
        None => {
            return Err(DeployError::WhichContainer {
                count: containers.len(),
                known: known(),
            });
        }
    };
    let container = &containers[index];
    let mut environment = container.environment.clone();
    match environment
        .iter_mut()
        .find(|(name, _)| name == RELEASE_VARIABLE)
    {
        Some(entry) => release.clone_into(&mut entry.1),
        None => environment.push((RELEASE_VARIABLE.to_owned(), release.to_owned())),
    }
    Ok(ContainerChange {
        index,
        name: container.name.clone(),
        old_image: container.image.clone(),
        new_image: image.to_owned(),
        old_release: container.release().map(str::to_owned),
        environment,
    })
}

/// Whether the change changes nothing: the same image and release already run.
pub fn is_noop(change: &ContainerChange, release: &str) -> bool {
    change.old_image == change.new_image && change.old_release.as_deref() == Some(release)
}

/// The change as a readable diff of the container definition.
pub fn diff(change: &ContainerChange) -> String {
    let mut text = format!("container `{}`:\n", change.name);
    if change.old_image == change.new_image {
        text.push_str(&format!("  image: {}\n", change.old_image));
    } else {
        text.push_str(&format!(
            "- image: {}\n+ image: {}\n",
            change.old_image, change.new_image
        ));
    }
    let new_release = change
        .environment
        .iter()
        .find(|(name, _)| name == RELEASE_VARIABLE)
        .map_or("", |(_, value)| value.as_str());
    match &change.old_release {
        Some(old) if old == new_release => {
            text.push_str(&format!("  environment {RELEASE_VARIABLE}={old}\n"));
        }
        Some(old) => text.push_str(&format!(
            "- environment {RELEASE_VARIABLE}={old}\n+ environment {RELEASE_VARIABLE}={new_release}\n"
        )),
        None => text.push_str(&format!(
            "+ environment {RELEASE_VARIABLE}={new_release}\n"
        )),
    }
    text
}

/// One ECS deployment of a service, as observed.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Deployment {
    pub id: String,
    /// `PRIMARY`, `ACTIVE` or `INACTIVE`.
    pub status: String,
    pub task_definition: String,
    /// `IN_PROGRESS`, `COMPLETED` or `FAILED` (absent on old services).
    pub rollout_state: Option<String>,
    pub rollout_reason: Option<String>,
    pub desired: i64,
    pub running: i64,
    pub failed_tasks: i64,
}

/// A service as observed at one moment.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ServiceState {
    pub task_definition: String,
    pub deployments: Vec<Deployment>,
}

/// Where a rollout stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rollout {
    /// Still going; what is happening.
    InProgress(String),
    /// Ours is the only deployment, completed, running = desired.
    Succeeded,
    /// ECS marked our deployment failed.
    Failed(String),
    /// ECS went back to another revision by itself (e.g. its circuit breaker): the service may
    /// well be "stable", but not on ours.
    RolledBackByEcs(String),
    /// Our deployment is gone from the service's list.
    Disappeared(String),
    /// AWS kept failing until the deadline: where the rollout stands cannot be known.
    Unknown(String),
}

impl Rollout {
    pub fn is_done(&self) -> bool {
        !matches!(self, Rollout::InProgress(_))
    }

    /// Why the rollout failed, when it did.
    pub fn failure(&self) -> Option<String> {
        match self {
            Rollout::InProgress(_) | Rollout::Succeeded => None,
            Rollout::Failed(reason) => Some(format!("the deployment failed: {reason}")),
            Rollout::RolledBackByEcs(reason) => {
                Some(format!("ECS rolled the deployment back: {reason}"))
            }
            Rollout::Disappeared(reason) => Some(format!("the deployment disappeared: {reason}")),
            Rollout::Unknown(reason) => Some(format!("its outcome cannot be known: {reason}")),
        }
    }
}

/// Where the rollout of task definition `ours` stands in `state`. Success is never "the service
/// is stable": it is our revision PRIMARY, COMPLETED, running = desired, alone.
pub fn classify(ours: &str, state: &ServiceState) -> Rollout {
    let primary = state.deployments.iter().find(|d| d.status == "PRIMARY");
    let mine = state.deployments.iter().find(|d| d.task_definition == ours);
    match (primary, mine) {
        (_, None) if state.deployments.is_empty() => {
            Rollout::Disappeared("the service lists no deployment at all".to_owned())
        }
        (Some(primary), None) => Rollout::RolledBackByEcs(format!(
            "the service runs {} and ours is gone",
            short_arn(&primary.task_definition)
        )),
        (None, None) => Rollout::Disappeared("no deployment runs our revision".to_owned()),
        (Some(primary), Some(mine)) if primary.task_definition != ours => {
            let reason = mine.rollout_reason.clone().unwrap_or_else(|| {
                format!(
                    "the primary deployment runs {}",
                    short_arn(&primary.task_definition)
                )
            });
            Rollout::RolledBackByEcs(reason)
        }
        (_, Some(mine)) => {
            if mine.rollout_state.as_deref() == Some("FAILED") {
                return Rollout::Failed(
                    mine.rollout_reason
                        .clone()
                        .unwrap_or_else(|| "ECS marked it FAILED".to_owned()),
                );
            }
            let alone = state.deployments.len() == 1;
            let completed = mine
                .rollout_state
                .as_deref()
                .is_none_or(|s| s == "COMPLETED");
            if mine.status == "PRIMARY" && completed && alone && mine.running == mine.desired {
                Rollout::Succeeded
            } else {
                Rollout::InProgress(format!(
                    "{} running of {} desired, {} deployment(s), rollout {}",
                    mine.running,
                    mine.desired,
                    state.deployments.len(),
                    mine.rollout_state.as_deref().unwrap_or("unknown")
                ))
            }
        }
    }
}

/// `family:revision` of a task-definition ARN.
pub fn short_arn(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// A production task's figures in the release deployed.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskScore {
    pub task: String,
    pub version: String,
    pub score: Option<f64>,
    pub threshold: Option<f64>,
    pub passed: Option<bool>,
    pub tolerance: f64,
}

/// Each task's latest eval must pass its threshold and must not be worse than the score
/// recorded at the previous deploy of the service by more than the task's tolerance.
pub fn judge_scores(current: &[TaskScore], previous: &BTreeMap<String, f64>) -> Vec<ScoreCheck> {
    current
        .iter()
        .map(|task| {
            let verdict = |ok: bool, reason: String| ScoreCheck {
                task: task.task.clone(),
                ok,
                reason,
            };
            let Some(score) = task.score else {
                return verdict(false, format!("{} {} has no recorded eval", task.task, task.version));
            };
            if task.passed == Some(false) {
                return verdict(
                    false,
                    format!(
                        "{} {} scored {score:.3}, below its threshold {}",
                        task.task,
                        task.version,
                        task.threshold.map_or("?".to_owned(), |t| format!("{t:.3}"))
                    ),
                );
            }
            match previous.get(&task.task) {
                Some(before) if !crate::domain::eval::stats::reaches(score, before - task.tolerance) => verdict(
                    false,
                    format!(
                        "{} {} scored {score:.3}, {:.3} below the {before:.3} of the release deployed before (tolerance {:.3})",
                        task.task,
                        task.version,
                        before - score,
                        task.tolerance
                    ),
                ),
                Some(before) => verdict(
                    true,
                    format!("{} {} scored {score:.3} (before: {before:.3})", task.task, task.version),
                ),
                None => verdict(true, format!("{} {} scored {score:.3}", task.task, task.version)),
            }
        })
        .collect()
}

/// The `deploy` events of one service, with their task and record, in no particular order.
fn deploys<'a>(
    registry: &'a Registry,
    cluster: &'a str,
    service: &'a str,
) -> impl Iterator<Item = (&'a str, &'a HistoryEvent, &'a DeploymentRecord)> + 'a {
    registry.tasks.iter().flat_map(move |(task, entry)| {
        entry.history.iter().filter_map(move |event| {
            let record = event.deployment.as_ref()?;
            (event.event == EventKind::Deploy
                && record.cluster == cluster
                && record.service == service)
                .then_some((task.as_str(), event, record))
        })
    })
}

/// The scores recorded at the service's newest successful deploy, by task (the events of one
/// deploy share its plan id).
pub fn previous_scores(registry: &Registry, cluster: &str, service: &str) -> BTreeMap<String, f64> {
    let Some(newest) = deploys(registry, cluster, service).max_by_key(|(_, event, _)| &event.at)
    else {
        return BTreeMap::new();
    };
    let plan = &newest.1.plan;
    deploys(registry, cluster, service)
        .filter(|(_, event, _)| &event.plan == plan)
        .filter_map(|(task, _, record)| Some((task.to_owned(), record.score?)))
        .collect()
}

/// The revision that ran before `current`, as the newest deploy that put `current` in place
/// recorded it (the target of a rollback by hand).
pub fn recorded_previous(
    registry: &Registry,
    cluster: &str,
    service: &str,
    current: &str,
) -> Option<String> {
    deploys(registry, cluster, service)
        .filter(|(_, _, record)| record.task_definition == current)
        .max_by_key(|(_, event, _)| &event.at)
        .and_then(|(_, _, record)| record.previous_task_definition.clone())
}

/// The prompt versions each release deployed to the service carried, by release id: what
/// `deploy status` shows beside a running release.
pub fn release_versions(
    registry: &Registry,
    cluster: &str,
    service: &str,
) -> BTreeMap<String, Vec<(String, String)>> {
    let mut versions: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for (task, event, record) in deploys(registry, cluster, service) {
        let list = versions.entry(record.release_id.clone()).or_default();
        if !list.iter().any(|(known, _)| known == task) {
            list.push((task.to_owned(), event.version.clone()));
        }
    }
    versions
}

/// The auto-tag: `deploy/<service>/<n>`, one more than the highest such tag.
pub fn next_deploy_tag(service: &str, existing: &[String]) -> String {
    let prefix = format!("deploy/{service}/");
    let highest = existing
        .iter()
        .filter_map(|tag| tag.strip_prefix(&prefix))
        .filter_map(|n| n.parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    format!("{prefix}{}", highest + 1)
}

/// Whether an image tag written as `release-<id>` names this release: the id after the prefix
/// is at least the 12 hex digits `promptops image` writes (up to the full 64) and they are the
/// release's own. An empty id, or a one-character prefix that any release shares one time in
/// sixteen, names no release. Other tags say nothing about the release and are not judged here.
pub fn check_release_tag(tag: &str, release: &str) -> Result<(), String> {
    let Some(id) = tag.strip_prefix("release-") else {
        return Ok(());
    };
    let well_formed = (12..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !well_formed {
        return Err(format!(
            "`{tag}` does not name a release: after `release-` come 12 to 64 hex digits of a release id"
        ));
    }
    if release.starts_with(id) {
        Ok(())
    } else {
        Err(format!(
            "`{tag}` is release {id}, but this repository's release is {}",
            release.get(..id.len()).unwrap_or(release)
        ))
    }
}

/// The commit message of a deploy's record: `KIND SERVICE: SUBJECT`, the body, then the
/// trailers (where, which release, what was decided).
pub fn commit_message(
    kind: EventKind,
    (cluster, service): (&str, &str),
    release: Option<&str>,
    subject: &str,
    body: &str,
) -> String {
    let target = format!("{cluster}/{service}");
    let mut lines = vec![(Trailer::Deploy, target.as_str())];
    if let Some(release) = release {
        lines.push((Trailer::Release, release));
    }
    lines.push((Trailer::Decision, kind.as_str()));
    format!(
        "{kind} {service}: {subject}\n\n{body}\n\n{}",
        trailers::block(&lines)
    )
}

#[cfg(test)]
mod tests {

    /// Regression: `REPO:release-` (an empty id) and a one-character prefix were taken as this
    /// release.
    #[test]
    fn a_release_tag_must_carry_at_least_twelve_digits_of_this_release() {
        let release = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        for (tag, ok) in [
            ("release-0123456789ab", true),
            (&format!("release-{release}")[..], true),
            ("release-", false),
            ("release-0", false),
            ("release-0123456789a", false),
            ("release-0123456789AB", false),
            ("release-0123456789ac", false),
            ("v1", true),
        ] {
            assert_eq!(check_release_tag(tag, release).is_ok(), ok, "{tag}");
        }
    }
    use super::*;

    fn deployment(status: &str, td: &str, state: &str, running: i64) -> Deployment {
        Deployment {
            id: format!("ecs-svc/{td}"),
            status: status.into(),
            task_definition: td.into(),
            rollout_state: Some(state.into()),
            rollout_reason: None,
            desired: 2,
            running,
            failed_tasks: 0,
        }
    }

    const OURS: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/prompts:8";
    const OLD: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/prompts:7";

    #[test]
    fn success_is_ours_alone_completed_and_running_as_desired() {
        let rolling = ServiceState {
            task_definition: OURS.into(),
            deployments: vec![
                deployment("PRIMARY", OURS, "IN_PROGRESS", 1),
                deployment("ACTIVE", OLD, "COMPLETED", 2),
            ],
        };
        assert!(matches!(classify(OURS, &rolling), Rollout::InProgress(_)));
        let draining = ServiceState {
            task_definition: OURS.into(),
            deployments: vec![
                deployment("PRIMARY", OURS, "COMPLETED", 2),
                deployment("ACTIVE", OLD, "COMPLETED", 1),
            ],
        };
        assert!(matches!(classify(OURS, &draining), Rollout::InProgress(_)));
        let done = ServiceState {
            task_definition: OURS.into(),
            deployments: vec![deployment("PRIMARY", OURS, "COMPLETED", 2)],
        };
        assert_eq!(classify(OURS, &done), Rollout::Succeeded);
    }

    // ecspresso #732: the circuit breaker rolled back and the service is "stable" on the old
    // revision. That is never a success.
    #[test]
    fn a_rollback_by_ecs_that_ends_stable_is_a_failure() {
        let stable_on_old = ServiceState {
            task_definition: OLD.into(),
            deployments: vec![deployment("PRIMARY", OLD, "COMPLETED", 2)],
        };
        assert!(matches!(
            classify(OURS, &stable_on_old),
            Rollout::RolledBackByEcs(_)
        ));
        let mut ours = deployment("ACTIVE", OURS, "FAILED", 0);
        ours.rollout_reason = Some("circuit breaker: rolled back".into());
        let rolling_back = ServiceState {
            task_definition: OLD.into(),
            deployments: vec![deployment("PRIMARY", OLD, "IN_PROGRESS", 1), ours],
        };
        assert_eq!(
            classify(OURS, &rolling_back),
            Rollout::RolledBackByEcs("circuit breaker: rolled back".into())
        );
    }

    #[test]
    fn a_failed_an_emptied_and_a_replaced_deployment_are_failures() {
        let mut failed = deployment("PRIMARY", OURS, "FAILED", 0);
        failed.rollout_reason = Some("tasks failed to start".into());
        let state = ServiceState {
            task_definition: OURS.into(),
            deployments: vec![failed, deployment("ACTIVE", OLD, "COMPLETED", 2)],
        };
        assert_eq!(
            classify(OURS, &state),
            Rollout::Failed("tasks failed to start".into())
        );
        let emptied = ServiceState {
            task_definition: OURS.into(),
            deployments: vec![],
        };
        assert!(matches!(classify(OURS, &emptied), Rollout::Disappeared(_)));
        // Someone else deployed revision 9 on top of ours.
        let other = "arn:aws:ecs:us-east-1:123456789012:task-definition/prompts:9";
        let replaced = ServiceState {
            task_definition: other.into(),
            deployments: vec![
                deployment("PRIMARY", other, "IN_PROGRESS", 0),
                deployment("ACTIVE", OURS, "COMPLETED", 2),
            ],
        };
        assert!(classify(OURS, &replaced).failure().is_some());
    }

    #[test]
    fn the_change_sets_image_and_release_and_nothing_else() {
        let containers = vec![
            ContainerView {
                name: "app".into(),
                image: "repo:old".into(),
                environment: vec![
                    ("A".into(), "1".into()),
                    (RELEASE_VARIABLE.into(), "r0".into()),
                ],
            },
            ContainerView {
                name: "sidecar".into(),
                image: "envoy".into(),
                environment: vec![],
            },
        ];
        assert!(matches!(
            change_container(&containers, None, "repo@sha256:1", "r1"),
            Err(DeployError::WhichContainer { count: 2, .. })
        ));
        let change = change_container(&containers, Some("app"), "repo@sha256:1", "r1").unwrap();
        assert_eq!(
            change.environment,
            [
                ("A".to_owned(), "1".to_owned()),
                (RELEASE_VARIABLE.to_owned(), "r1".to_owned())
            ]
        );
        assert!(!is_noop(&change, "r1"));
        assert!(diff(&change).contains("- image: repo:old\n+ image: repo@sha256:1"));
        let same = change_container(&containers, Some("app"), "repo:old", "r0").unwrap();
        assert!(is_noop(&same, "r0"));
        assert!(change_container(&containers, Some("nope"), "x", "r").is_err());
    }

    #[test]
    fn scores_must_pass_and_not_fall_beyond_tolerance() {
        let task = |score: f64, passed: bool| TaskScore {
            task: "t".into(),
            version: "1.0.0".into(),
            score: Some(score),
            threshold: Some(0.8),
            passed: Some(passed),
            tolerance: 0.02,
        };
        let before: BTreeMap<String, f64> = [("t".to_owned(), 0.95)].into();
        assert!(judge_scores(&[task(0.94, true)], &before)[0].ok);
        assert!(!judge_scores(&[task(0.90, true)], &before)[0].ok);
        assert!(!judge_scores(&[task(0.70, false)], &BTreeMap::new())[0].ok);
        assert!(judge_scores(&[task(0.85, true)], &BTreeMap::new())[0].ok);
    }

    #[test]
    fn release_versions_are_those_deployed_to_this_service() {
        use crate::domain::model::RegistryTask;
        let deployed = |service: &str, release: &str, version: &str| HistoryEvent {
            deployment: Some(DeploymentRecord {
                cluster: "prod".into(),
                service: service.into(),
                release_id: release.into(),
                ..DeploymentRecord::default()
            }),
            ..HistoryEvent::new(
                EventKind::Deploy,
                version.into(),
                String::new(),
                String::new(),
            )
        };
        let mut registry = Registry::default();
        registry.tasks.insert(
            "a".into(),
            RegistryTask {
                history: vec![
                    deployed("prompts", "r1", "1.0.0"),
                    deployed("prompts", "r2", "1.1.0"),
                    deployed("other", "r3", "1.2.0"),
                ],
                ..RegistryTask::default()
            },
        );
        registry.tasks.insert(
            "b".into(),
            RegistryTask {
                history: vec![deployed("prompts", "r2", "2.0.0")],
                ..RegistryTask::default()
            },
        );
        let versions = release_versions(&registry, "prod", "prompts");
        assert_eq!(versions.keys().collect::<Vec<_>>(), ["r1", "r2"]);
        assert_eq!(
            versions["r2"],
            [
                ("a".to_owned(), "1.1.0".to_owned()),
                ("b".to_owned(), "2.0.0".to_owned())
            ]
        );
    }

    #[test]
    fn deploy_tags_count_up_per_service() {
        let tags = vec![
            "deploy/web/1".to_owned(),
            "deploy/web/12".to_owned(),
            "deploy/api/40".to_owned(),
            "deploy/web/x".to_owned(),
        ];
        assert_eq!(next_deploy_tag("web", &tags), "deploy/web/13");
        assert_eq!(next_deploy_tag("new", &tags), "deploy/new/1");
    }
}
