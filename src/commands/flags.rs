//! Reading the flags several verbs share: durations (one parser for every duration flag) and
//! the table-or-JSON format.

use std::time::Duration;

use crate::exit::{ExitStatus, UserError};

/// The table format a command's `--format` asks for.
pub fn table_format(format: crate::cli::TableFormat) -> crate::report::TableFormat {
    match format {
        crate::cli::TableFormat::Table => crate::report::TableFormat::Table,
        crate::cli::TableFormat::Json => crate::report::TableFormat::Json,
    }
}

/// A duration flag that must be more than zero (a timeout, a poll interval).
pub fn duration(text: &str, flag: &str) -> anyhow::Result<Duration> {
    match crate::domain::time::parse_duration(text) {
        Ok(duration) if !duration.is_zero() => Ok(duration),
        _ => Err(refused(text, flag)),
    }
}

/// A duration flag that may be zero: how long to wait for something (zero: try once).
pub fn wait(text: &str, flag: &str) -> anyhow::Result<Duration> {
    crate::domain::time::parse_duration(text).map_err(|_| refused(text, flag))
}

fn refused(text: &str, flag: &str) -> anyhow::Error {
    UserError::new(
        ExitStatus::Error,
        format!("--{flag} {} is not a duration", text.trim()),
    )
    .hint("write seconds, or 500ms, 30s, 10m, 1h (at most a day)")
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units() {
        assert_eq!(duration("10m", "t").unwrap(), Duration::from_mins(10));
        assert_eq!(duration("500ms", "t").unwrap(), Duration::from_millis(500));
        assert_eq!(duration("30", "t").unwrap(), Duration::from_secs(30));
        assert!(duration("-1", "t").is_err());
        assert!(duration("10x", "t").is_err());
    }

    #[test]
    fn a_wait_may_be_zero_and_a_timeout_may_not() {
        assert_eq!(wait("0", "lock-timeout").unwrap(), Duration::ZERO);
        assert!(duration("0", "timeout").is_err());
        assert!(duration("0s", "timeout").is_err());
    }
}
