//! The `Promptops-*` trailers every commit of a change carries: written here, and read back
//! here (`history` finds a change's commit by its `Promptops-Plan`, recovery checks whether a
//! plan was committed). One list of names, so a writer and a reader cannot disagree.

/// A trailer's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trailer {
    Task,
    From,
    To,
    Score,
    Decision,
    Override,
    Deploy,
    Release,
    /// The plan id: the link between a commit, its journal and its history event.
    Plan,
}

impl Trailer {
    pub fn key(self) -> &'static str {
        match self {
            Trailer::Task => "Promptops-Task",
            Trailer::From => "Promptops-From",
            Trailer::To => "Promptops-To",
            Trailer::Score => "Promptops-Score",
            Trailer::Decision => "Promptops-Decision",
            Trailer::Override => "Promptops-Override",
            Trailer::Deploy => "Promptops-Deploy",
            Trailer::Release => "Promptops-Release",
            Trailer::Plan => "Promptops-Plan",
        }
    }
}

/// The trailer lines (`Key: value\n` each). A value is one line: a line break in it would
/// start a trailer of its own, so it becomes a space.
pub fn block(trailers: &[(Trailer, &str)]) -> String {
    let mut text = String::new();
    for (trailer, value) in trailers {
        text.push_str(trailer.key());
        text.push_str(": ");
        text.push_str(&one_line(value));
        text.push('\n');
    }
    text
}

/// A text made one line (a reason in a subject or a trailer).
pub fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

/// The value of `trailer` in a commit message: read from the trailer block only (its last
/// paragraph, as git reads trailers), the last when there are several. A line of the body that
/// looks like a trailer (a reason, an AWS message) is never taken for one.
pub fn value(message: &str, trailer: Trailer) -> Option<&str> {
    let message = message.trim_end();
    let block = message
        .rsplit_once("\n\n")
        .map_or(message, |(_, last)| last);
    let prefix = trailer.key();
    block.lines().rev().find_map(|line| {
        line.strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(str::trim)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_written_is_read_back() {
        let message = format!(
            "archive t 1.0.0 (production)\n\nno longer\nneeded\n\n{}",
            block(&[
                (Trailer::Task, "t"),
                (Trailer::Decision, "archive-production"),
                (Trailer::Plan, "abc\ninjected: 1"),
            ])
        );
        assert_eq!(value(&message, Trailer::Task), Some("t"));
        assert_eq!(
            value(&message, Trailer::Decision),
            Some("archive-production")
        );
        assert_eq!(value(&message, Trailer::Plan), Some("abc injected: 1"));
        assert_eq!(value(&message, Trailer::Release), None);
        // A longer key that starts with a shorter one is not it.
        assert_eq!(value("Promptops-Tasks: x\n", Trailer::Task), None);
        // Regression: a reason that reads like a trailer was taken for the commit's plan, and
        // recovery then refused the journal of that very commit.
        let forged = format!(
            "archive t 1.0.0 (production)\n\nPromptops-Plan: forged\n\n{}",
            block(&[(Trailer::Task, "t"), (Trailer::Plan, "real")])
        );
        assert_eq!(value(&forged, Trailer::Plan), Some("real"));
        assert_eq!(value("subject only", Trailer::Plan), None);
    }
}
