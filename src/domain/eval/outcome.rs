//! What an eval (or a merge of shard runs) did: per task its summary, its baseline and how it
//! ended. The command returns it; `report::eval` renders it; `exit::status` decides from it.

use super::record::{Gate, RunSummary};
use crate::domain::diagnostic::Shown;

/// A failure that stopped a task's run.
#[derive(Clone, Debug)]
pub struct Fatal {
    pub message: String,
    /// The configuration is wrong (exit 2), rather than the service failing (exit 3).
    pub config: bool,
}

/// One task's run as reported.
#[derive(Clone, Debug)]
pub struct TaskOutcome {
    pub summary: RunSummary,
    pub summary_path: String,
    pub baseline: Option<RunSummary>,
    pub interrupted: bool,
    pub fatal: Option<Fatal>,
    /// Why the run did not reach every selected example, when it did not.
    pub cut_short: Option<String>,
    pub error_lines: Vec<String>,
    /// False when no example got an answer: nothing was written and there is no score.
    pub ran: bool,
}

impl TaskOutcome {
    /// The report of a run that is already on disk (left alone by `--resume`, or merged).
    pub fn finished(
        summary: RunSummary,
        summary_path: String,
        baseline: Option<RunSummary>,
    ) -> TaskOutcome {
        TaskOutcome {
            summary,
            summary_path,
            baseline,
            interrupted: false,
            fatal: None,
            cut_short: None,
            error_lines: Vec::new(),
            ran: true,
        }
    }

    /// The run's gate (see [`RunSummary::gate`]).
    pub fn gate(&self) -> Gate {
        self.summary.gate(self.baseline.as_ref())
    }
}

/// Every task's run, in the order they ran.
#[derive(Clone, Debug, Default)]
pub struct EvalOutcome {
    pub tasks: Vec<TaskOutcome>,
    /// Nothing was sent: the files the eval needs have errors.
    pub blocked: Option<Shown>,
    /// What people should know about how the runs went (a run left alone, shards merged).
    pub notes: Vec<String>,
}

impl EvalOutcome {
    /// The runs that have a score to show (a start that got no answer has none).
    pub fn ran(&self) -> Vec<&TaskOutcome> {
        self.tasks.iter().filter(|task| task.ran).collect()
    }
}
