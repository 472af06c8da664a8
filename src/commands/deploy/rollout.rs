//! A deploy under way: its plan carried out step by step, and a failure rolled back.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::adapters::aws::Aws;
use crate::adapters::git;
use crate::cli::DeployArgs;
use crate::domain::deploy::{self, Rollout};
use crate::domain::deploy_plan::{self, DeployFacts, DeployStep};
use crate::domain::model::{DeploymentRecord, EventKind};
use crate::domain::outcome::{DeployOutcome, DeployResult};
use crate::domain::source::InputFile;
use crate::settings::Settings;

use super::record::{Recording, record_event, record_failure};
use super::verify::verify_served;
use super::{Resolved, Target, usage};

/// Where the wait ended.
pub(super) async fn wait_for(
    aws: &Aws,
    (cluster, service): (&str, &str),
    ours: &str,
    (timeout, poll): (Duration, Duration),
    err: &mut dyn Write,
) -> anyhow::Result<Rollout> {
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    let mut failures: u32 = 0;
    loop {
        // A few seconds of AWS errors do not end the wait: they are retried with backoff
        // until the deadline, and only then is the outcome unknown (never a guess).
        let state = match aws.service(cluster, service).await {
            Ok(state) => {
                failures = 0;
                state
            }
            Err(error) if error.transient => {
                failures += 1;
                let backoff = (poll * 2u32.pow(failures.min(5))).min(Duration::from_secs(30));
                if Instant::now() + backoff > deadline {
                    return Ok(Rollout::Unknown(format!(
                        "AWS kept failing until the deadline ({error})"
                    )));
                }
                let _ = writeln!(
                    err,
                    "  {error}; trying again in {:.1} s",
                    backoff.as_secs_f64()
                );
                tokio::time::sleep(backoff).await;
                continue;
            }
            Err(error) => return Err(error.into()),
        };
        let rollout = deploy::classify(ours, &state);
        if rollout.is_done() {
            return Ok(rollout);
        }
        if let Rollout::InProgress(what) = &rollout
            && *what != last
        {
            let _ = writeln!(err, "  waiting for {}: {what}", deploy::short_arn(ours));
            last.clone_from(what);
        }
        if Instant::now() + poll > deadline {
            return Ok(Rollout::Failed(format!(
                "timed out after {} s waiting for {}",
                timeout.as_secs_f64(),
                deploy::short_arn(ours)
            )));
        }
        tokio::time::sleep(poll).await;
    }
}

/// What a deploy that changes the service works from.
pub(super) struct Prepared {
    pinned: String,
    previous: String,
    current: crate::adapters::aws::CurrentTaskDefinition,
    change: deploy::ContainerChange,
}

/// A deploy under way: what it needs, and the outcome it fills in.
pub(super) struct Deploying<'a> {
    pub(super) aws: &'a Aws,
    pub(super) settings: &'a Settings,
    pub(super) args: &'a DeployArgs,
    pub(super) root: &'a std::path::Path,
    pub(super) inputs: &'a [InputFile],
    pub(super) resolved: &'a Resolved,
    pub(super) outcome: &'a mut DeployOutcome,
    pub(super) err: &'a mut dyn Write,
}

impl<'a> Deploying<'a> {
    // Long on purpose: the plan's steps carried out in order, one arm per `DeployStep`, so what
    // runs reads like what the dry run printed.
    pub(super) async fn run(&mut self) -> anyhow::Result<()> {
        let Some(Prepared {
            pinned,
            previous,
            current,
            change,
        }) = self.prepare().await?
        else {
            return Ok(());
        };
        let Resolved {
            target:
                Target {
                    cluster,
                    service,
                    timeout,
                    poll,
                },
            release,
            ..
        } = self.resolved;
        let aws = self.aws;
        let plan = deploy_plan::plan(DeployFacts {
            cluster,
            service,
            family: current.family(),
            previous: &previous,
            release,
            poll: *poll,
            timeout: *timeout,
            verify_url: self.resolved.verify_url.as_deref(),
            next_tag: self.next_tag()?,
            no_wait: self.args.no_wait,
        });
        if self.args.dry_run {
            self.outcome.calls = plan.describe();
            self.outcome.result = DeployResult::DryRun;
            self.outcome.ok = true;
            return Ok(());
        }
        let record = DeploymentRecord {
            cluster: cluster.clone(),
            service: service.clone(),
            image: pinned.clone(),
            task_definition: String::new(),
            previous_task_definition: Some(previous.clone()),
            release_id: release.to_string(),
            score: None,
            run_url: self.settings.github_run_url(),
        };
        let mut registered = String::new();
        let mut failure = None;
        // The verification's deadline counts from the start of the wait.
        let mut started = Instant::now();
        for step in &plan.steps {
            match step {
                DeployStep::Register { .. } => {
                    registered = aws.register(&current, &change).await?;
                    self.outcome.task_definition = Some(registered.clone());
                    let _ = writeln!(
                        self.err,
                        "registered {}; updating service {service}",
                        deploy::short_arn(&registered)
                    );
                }
                DeployStep::Update { cluster, service } => {
                    aws.update_service(cluster, service, &registered).await?;
                }
                DeployStep::Wait { poll, timeout } => {
                    started = Instant::now();
                    let rollout = wait_for(
                        aws,
                        (cluster, service),
                        &registered,
                        (*timeout, *poll),
                        self.err,
                    )
                    .await?;
                    if let Rollout::Unknown(why) = &rollout {
                        let record = DeploymentRecord {
                            task_definition: registered.clone(),
                            ..record
                        };
                        return self.unknown(record, &previous, why).await;
                    }
                    failure = rollout.failure();
                }
                // Once a step failed, the checks and the record after it are not taken.
                _ if failure.is_some() => {}
                DeployStep::Verify { url: None, .. } => {}
                DeployStep::Verify {
                    url: Some(url),
                    release,
                } => {
                    let _ = writeln!(self.err, "verifying {url}/v1/release");
                    let deadline = (started + *timeout).max(Instant::now() + *poll * 3);
                    if let Err(reason) = verify_served(url, release, deadline, *poll).await {
                        failure = Some(format!("verification failed: {reason}"));
                    }
                }
                DeployStep::CheckScores => failure = self.check_scores(),
                DeployStep::Record { .. } => {
                    let record = DeploymentRecord {
                        task_definition: registered.clone(),
                        ..record.clone()
                    };
                    return self.succeeded(record);
                }
            }
        }
        if let (Some(reason), Some(back_to)) = (failure, &plan.on_failure) {
            let record = DeploymentRecord {
                task_definition: back_to.clone(),
                previous_task_definition: Some(registered.clone()),
                ..record
            };
            return self.roll_back(record, &registered, reason).await;
        }
        // `--no-wait`: the service was updated; nothing else is known or claimed.
        self.outcome.result = DeployResult::Started;
        self.outcome.ok = true;
        Ok(())
    }

    /// The image pinned by digest, the revision the service runs, and the change a new
    /// revision makes; `None` when the release already runs with that image (a no-op, said
    /// in the outcome).
    async fn prepare(&mut self) -> anyhow::Result<Option<Prepared>> {
        let Resolved {
            target: Target {
                cluster, service, ..
            },
            release,
            image: (repository, name, id),
            ..
        } = self.resolved;
        let aws = self.aws;
        let digest = aws.image_digest(name, id).await?;
        let pinned = format!("{repository}@{digest}");
        self.outcome.image = Some(pinned.clone());
        let previous = aws.service(cluster, service).await?.task_definition;
        self.outcome.previous_task_definition = Some(previous.clone());
        let current = aws.task_definition(&previous).await?;
        let change = deploy::change_container(
            &current.containers(),
            self.resolved.container.as_deref(),
            &pinned,
            release,
        )
        .map_err(|error| {
            usage(
                error.to_string(),
                "pass --container NAME (or deploy.container in promptops.yaml)",
            )
        })?;
        self.outcome.diff = Some(deploy::diff(&change));
        if deploy::is_noop(&change, release) {
            self.outcome.result = DeployResult::NoOp;
            self.outcome.ok = true;
            self.outcome.task_definition = Some(previous);
            return Ok(None);
        }
        Ok(Some(Prepared {
            pinned,
            previous,
            current,
            change,
        }))
    }

    /// The auto-tag the record would make now: one more than the highest of the service's.
    fn next_tag(&self) -> anyhow::Result<String> {
        let service = &self.resolved.target.service;
        let tags = git::tags_with_prefix(self.root, &format!("deploy/{service}/"))?;
        Ok(deploy::next_deploy_tag(service, &tags))
    }

    /// The score check: each production task's latest eval against the deploy recorded
    /// before; the failure, if one regressed.
    fn check_scores(&mut self) -> Option<String> {
        let Target {
            cluster, service, ..
        } = &self.resolved.target;
        let verdicts = deploy::judge_scores(
            &self.resolved.scores,
            &deploy::previous_scores(&self.resolved.registry, cluster, service),
        );
        let regressed: Vec<&str> = verdicts
            .iter()
            .filter(|v| !v.ok)
            .map(|v| v.reason.as_str())
            .collect();
        let failure = (!regressed.is_empty())
            .then(|| format!("score check failed: {}", regressed.join("; ")));
        self.outcome.scores = verdicts;
        failure
    }

    /// The rollout's outcome cannot be known: nothing is claimed. The previous revision is
    /// asked back (unconfirmed), the attempt is recorded, and the exit status says "unknown".
    async fn unknown(
        &mut self,
        record: DeploymentRecord,
        previous: &str,
        why: &str,
    ) -> anyhow::Result<()> {
        let Target {
            cluster, service, ..
        } = &self.resolved.target;
        let asked_back = match self.aws.update_service(cluster, service, previous).await {
            Ok(()) => format!(
                "{} was asked back (not confirmed)",
                deploy::short_arn(previous)
            ),
            Err(error) => format!(
                "asking {} back failed too ({error})",
                deploy::short_arn(previous)
            ),
        };
        let reason = format!(
            "the rollout of {} cannot be known: {why}; {asked_back}; check the service by hand \
             (`promptops deploy status`)",
            deploy::short_arn(&record.task_definition)
        );
        let _ = writeln!(self.err, "{reason}");
        let release = &self.resolved.release;
        let message = deploy::commit_message(
            EventKind::DeployUnknown,
            (cluster, service),
            Some(release),
            &format!("release {} not verified", release.short()),
            &reason,
        );
        let recording = self.recording(record, EventKind::DeployUnknown, Some(reason), message);
        record_failure(
            self.outcome,
            recording,
            &self.resolved.scores,
            DeployResult::Unknown,
        )
    }

    /// A failed rollout, verification or score check: the service back on the revision
    /// before (`record.task_definition`), waited for, and recorded.
    async fn roll_back(
        &mut self,
        record: DeploymentRecord,
        registered: &str,
        mut reason: String,
    ) -> anyhow::Result<()> {
        let Target {
            cluster,
            service,
            timeout,
            poll,
        } = &self.resolved.target;
        let previous = record.task_definition.clone();
        let _ = writeln!(
            self.err,
            "{reason}; rolling {service} back to {}",
            deploy::short_arn(&previous)
        );
        self.aws.update_service(cluster, service, &previous).await?;
        let back = wait_for(
            self.aws,
            (cluster, service),
            &previous,
            (*timeout, *poll),
            self.err,
        )
        .await?;
        if let Some(also) = back.failure() {
            reason.push_str(&format!("; the rollback did not finish either: {also}"));
        }
        if self.args.deregister_failed {
            self.aws.deregister(registered).await?;
        }
        let release = &self.resolved.release;
        let message = deploy::commit_message(
            EventKind::DeployRollback,
            (cluster, service),
            Some(release),
            &format!(
                "release {} rolled back to {}",
                release.short(),
                deploy::short_arn(&previous)
            ),
            &reason,
        );
        let recording = self.recording(record, EventKind::DeployRollback, Some(reason), message);
        record_failure(
            self.outcome,
            recording,
            &self.resolved.scores,
            DeployResult::RolledBack,
        )
    }

    /// Verified and checked: the deploy recorded, committed and tagged.
    fn succeeded(&mut self, record: DeploymentRecord) -> anyhow::Result<()> {
        let Target {
            cluster, service, ..
        } = &self.resolved.target;
        let versions: Vec<String> = self
            .resolved
            .scores
            .iter()
            .map(|s| format!("{} {}", s.task, s.version))
            .collect();
        let release = &self.resolved.release;
        let message = deploy::commit_message(
            EventKind::Deploy,
            (cluster, service),
            Some(release),
            &format!("release {} ({})", release.short(), versions.join(", ")),
            &format!(
                "Image {}\nTask definition {}",
                record.image, record.task_definition
            ),
        );
        let tag = self.next_tag()?;
        let mut recording = self.recording(record, EventKind::Deploy, None, message);
        recording.tag = Some(tag);
        let (commit, tag) = record_event(recording, &self.resolved.scores)?;
        self.outcome.commit = commit;
        self.outcome.tag = tag;
        self.outcome.result = DeployResult::Succeeded;
        self.outcome.ok = true;
        Ok(())
    }

    fn recording(
        &self,
        record: DeploymentRecord,
        event: EventKind,
        reason: Option<String>,
        message: String,
    ) -> Recording<'a> {
        Recording {
            root: self.root,
            settings: self.settings,
            inputs: self.inputs,
            target: &self.args.target,
            record,
            event,
            reason,
            tag: None,
            message,
        }
    }
}
