//! The prompt lifecycle's decisions, as pure functions of values: which eval is evidence for a
//! candidate, and which promotion gates pass (`LIFECYCLE.md` §1).
//!
//! Not yet wired to a command: `promote`, `archive`, `rollback` and `history` (issue
//! "Lifecycle") build on these.

pub mod gate;
pub mod promote;
