//! Exit statuses are part of the interface: scripts and CI branch on them. This is the one
//! place that maps what happened (an outcome, or an error) to a status.

use crate::adapters::aws::AwsError;
use crate::adapters::eval_store::StoreError;
use crate::adapters::fs::FsError;
use crate::adapters::git::GitError;
use crate::adapters::journal::JournalError;
use crate::adapters::oci::OciError;
use crate::domain::eval::outcome::{EvalOutcome, TaskOutcome};
use crate::domain::eval::record::Gate;
use crate::domain::outcome::{ChangeResult, Outcome};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// Everything checked passed.
    Success = 0,
    /// A check or gate said no: the normal "no".
    Failure = 1,
    /// Bad usage or bad input.
    Error = 2,
    /// An external service (LLM API, AWS, git remote) failed.
    External = 3,
    /// A deploy's outcome cannot be known (AWS kept failing while it waited): what is running
    /// must be checked by a person; the attempt is recorded.
    Unknown = 4,
    /// Stopped by SIGINT or SIGTERM; what finished is kept.
    Interrupted = 130,
}

impl ExitStatus {
    /// The more serious of two statuses: interrupted, bad input, external, gate failure,
    /// success.
    #[must_use]
    pub fn worse(self, other: ExitStatus) -> ExitStatus {
        let rank = |status: ExitStatus| match status {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
            ExitStatus::External => 2,
            ExitStatus::Unknown => 3,
            ExitStatus::Error => 4,
            ExitStatus::Interrupted => 5,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(status: ExitStatus) -> Self {
        std::process::ExitCode::from(status as u8)
    }
}

/// An error meant for the user: a message, what to do, and the exit status it maps to.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct UserError {
    pub status: ExitStatus,
    pub message: String,
    pub hint: Option<String>,
}

impl UserError {
    pub fn new(status: ExitStatus, message: impl Into<String>) -> Self {
        UserError {
            status,
            message: message.into(),
            hint: None,
        }
    }

    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// The exit status of a command that finished: a pure function of its outcome.
pub fn status(outcome: &Outcome) -> ExitStatus {
    match outcome {
        Outcome::Validate(validate) => {
            if validate.errors() > 0 {
                ExitStatus::Failure
            } else {
                ExitStatus::Success
            }
        }
        Outcome::Registry(registry) => match registry.passed() {
            None => ExitStatus::Error,
            Some(false) => ExitStatus::Failure,
            Some(true) => ExitStatus::Success,
        },
        Outcome::Status(_)
        | Outcome::Init(_)
        | Outcome::History(_)
        | Outcome::Archive(_)
        | Outcome::Repaired(_)
        | Outcome::Bundle(_)
        | Outcome::Served(_)
        | Outcome::Report(_)
        | Outcome::Image(_)
        | Outcome::Health(Ok(200))
        | Outcome::Generated => ExitStatus::Success,
        Outcome::Eval(eval) => eval_status(eval),
        Outcome::Pipeline(pipeline) => match &pipeline.failed {
            None => ExitStatus::Success,
            Some((_, 2)) => ExitStatus::Error,
            Some((_, 3)) => ExitStatus::External,
            Some((_, 4)) => ExitStatus::Unknown,
            Some((_, 130)) => ExitStatus::Interrupted,
            Some(_) => ExitStatus::Failure,
        },
        Outcome::Deploy(deploy) => {
            if deploy.ok {
                ExitStatus::Success
            } else if deploy.result == crate::domain::outcome::DeployResult::Unknown {
                ExitStatus::Unknown
            } else {
                ExitStatus::Failure
            }
        }
        Outcome::Health(_) => ExitStatus::Failure,
        Outcome::Regression(regression) => {
            if regression
                .decisions
                .iter()
                .any(|decision| decision.regressed)
            {
                ExitStatus::Failure
            } else {
                ExitStatus::Success
            }
        }
        Outcome::Promote(promote) => promote_status(promote),
        Outcome::Promotions(promotions) => promotions
            .iter()
            .map(promote_status)
            .fold(ExitStatus::Success, ExitStatus::worse),
    }
}

/// A refused promotion is the normal "no".
fn promote_status(promote: &crate::domain::outcome::PromoteOutcome) -> ExitStatus {
    match promote.result {
        ChangeResult::Refused => ExitStatus::Failure,
        ChangeResult::DryRun | ChangeResult::Applied { .. } => ExitStatus::Success,
    }
}

/// The worst of the tasks' statuses; a start refused for bad files is an input error.
fn eval_status(outcome: &EvalOutcome) -> ExitStatus {
    if outcome.blocked.is_some() {
        return ExitStatus::Error;
    }
    outcome
        .tasks
        .iter()
        .map(task_status)
        .fold(ExitStatus::Success, ExitStatus::worse)
}

fn task_status(task: &TaskOutcome) -> ExitStatus {
    if task.interrupted {
        ExitStatus::Interrupted
    } else if task.fatal.as_ref().is_some_and(|fatal| fatal.config) || task.cut_short.is_some() {
        ExitStatus::Error
    } else if task.fatal.is_some() {
        ExitStatus::External
    } else {
        gate_status(task.summary.gate(task.baseline.as_ref()))
    }
}

/// The exit status of a run's gate, for `eval` and `eval merge` alike.
fn gate_status(gate: Gate) -> ExitStatus {
    match gate {
        Gate::Pass | Gate::AtMerge => ExitStatus::Success,
        Gate::Fail => ExitStatus::Failure,
        Gate::ProviderFailed => ExitStatus::External,
        Gate::BadInput => ExitStatus::Error,
    }
}

/// The exit status of a command that stopped with an error, and the hint to show with it.
pub fn error_status(error: &anyhow::Error) -> (ExitStatus, Option<&str>) {
    for cause in error.chain() {
        if let Some(user) = cause.downcast_ref::<UserError>() {
            return (user.status, user.hint.as_deref());
        }
        if let Some(fs) = cause.downcast_ref::<FsError>() {
            return (ExitStatus::Error, fs.hint());
        }
        if let Some(store) = cause.downcast_ref::<StoreError>() {
            return (ExitStatus::Error, store.hint());
        }
        if let Some(journal) = cause.downcast_ref::<JournalError>() {
            return (ExitStatus::Error, journal.hint());
        }
        if let Some(aws) = cause.downcast_ref::<AwsError>() {
            return (ExitStatus::External, Some(aws.hint()));
        }
        if let Some(registry) = cause.downcast_ref::<OciError>() {
            return (ExitStatus::External, registry.hint());
        }
        if cause.downcast_ref::<GitError>().is_some() {
            return (ExitStatus::Error, None);
        }
    }
    (ExitStatus::Error, None)
}

/// Whether the error is a closed pipe (`promptops status | head`), which is not an error.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worse_status_wins() {
        use ExitStatus::{Error, External, Failure, Interrupted, Success};
        let order = [Success, Failure, External, Error, Interrupted];
        for (i, a) in order.iter().enumerate() {
            for (j, b) in order.iter().enumerate() {
                assert_eq!(a.worse(*b), order[i.max(j)]);
            }
        }
    }

    #[test]
    fn each_adapter_error_maps_to_its_status_and_hint_here() {
        let aws = anyhow::Error::from(AwsError {
            call: "ecs:DescribeServices",
            message: "denied".to_owned(),
            transient: false,
        })
        .context("deploying");
        let (status, hint) = error_status(&aws);
        assert_eq!(status, ExitStatus::External);
        assert!(hint.unwrap().contains("credentials"));
        let registry = anyhow::Error::from(OciError::Redacted {
            message: "registry.example: 401".to_owned(),
            hint: Some("log in"),
        });
        assert_eq!(
            error_status(&registry),
            (ExitStatus::External, Some("log in"))
        );
        let user = anyhow::Error::from(UserError::new(ExitStatus::Error, "bad").hint("fix it"));
        assert_eq!(error_status(&user), (ExitStatus::Error, Some("fix it")));
    }
}
