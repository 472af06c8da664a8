//! Output under GitHub Actions, where the runner reads every line of a step's stdout and stderr
//! that starts with `::` as a workflow command. Values from files are data: a line that would
//! start a command is made inert (a zero-width space before it: the runner's trimming keeps
//! it, and a person sees the same text), unless promptops itself wrote it as a command, which
//! it marks with a token chosen afresh in each process (data cannot guess it).

use std::io::Write;
use std::sync::OnceLock;

/// The token that marks promptops's own workflow commands, once output is guarded.
static TOKEN: OnceLock<String> = OnceLock::new();

/// Put before a line that would start a workflow command; not whitespace to the runner.
const INERT: &str = "\u{200b}";

/// Turns the guard on for this process (under GitHub Actions).
pub fn guard() {
    let _ = TOKEN.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        // RandomState's keys come from the operating system's randomness.
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        format!("\u{1}promptops-{:016x}\u{1}", hasher.finish())
    });
}

/// Whether output is guarded in this process.
pub fn is_guarded() -> bool {
    TOKEN.get().is_some()
}

/// A workflow command promptops means to give (`::group::…`, an annotation): marked so the
/// guard lets it through. Without the guard it is the line itself.
pub fn command(line: &str) -> String {
    match TOKEN.get() {
        Some(token) => format!("{token}{line}"),
        None => line.to_owned(),
    }
}

/// A writer that makes data lines inert and lets promptops's own commands through. Lines are
/// held until their end (or a flush), so a command split over two writes is still seen.
pub struct Guarded<W: Write> {
    inner: W,
    line: Vec<u8>,
}

impl<W: Write> Guarded<W> {
    pub fn new(inner: W) -> Guarded<W> {
        Guarded {
            inner,
            line: Vec::new(),
        }
    }

    fn emit(&mut self) -> std::io::Result<()> {
        if self.line.is_empty() {
            return Ok(());
        }
        let line = std::mem::take(&mut self.line);
        let token = TOKEN.get().map(String::as_bytes);
        if let Some(token) = token
            && let Some(rest) = line.strip_prefix(token)
        {
            self.inner.write_all(rest)?;
        } else {
            // Any `::` at the start of a line or after a carriage return (the runner splits
            // on both), behind any whitespace, is made inert.
            let mut out = Vec::with_capacity(line.len() + 3);
            let mut start = true;
            for (index, &byte) in line.iter().enumerate() {
                if start && !byte.is_ascii_whitespace() {
                    if line[index..].starts_with(b"::") {
                        out.extend_from_slice(INERT.as_bytes());
                    }
                    start = false;
                }
                if byte == b'\r' || byte == b'\n' {
                    start = true;
                }
                // A token that data carries is not one of ours: its marker bytes are dropped.
                if byte != 1 {
                    out.push(byte);
                }
            }
            self.inner.write_all(&out)?;
        }
        Ok(())
    }
}

impl<W: Write> Write for Guarded<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        for &byte in bytes {
            self.line.push(byte);
            if byte == b'\n' {
                self.emit()?;
            }
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.emit()?;
        self.inner.flush()
    }
}

impl<W: Write> Drop for Guarded<W> {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_lines_are_inert_and_our_commands_pass() {
        guard();
        let mut out = Vec::new();
        {
            let mut guarded = Guarded::new(&mut out);
            // An example id with a newline and a command, as data.
            writeln!(guarded, "example `a\n::error::pwned` failed").unwrap();
            writeln!(guarded, "  ::warning::indented\r::notice::after a return").unwrap();
            writeln!(guarded, "{}", command("::group::pipeline: eval")).unwrap();
            // Data that carries a marker byte is not let through as ours.
            writeln!(guarded, "\u{1}promptops-0000000000000000\u{1}::error::x").unwrap();
            write!(guarded, "partial ::not at the start").unwrap();
        }
        let text = String::from_utf8(out).unwrap();
        let commands: Vec<&str> = text
            .split(['\n', '\r'])
            .filter(|line| line.trim_start().starts_with("::"))
            .collect();
        assert_eq!(commands, ["::group::pipeline: eval"], "{text:?}");
        assert!(text.contains("\u{200b}::error::pwned"), "{text:?}");
        assert!(text.ends_with("partial ::not at the start"), "{text:?}");
    }
}
