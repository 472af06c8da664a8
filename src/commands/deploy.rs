//! `promptops deploy`: the release's image to an ECS service, then wait, verify (the served
//! release and the scores), and record and tag; or roll back to the revision that ran before.
//! `deploy rollback` goes back by hand; `deploy status` shows what runs. Every decision is a
//! function of `domain::deploy`; the AWS calls are `adapters::aws`.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::adapters::aws::Aws;
use crate::adapters::git;
use crate::cli::{
    ChangeFlags, DeployArgs, DeployCommand, DeployRollbackArgs, DeployStatusArgs, DeployTarget,
};
use crate::domain::analysis::{Analysis, RegistryState};
use crate::domain::bundle::ReleaseId;
use crate::domain::deploy::{self, Rollout, TaskScore};
use crate::domain::deploy_plan::{self, DeployFacts, DeployStep};
use crate::domain::image::release_tag;
use crate::domain::model::{DeploymentRecord, EventKind, HistoryEvent, Registry};
use crate::domain::outcome::{
    ChangeResult, DeployAction, DeployOutcome, DeployResult, DeploymentLine,
};
use crate::domain::plan::plan_id;
use crate::domain::source::InputFile;
use crate::domain::time;
use crate::exit::{ExitStatus, UserError};
use crate::report::{self, Printer};
use crate::settings::Settings;

use super::Outcome;
use super::lifecycle;
use super::runtime::block_on;

pub fn run(
    settings: &Settings,
    args: &DeployArgs,
    printer: &mut Printer<'_>,
) -> anyhow::Result<Outcome> {
    let (outcome, format) = match &args.command {
        Some(DeployCommand::Rollback(rollback)) => (
            by_hand(settings, rollback, printer)?,
            rollback.target.format,
        ),
        Some(DeployCommand::Status(status)) => (show(settings, status)?, status.target.format),
        None => (execute(settings, args, printer)?, args.target.format),
    };
    report::deploy::render(&outcome, super::flags::table_format(format), printer)?;
    Ok(Outcome::Deploy(Box::new(outcome)))
}

fn usage(message: String, hint: &str) -> anyhow::Error {
    UserError::new(ExitStatus::Error, message).hint(hint).into()
}

/// Where and how long: the flags, else `promptops.yaml`'s `deploy:`, else the defaults.
struct Target {
    cluster: String,
    service: String,
    timeout: Duration,
    poll: Duration,
}

/// The target from the flags or `promptops.yaml`. A `promptops.yaml` with errors is refused
/// first: its deploy settings would be silently missing.
fn target(target: &DeployTarget, analysis: &Analysis) -> anyhow::Result<Target> {
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
        (Some(text), _) => super::flags::duration(text, "timeout")?,
        (None, Some(seconds)) => Duration::from_secs_f64(seconds),
        (None, None) => Duration::from_mins(10),
    };
    Ok(Target {
        cluster,
        service,
        timeout,
        poll: super::flags::duration(&target.poll_interval, "poll-interval")?,
    })
}

fn registry_of(analysis: &Analysis) -> Registry {
    match &analysis.registry {
        RegistryState::Parsed { registry, .. } => (**registry).clone(),
        _ => analysis.expected_registry.clone(),
    }
}

/// The image reference split with the OCI reference parser: the repository part
/// (`HOST/PATH`), its ECR repository name (`PATH`), and the digest or the written tag. The
/// registry must be named (ECR is never the default registry).
fn split_image(text: &str) -> Option<(String, String, String)> {
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

/// Where the wait ended.
async fn wait_for(
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

/// A release answer is a few hundred bytes; more is not read.
const VERIFY_ANSWER_LIMIT: usize = 64 * 1024;

/// An answer's body as JSON, read no further than `limit` bytes.
async fn bounded_json(
    answer: reqwest::Response,
    limit: usize,
) -> Result<serde_json::Value, String> {
    let body = crate::adapters::http_body::bounded(answer, limit).await?;
    serde_json::from_slice(&body).map_err(|error| error.to_string())
}

/// `GET URL/v1/release` must give `release` three times in a row before the deadline.
async fn verify_served(
    url: &str,
    release: &str,
    deadline: Instant,
    poll: Duration,
) -> Result<(), String> {
    let address = format!("{}/v1/release", url.trim_end_matches('/'));
    let origin = reqwest::Url::parse(&address).map_err(|error| error.to_string())?;
    // A redirect is followed only on the same host and port (a verify endpoint has no reason to
    // send us elsewhere, and one that points at a link-local address such as the instance
    // metadata service must never be reached).
    let (host, port) = (
        origin.host_str().map(str::to_owned),
        origin.port_or_known_default(),
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::custom(move |attempt| {
            let next = attempt.url().clone();
            if attempt.previous().len() < 5
                && next.host_str().map(str::to_owned) == host
                && next.port_or_known_default() == port
            {
                attempt.follow()
            } else {
                attempt.error(format!(
                    "a redirect to another host ({next}) is not followed"
                ))
            }
        }))
        .build()
        .map_err(|error| error.to_string())?;
    let mut in_a_row = 0;
    let mut seen = String::from("no answer");
    loop {
        match client.get(&address).send().await {
            Ok(answer) => match bounded_json(answer, VERIFY_ANSWER_LIMIT).await {
                Ok(value) => {
                    let served = value["release_id"].as_str().unwrap_or("").to_owned();
                    if served == release {
                        in_a_row += 1;
                        if in_a_row >= 3 {
                            return Ok(());
                        }
                    } else {
                        in_a_row = 0;
                        seen = format!("release {}", served.get(..12).unwrap_or(&served));
                    }
                }
                Err(error) => {
                    in_a_row = 0;
                    seen = format!("an answer that is not a release: {error}");
                }
            },
            Err(error) => {
                in_a_row = 0;
                seen = crate::adapters::aws::describe(&error);
            }
        }
        if Instant::now() + poll > deadline {
            return Err(format!(
                "{address} did not serve release {} (last: {seen})",
                crate::domain::bundle::short_release(release)
            ));
        }
        tokio::time::sleep(poll.min(Duration::from_secs(1))).await;
    }
}

/// Each production task of the release with its latest eval, threshold and tolerance.
fn task_scores(analysis: &Analysis, registry: &Registry) -> Vec<TaskScore> {
    registry
        .tasks
        .iter()
        .filter_map(|(task, entry)| {
            let production = entry.production.as_ref()?;
            let tolerance = analysis
                .tasks
                .get(task)
                .and_then(|t| t.metadata.as_ref())
                .and_then(|m| m.parsed.as_ref())
                .map_or(0.0, |m| m.metadata.regression_tolerance);
            Some(TaskScore {
                task: task.clone(),
                version: production.version.clone(),
                score: entry.latest_eval.as_ref().map(|e| e.score),
                threshold: entry.threshold,
                passed: entry.latest_eval.as_ref().map(|e| e.passed),
                tolerance,
            })
        })
        .collect()
}

/// What a record needs to know.
struct Recording<'a> {
    root: &'a std::path::Path,
    settings: &'a Settings,
    inputs: &'a [InputFile],
    target: &'a DeployTarget,
    record: DeploymentRecord,
    event: EventKind,
    reason: Option<String>,
    tag: Option<String>,
    message: String,
}

/// Records the event for every production task (its version and score) in the registry,
/// through the lifecycle's checked plan, journal and commit (and the auto-tag).
fn record_event(
    recording: Recording<'_>,
    scores: &[TaskScore],
) -> anyhow::Result<(Option<String>, Option<String>)> {
    // The first attempt plans from the files the deploy read; when another command changed
    // them meanwhile, each next attempt reads them again (the deploy itself is not repeated).
    let mut fresh: Option<Vec<InputFile>> = None;
    lifecycle::retrying(|| {
        let inputs = match fresh.take() {
            Some(inputs) => inputs,
            None => recording.inputs.to_vec(),
        };
        let result = record_once(&recording, &inputs, scores);
        if matches!(&result, Err(error) if error.downcast_ref::<lifecycle::StalePlan>().is_some()) {
            fresh = Some(super::repository::scan(recording.root, false)?.0);
        }
        result
    })
}

/// A deploy that did not reach its goal: the event recorded, and the outcome says so.
fn record_failure(
    outcome: &mut DeployOutcome,
    recording: Recording<'_>,
    scores: &[TaskScore],
    result: DeployResult,
) -> anyhow::Result<()> {
    let reason = recording.reason.clone();
    let (commit, _) = record_event(recording, scores)?;
    outcome.commit = commit;
    outcome.reason = reason;
    outcome.result = result;
    outcome.ok = false;
    Ok(())
}

fn record_once(
    recording: &Recording<'_>,
    inputs: &[InputFile],
    scores: &[TaskScore],
) -> anyhow::Result<(Option<String>, Option<String>)> {
    let (identity, by) = super::repository::who(recording.root, recording.settings);
    let at = time::rfc3339(recording.settings.clock.now());
    let id_basis = format!(
        "{}{}{at}",
        recording.message, recording.record.task_definition
    );
    let id = plan_id(&[], &[], &id_basis);
    let events: Vec<(String, HistoryEvent)> = scores
        .iter()
        .map(|task| {
            (
                task.task.clone(),
                HistoryEvent {
                    reason: recording.reason.clone(),
                    plan: Some(id.clone()),
                    deployment: Some(DeploymentRecord {
                        score: task.score,
                        ..recording.record.clone()
                    }),
                    ..HistoryEvent::new(
                        recording.event,
                        task.version.clone(),
                        at.clone(),
                        by.clone(),
                    )
                },
            )
        })
        .collect();
    let registry = lifecycle::checked_registry(
        inputs,
        &[],
        &[],
        super::runtime::threads(),
        "recording the deploy",
        |registry| {
            for (task, event) in events {
                if let Some(entry) = registry.tasks.get_mut(&task) {
                    entry.history.push(event);
                }
            }
        },
    )?;
    let flags = ChangeFlags {
        dry_run: false,
        no_commit: recording.target.no_commit,
        // Only the registry changes, and it is rewritten whole.
        allow_dirty: true,
        lock_timeout: recording.target.lock_timeout.clone(),
        format: recording.target.format,
    };
    let (_, result) = lifecycle::finish(
        recording.root,
        recording.settings,
        &flags,
        lifecycle::Change {
            read: inputs,
            evidence: &[],
            writes: Vec::new(),
            removals: Vec::new(),
            registry,
            message: recording.message.clone(),
            id_basis,
            tag: recording.tag.clone(),
            what: format!("{} {}", recording.event, recording.record.service),
            identity,
        },
    )?;
    Ok(match result {
        ChangeResult::Applied { commit, tag } => (commit, tag),
        ChangeResult::DryRun | ChangeResult::Refused => (None, None),
    })
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
        super::repository::root(settings)?
    } else {
        super::repository::root_for_change(settings)?
    };
    let (inputs, analysis) = super::repository::scan(&root, false)?;
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
struct Resolved {
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
fn resolve(
    args: &DeployArgs,
    root: &std::path::Path,
    inputs: &[InputFile],
    analysis: &Analysis,
) -> anyhow::Result<Resolved> {
    let target = target(&args.target, analysis)?;
    // Checked before AWS is asked anything: the record after the rollout needs it.
    super::flags::wait(&args.target.lock_timeout, "lock-timeout")?;
    let config = analysis.config.deploy.clone().unwrap_or_default();
    let release = super::repository::release(root, inputs, analysis)?.release_id;
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

/// What a deploy that changes the service works from.
struct Prepared {
    pinned: String,
    previous: String,
    current: crate::adapters::aws::CurrentTaskDefinition,
    change: deploy::ContainerChange,
}

/// A deploy under way: what it needs, and the outcome it fills in.
struct Deploying<'a> {
    aws: &'a Aws,
    settings: &'a Settings,
    args: &'a DeployArgs,
    root: &'a std::path::Path,
    inputs: &'a [InputFile],
    resolved: &'a Resolved,
    outcome: &'a mut DeployOutcome,
    err: &'a mut dyn Write,
}

impl<'a> Deploying<'a> {
    // Long on purpose: the plan's steps carried out in order, one arm per `DeployStep`, so what
    // runs reads like what the dry run printed.
    async fn run(&mut self) -> anyhow::Result<()> {
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

/// `deploy rollback`: back to the revision that ran before the current one (as the deploy
/// history recorded it, else the previous revision of the family) or `--to-revision N`.
// Long on purpose: deploy rollback's one sequence (find the revision, update, wait, record),
// a shorter sibling of the deploy's plan.
fn by_hand(
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
    let root = super::repository::root_for_change(settings)?;
    let (inputs, analysis) = super::repository::scan(&root, false)?;
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

/// `deploy status`: each deployment, its image and release, and the prompt versions the
/// registry's deploy records give that release.
fn show(settings: &Settings, args: &DeployStatusArgs) -> anyhow::Result<DeployOutcome> {
    let root = super::repository::root(settings)?;
    let (_, analysis) = super::repository::scan(&root, false)?;
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
