//! `promote`: every gate with its evidence, then what was (or would be) done.

use std::io::Write;

use crate::domain::lifecycle::gate::GateOutcome;
use crate::domain::outcome::{ChangeOutcome, ChangeResult, PromoteOutcome, RegressionOutcome};
use crate::domain::plan::Plan;

use super::{Printer, TableFormat};

pub fn render(
    outcome: &PromoteOutcome,
    format: TableFormat,
    printer: &mut Printer<'_>,
) -> std::io::Result<()> {
    if let Some(eval) = &outcome.eval {
        // The eval's table and messages go to stderr: stdout carries the promotion alone.
        let mut sink = std::io::sink();
        let mut eval_printer = Printer {
            out: &mut *printer.err,
            err: &mut sink,
            color: printer.color,
        };
        super::eval::render(eval, TableFormat::Table, &mut eval_printer)?;
        for task in &eval.tasks {
            super::eval::messages(task, printer.err)?;
        }
        for note in &eval.notes {
            writeln!(printer.err, "{note}")?;
        }
    }
    if format == TableFormat::Json {
        return super::json(printer, &outcome);
    }
    let out = &mut printer.out;
    writeln!(
        out,
        "promote {} {} -> {}",
        outcome.task,
        outcome.from.as_deref().unwrap_or("(no production yet)"),
        outcome.to
    )?;
    for gate in &outcome.gates {
        let mark = match gate.outcome {
            GateOutcome::Pass => "✓",
            GateOutcome::Fail => "✗",
            GateOutcome::NotApplicable => "-",
        };
        writeln!(out, "  {mark} {:<10} {}", gate.gate.as_str(), gate.evidence)?;
        if gate.outcome == GateOutcome::Fail
            && let Some(hint) = &gate.hint
        {
            writeln!(out, "    hint: {hint}")?;
        }
    }
    if let Some(plan) = &outcome.plan {
        plan_text(out, plan, matches!(outcome.result, ChangeResult::DryRun))?;
    }
    match &outcome.result {
        ChangeResult::Refused => super::error(
            printer.err,
            &format!(
                "{} {} was not promoted: a gate failed",
                outcome.task, outcome.to
            ),
            Some("fix what the failed gates say, or override them with --force --reason \"why\""),
        ),
        ChangeResult::DryRun => writeln!(printer.err, "dry run: nothing was changed"),
        ChangeResult::Applied {
            commit: Some(commit),
            tag,
        } => writeln!(
            printer.err,
            "promoted {} {}: commit {} tag {}",
            outcome.task,
            outcome.to,
            &commit[..commit.len().min(12)],
            tag.as_deref().unwrap_or("-")
        ),
        ChangeResult::Applied { commit: None, .. } => writeln!(
            printer.err,
            "promoted {} {}: the change is staged, not committed (--no-commit)",
            outcome.task, outcome.to
        ),
    }
}

/// The plan's changes and its commit message.
fn plan_text(out: &mut dyn Write, plan: &Plan, dry_run: bool) -> std::io::Result<()> {
    let verb = if dry_run { "would change" } else { "changed" };
    writeln!(out, "plan {} {verb}:", &plan.id[..12])?;
    for write in &plan.writes {
        writeln!(out, "  write  {}", write.path)?;
    }
    for removal in &plan.removals {
        writeln!(out, "  remove {}", removal.path)?;
    }
    writeln!(out, "  write  {} (last)", plan.registry.path)?;
    if let Some(tag) = &plan.tag {
        writeln!(out, "  tag    {tag}")?;
    }
    writeln!(out, "commit message:")?;
    for line in plan.commit_message.lines() {
        writeln!(out, "  | {line}")?;
    }
    Ok(())
}

/// `archive`: the plan, then what was done.
pub fn render_archive(
    outcome: &ChangeOutcome,
    format: TableFormat,
    printer: &mut Printer<'_>,
) -> std::io::Result<()> {
    if format == TableFormat::Json {
        return super::json(printer, &outcome);
    }
    writeln!(
        printer.out,
        "{} {} ({})",
        outcome.task, outcome.version, outcome.which
    )?;
    if let Some(plan) = &outcome.plan {
        plan_text(
            printer.out,
            plan,
            matches!(outcome.result, ChangeResult::DryRun),
        )?;
    }
    // `which` is `production` or `candidate` for an archive, `rollback from X` for a rollback.
    let done = match outcome.which.strip_prefix("rollback from ") {
        Some(from) => format!(
            "rolled back {} from {from} to {}",
            outcome.task, outcome.version
        ),
        None => format!(
            "archived {} {} ({})",
            outcome.task, outcome.version, outcome.which
        ),
    };
    match &outcome.result {
        ChangeResult::DryRun => writeln!(printer.err, "dry run: nothing was changed"),
        ChangeResult::Applied {
            commit: Some(commit),
            ..
        } => writeln!(
            printer.err,
            "{done}: commit {}",
            &commit[..commit.len().min(12)]
        ),
        _ => writeln!(
            printer.err,
            "{done}: the change is staged, not committed (--no-commit)"
        ),
    }
}

/// `rollback --on-regression`: every task's decision with its evidence, then the rollbacks.
pub fn render_regression(
    outcome: &RegressionOutcome,
    format: TableFormat,
    printer: &mut Printer<'_>,
) -> std::io::Result<()> {
    if format == TableFormat::Json {
        return super::json(printer, &outcome);
    }
    for decision in &outcome.decisions {
        writeln!(
            printer.out,
            "{} {}: {}\n  -> {}",
            if decision.regressed { "✗" } else { "✓" },
            decision.task,
            decision.evidence,
            decision.action
        )?;
    }
    for rollback in &outcome.rollbacks {
        render_archive(rollback, TableFormat::Table, printer)?;
    }
    Ok(())
}

/// `promote --changed-since`: each promotion in turn, or one JSON list.
pub fn render_many(
    outcomes: &[PromoteOutcome],
    since: &str,
    format: TableFormat,
    printer: &mut Printer<'_>,
) -> std::io::Result<()> {
    if format == TableFormat::Json {
        return super::json(printer, &outcomes);
    }
    if outcomes.is_empty() {
        return writeln!(
            printer.err,
            "no task with a candidate changed since {since}; nothing to promote"
        );
    }
    for outcome in outcomes {
        render(outcome, format, printer)?;
    }
    Ok(())
}
