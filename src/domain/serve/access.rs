//! One access-log line per request: plain text for people, or one JSON object per line.

use serde::Serialize;

/// What the log says of one request.
#[derive(Clone, Debug, Serialize)]
pub struct AccessEntry<'a> {
    /// RFC 3339, UTC.
    pub time: &'a str,
    pub remote: &'a str,
    pub method: &'a str,
    /// The path as requested, cut to 200 characters.
    pub path: &'a str,
    pub route: &'static str,
    pub status: u16,
    pub micros: u64,
    pub bytes: u64,
}

/// Appends the line and its newline to `out`.
pub fn write_line(out: &mut Vec<u8>, entry: &AccessEntry<'_>, json: bool) {
    use std::io::Write;
    if json {
        serde_json::to_writer(&mut *out, entry).expect("an access entry serialises");
        out.push(b'\n');
    } else {
        let _ = writeln!(
            out,
            "{} {} {} {} {} {}us {}B",
            entry.time,
            entry.remote,
            entry.method,
            entry.path.escape_debug(),
            entry.status,
            entry.micros,
            entry.bytes
        );
    }
}

/// A request path as logged: at most 200 characters.
pub fn shown_path(path: &str) -> &str {
    match path.char_indices().nth(200) {
        Some((end, _)) => &path[..end],
        None => path,
    }
}
