//! Rendering outcomes for people and machines: human text, JSON, GitHub annotations, JUnit,
//! Markdown. Every function here writes to the writer it is given; none touches a file or
//! the environment.

// Printing, files and the environment belong to the edges (clippy.toml names them).
#![deny(clippy::disallowed_methods, clippy::disallowed_macros)]

pub mod actions;
pub mod bundle;
pub mod deploy;
pub mod eval;
pub mod github;
pub mod history;
pub mod human;
pub mod image;
pub mod init;
pub mod outputs;
pub mod pipeline;
pub mod pr;
pub mod promote;
pub mod registry;
pub mod repair;
pub mod status;
pub mod validate;

use std::io::Write;

/// Where a command's output goes: data on `out` (stdout), messages on `err` (stderr).
pub struct Printer<'a> {
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
    /// Colour on `err`.
    pub color: bool,
}

/// A value as one pretty JSON document on stdout.
pub fn json(printer: &mut Printer<'_>, value: &impl serde::Serialize) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
    writeln!(printer.out, "{text}")
}

/// Findings as people read them, with their source lines, on stderr.
pub fn findings(
    printer: &mut Printer<'_>,
    shown: &crate::domain::diagnostic::Shown,
) -> std::io::Result<()> {
    write!(
        printer.err,
        "{}",
        human::render(&shown.findings, &shown.sources, printer.color)
    )
}

/// `error: ...` and `hint: ...` lines, as the binary prints a fatal error.
pub fn error(err: &mut dyn Write, message: &str, hint: Option<&str>) -> std::io::Result<()> {
    writeln!(err, "error: {message}")?;
    if let Some(hint) = hint {
        writeln!(err, "hint: {hint}")?;
    }
    Ok(())
}

/// How a table is printed (`status --format`, `eval --format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableFormat {
    Table,
    Json,
}

/// A Markdown table cell's text: one line, cut to `limit` characters with an ellipsis, then
/// made inert. The text is data (examples, model answers): it must not end the table or the
/// `<details>`, hide the marker, load an image, mention a person or team on GitHub (`@` gets
/// a zero-width space, as Dependabot does), or become a link (GitHub links bare `http://…`,
/// `https://…` and `www.…`: a zero-width space breaks each).
pub(crate) fn markdown_cell(text: &str, limit: usize) -> String {
    let flat: String = text.replace(['\n', '\r'], " ");
    let cut = if flat.chars().count() > limit {
        format!("{}…", flat.chars().take(limit).collect::<String>())
    } else {
        flat
    };
    let mut inert = String::with_capacity(cut.len());
    for c in cut.chars() {
        match c {
            '<' => inert.push_str("&lt;"),
            '>' => inert.push_str("&gt;"),
            '&' => inert.push_str("&amp;"),
            '@' => inert.push_str("@&#8203;"),
            '|' | '\\' | '`' | '*' | '_' | '[' | ']' | '!' | '#' | '~' => {
                inert.push('\\');
                inert.push(c);
            }
            _ => inert.push(c),
        }
    }
    break_autolinks(&inert)
}

/// A zero-width space after every `:` of `://` and before the `.` of `www.` (any case).
fn break_autolinks(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if rest.starts_with("://") {
            out.push_str(":&#8203;");
            rest = &rest[1..];
            continue;
        }
        if rest
            .get(..4)
            .is_some_and(|start| start.eq_ignore_ascii_case("www."))
        {
            out.push_str(&rest[..3]);
            out.push_str("&#8203;");
            rest = &rest[3..];
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_is_inert_text() {
        let hostile = "@octocat </details> <!-- promptops-report --> ![x](http://t/x.png) | `a` *b* [l](u) &amp;";
        let inert = markdown_cell(hostile, 200);
        assert_eq!(
            inert,
            "@&#8203;octocat &lt;/details&gt; &lt;\\!-- promptops-report --&gt; \\!\\[x\\](http:&#8203;//t/x.png) \\| \\`a\\` \\*b\\* \\[l\\](u) &amp;amp;"
        );
        // Regression: bare URLs from examples and answers were linked by GitHub.
        assert_eq!(
            markdown_cell("see https://evil.example/x and WWW.evil.example", 200),
            "see https:&#8203;//evil.example/x and WWW&#8203;.evil.example"
        );
        // Cut before escaping: an escape is never split.
        assert_eq!(markdown_cell("ab|cd", 3), "ab\\|…");
        assert_eq!(markdown_cell("line\nnext", 40), "line next");
    }
}
