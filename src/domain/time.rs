//! Calendar formatting of Unix times, without a clock: the caller supplies the time.

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the Unix epoch (UTC).
pub fn rfc3339(seconds: i64) -> String {
    let of_day = seconds.rem_euclid(86_400);
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        date(seconds),
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    )
}

/// `YYYYMMDDTHHMMSSZ`: sorts by time and is safe in a file name.
pub fn compact(seconds: i64) -> String {
    rfc3339(seconds).replace(['-', ':'], "")
}

/// `YYYY-MM-DD` for seconds since the Unix epoch (UTC).
pub fn date(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// Seconds since the Unix epoch of `YYYY-MM-DDTHH:MM:SSZ` (UTC); `None` for anything else.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let shape_ok = bytes.len() == 20
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes[10] == b'T'
        && bytes[13] == b':'
        && bytes[16] == b':'
        && bytes[19] == b'Z';
    if !shape_ok {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    // Howard Hinnant's days-from-civil.
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second;
    // A day that the month does not have (2026-02-30) does not round-trip.
    (date(seconds) == text[..10]).then_some(seconds)
}

/// The one parser of every duration flag: a number of seconds (`30`, `2.5`) or a duration
/// with units (`500ms`, `30s`, `10m`, `1h`, `1h30m`), from zero to a day.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let parsed = match text.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds >= 0.0 => {
            Ok(std::time::Duration::from_secs_f64(seconds))
        }
        Ok(_) => Err("not a duration".to_owned()),
        Err(_) => humantime::parse_duration(text).map_err(|error| error.to_string()),
    }?;
    if parsed > std::time::Duration::from_hours(24) {
        return Err("longer than a day".to_owned());
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_duration_flag_reads_seconds_and_units_alike() {
        let secs = std::time::Duration::from_secs_f64;
        for (text, expected) in [
            ("30", Ok(secs(30.0))),
            ("2.5", Ok(secs(2.5))),
            (" 0 ", Ok(secs(0.0))),
            ("500ms", Ok(secs(0.5))),
            ("30s", Ok(secs(30.0))),
            ("10m", Ok(secs(600.0))),
            ("1h30m", Ok(secs(5400.0))),
            ("24h", Ok(secs(86_400.0))),
        ] {
            assert_eq!(parse_duration(text), expected, "{text}");
        }
        for text in ["", "-1", "NaN", "inf", "5 parsecs", "25h", "1e9"] {
            assert!(parse_duration(text).is_err(), "{text}");
        }
    }

    #[test]
    fn known_dates() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(951_782_400), "2000-02-29");
        assert_eq!(date(1_795_392_000), "2026-11-23");
        assert_eq!(date(1_795_478_399), "2026-11-23");
        assert_eq!(date(-86_400), "1969-12-31");
        assert_eq!(rfc3339(1_795_437_296), "2026-11-23T12:34:56Z");
        assert_eq!(compact(1_795_437_296), "20261123T123456Z");
    }

    #[test]
    fn rfc3339_round_trips() {
        for seconds in [0, 951_782_400, 1_795_437_296, -86_400, 4_102_444_799] {
            assert_eq!(parse_rfc3339(&rfc3339(seconds)), Some(seconds));
        }
        for bad in [
            "2026-02-30T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-01-01 00:00:00Z",
            "x",
            "+026-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
