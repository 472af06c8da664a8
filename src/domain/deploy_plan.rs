//! A deploy as a list of steps. `deploy --dry-run` prints this value and a deploy carries out
//! this same value, step by step: what a dry run says is what runs, and a new step cannot be
//! added to one without the other.

use std::time::Duration;

use super::deploy::short_arn;

/// One step of a deploy, in the order they are taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeployStep {
    /// `ecs:RegisterTaskDefinition`: a copy of the service's revision `from` (of `family`)
    /// with the container change.
    Register { family: String, from: String },
    /// `ecs:UpdateService` to the revision just registered.
    Update { cluster: String, service: String },
    /// `ecs:DescribeServices` every `poll` until the new deployment alone is COMPLETED, at
    /// most `timeout`.
    Wait { poll: Duration, timeout: Duration },
    /// `GET URL/v1/release` until it serves `release`; without a URL nothing is checked.
    Verify {
        url: Option<String>,
        release: String,
    },
    /// Every production task's latest score against the deploy recorded before.
    CheckScores,
    /// A `deploy` event in the registry, one commit, and the tag `deploy/<service>/<n>` (the
    /// next number when the record is made; `tag` is the next one now).
    Record { tag: String },
}

/// The steps, and where a failure after the update goes back to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeployPlan {
    pub steps: Vec<DeployStep>,
    /// The revision the service ran before: a failed rollout, verification or score check
    /// puts the service back on it and records `deploy-rollback`. `None` with `--no-wait`
    /// (nothing is checked, so nothing is put back).
    pub on_failure: Option<String>,
}

/// What the plan is made from.
#[derive(Clone, Debug)]
pub struct DeployFacts<'a> {
    pub cluster: &'a str,
    pub service: &'a str,
    pub family: &'a str,
    /// The revision the service runs now.
    pub previous: &'a str,
    pub release: &'a str,
    pub poll: Duration,
    pub timeout: Duration,
    pub verify_url: Option<&'a str>,
    /// The auto-tag the record would make now.
    pub next_tag: String,
    /// `--no-wait`: register and update, nothing after.
    pub no_wait: bool,
}

/// The plan of a deploy that changes the service (a release that already runs is a no-op and
/// has no plan).
pub fn plan(facts: DeployFacts<'_>) -> DeployPlan {
    let mut steps = vec![
        DeployStep::Register {
            family: facts.family.to_owned(),
            from: facts.previous.to_owned(),
        },
        DeployStep::Update {
            cluster: facts.cluster.to_owned(),
            service: facts.service.to_owned(),
        },
    ];
    if facts.no_wait {
        return DeployPlan {
            steps,
            on_failure: None,
        };
    }
    steps.extend([
        DeployStep::Wait {
            poll: facts.poll,
            timeout: facts.timeout,
        },
        DeployStep::Verify {
            url: facts
                .verify_url
                .map(|url| url.trim_end_matches('/').to_owned()),
            release: facts.release.to_owned(),
        },
        DeployStep::CheckScores,
        DeployStep::Record {
            tag: facts.next_tag,
        },
    ]);
    DeployPlan {
        steps,
        on_failure: Some(facts.previous.to_owned()),
    }
}

impl DeployStep {
    /// The step in words, as the dry run prints it.
    pub fn describe(&self) -> String {
        match self {
            DeployStep::Register { family, from } => format!(
                "ecs:RegisterTaskDefinition family {family} (a copy of {} with the change above)",
                short_arn(from)
            ),
            DeployStep::Update { cluster, service } => {
                format!("ecs:UpdateService cluster {cluster} service {service} to the new revision")
            }
            DeployStep::Wait { poll, timeout } => format!(
                "ecs:DescribeServices every {} s until the new deployment alone is COMPLETED (at most {} s)",
                poll.as_secs_f64(),
                timeout.as_secs_f64()
            ),
            DeployStep::Verify { url: None, .. } => {
                "no --verify-url: the served release is not checked".to_owned()
            }
            DeployStep::Verify {
                url: Some(url),
                release,
            } => format!(
                "GET {url}/v1/release until it serves release {}",
                super::bundle::short_release(release)
            ),
            DeployStep::CheckScores => {
                "the score check of every production task against the deploy recorded before"
                    .to_owned()
            }
            DeployStep::Record { tag } => {
                format!("record a deploy event in prompt_registry.yaml, commit, tag {tag}")
            }
        }
    }
}

impl DeployPlan {
    /// Every step in words, then what a failure does.
    pub fn describe(&self) -> Vec<String> {
        let mut lines: Vec<String> = self.steps.iter().map(DeployStep::describe).collect();
        if let Some(previous) = &self.on_failure {
            lines.push(format!(
                "on a failure: ecs:UpdateService back to {}, record deploy-rollback",
                short_arn(previous)
            ));
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(no_wait: bool, verify_url: Option<&str>) -> DeployFacts<'_> {
        DeployFacts {
            cluster: "prod",
            service: "api",
            family: "api",
            previous: "arn:aws:ecs:eu-west-1:1:task-definition/api:7",
            release: "0123456789abcdef",
            poll: Duration::from_secs(5),
            timeout: Duration::from_mins(10),
            verify_url,
            next_tag: "deploy/api/3".to_owned(),
            no_wait,
        }
    }

    #[test]
    fn a_deploy_waits_verifies_checks_and_records_and_says_so() {
        let plan = plan(facts(false, Some("https://api.example/")));
        assert_eq!(
            plan.describe(),
            [
                "ecs:RegisterTaskDefinition family api (a copy of api:7 with the change above)",
                "ecs:UpdateService cluster prod service api to the new revision",
                "ecs:DescribeServices every 5 s until the new deployment alone is COMPLETED (at most 600 s)",
                "GET https://api.example/v1/release until it serves release 0123456789ab",
                "the score check of every production task against the deploy recorded before",
                "record a deploy event in prompt_registry.yaml, commit, tag deploy/api/3",
                "on a failure: ecs:UpdateService back to api:7, record deploy-rollback",
            ]
        );
    }

    #[test]
    fn without_a_url_nothing_is_verified_and_without_waiting_nothing_after_the_update() {
        let unverified = plan(facts(false, None));
        assert!(unverified.steps.contains(&DeployStep::Verify {
            url: None,
            release: "0123456789abcdef".into()
        }));
        assert!(
            unverified
                .describe()
                .contains(&"no --verify-url: the served release is not checked".to_owned())
        );
        let started = plan(facts(true, Some("https://api.example")));
        assert_eq!(started.steps.len(), 2);
        assert_eq!(started.on_failure, None);
        assert!(matches!(started.steps[1], DeployStep::Update { .. }));
    }
}
