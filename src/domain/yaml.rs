//! YAML with a position on every value.
//!
//! We parse with saphyr's marked nodes (YAML 1.2: `no` stays a string, duplicate keys are an
//! error, alias expansion has a budget) and turn the tree into a `serde_json::Value` plus a map
//! from JSON pointer to source position. Schema errors arrive as JSON pointers, so this map is
//! what lets every finding point at the line where the offending value stands.

use std::collections::HashMap;

use saphyr::{MarkedYaml, Scalar, ScanError, YamlData, YamlLoader};
use saphyr_parser::{Event, Parser, ScalarStyle, SpannedEventReceiver};
use serde_json::{Map, Number, Value};

use super::diagnostic::{Code, Position};

/// Nodes that alias expansion may add to one document. Prompt files are small; a legitimate
/// file stays far below this, and a "billion laughs" file hits it within milliseconds.
const ALIAS_NODE_BUDGET: usize = 10_000;

/// The deepest nesting of sequences and mappings a file may have. Prompt files need a handful
/// of levels; a limit checked while parsing keeps every later walk (conversion, schema checks,
/// drops) far from the end of a worker thread's stack, whatever the input.
pub const MAX_NESTING: usize = 64;

/// What a finding about nesting past [`MAX_NESTING`] says, in YAML and JSON alike.
pub fn nesting_message() -> String {
    format!("values are nested more than {MAX_NESTING} levels deep here; refused")
}

/// Where a value stands in its file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// Position of the value itself (for a mapping entry, of its value, not its key).
    pub value: Position,
    /// Position of the key, for values that are mapping entries.
    pub key: Option<Position>,
    /// A quoted scalar: its text starts one column after `value`, behind the quote.
    pub quoted: bool,
}

/// A parsed YAML document: the value and the span of every node, by JSON pointer.
#[derive(Clone, Debug)]
pub struct Document {
    pub value: Value,
    spans: HashMap<String, Span>,
}

impl Document {
    /// The span of the value at `pointer` (`""` is the root), if it exists.
    pub fn span(&self, pointer: &str) -> Option<Span> {
        self.spans.get(pointer).copied()
    }

    /// The best position for a finding about `pointer`: the value, or the nearest parent that
    /// exists (a missing field is reported where its parent mapping starts).
    pub fn position(&self, pointer: &str) -> Position {
        let mut current = pointer;
        loop {
            if let Some(span) = self.spans.get(current) {
                return span.value;
            }
            match current.rfind('/') {
                Some(index) => current = &current[..index],
                None => return Position::START,
            }
        }
    }

    /// Forgets the spans of every pointer but those `keep` accepts. A repository holds tens of
    /// thousands of documents; the cross-file checks need a handful of positions from each.
    pub fn keep_spans(&mut self, keep: impl Fn(&str) -> bool) {
        self.spans.retain(|pointer, _| keep(pointer));
        self.spans.shrink_to_fit();
    }

    /// The position of the key of the entry at `pointer`, falling back to `position`.
    pub fn key_position(&self, pointer: &str) -> Position {
        self.spans
            .get(pointer)
            .and_then(|span| span.key)
            .unwrap_or_else(|| self.position(pointer))
    }
}

/// Why a YAML text could not be turned into a document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YamlError {
    pub code: Code,
    pub at: Position,
    pub message: String,
}

/// Parses one YAML document. An empty text (or one with only comments) is `Ok(None)`.
pub fn parse(text: &str) -> Result<Option<Document>, YamlError> {
    let mut loader: YamlLoader<'_, MarkedYaml<'_>> = YamlLoader::default();
    loader.alias_limit(ALIAS_NODE_BUDGET);
    // Scalars arrive as written, with their style and tag: `convert` resolves them, and knows
    // which strings are quoted.
    loader.early_parse(false);
    // Events are fed to the loader one by one (saphyr's own `load` recurses once per level,
    // which a deeply nested file turns into a stack overflow) and nesting is counted here.
    let mut parser = Parser::new_from_str(text);
    let mut open: Vec<Position> = Vec::new();
    while let Some(next) = parser.next_event() {
        let (event, span) = next.map_err(|error| scan_error_in(error, &open, text))?;
        match event {
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                open.push(marker_position(span.start));
                if open.len() > MAX_NESTING {
                    return Err(YamlError {
                        code: Code::NestingTooDeep,
                        at: marker_position(span.start),
                        message: nesting_message(),
                    });
                }
            }
            Event::SequenceEnd | Event::MappingEnd => {
                open.pop();
            }
            _ => {}
        }
        SpannedEventReceiver::on_event(&mut loader, event, span);
        if let Some(error) = loader.error() {
            return Err(scan_error(error.clone()));
        }
    }
    let mut documents = loader.into_documents();
    if documents.len() > 1 {
        let at = marker_position(documents[1].span.start);
        return Err(YamlError {
            code: Code::YamlMultipleDocuments,
            at,
            message:
                "this file holds more than one YAML document; promptops reads one document per file"
                    .into(),
        });
    }
    let Some(root) = documents.pop() else {
        return Ok(None);
    };
    if matches!(root.data, YamlData::Value(Scalar::Null)) {
        return Ok(None);
    }
    let mut spans = HashMap::new();
    let mut pointer = String::new();
    let value = convert(&root, &mut pointer, None, &mut spans)?;
    Ok(Some(Document { value, spans }))
}

fn scan_error(error: ScanError) -> YamlError {
    let info = error.info();
    let code = if info.contains("recursion limit exceeded") {
        Code::NestingTooDeep
    } else if info.contains("duplicated key") {
        Code::YamlDuplicateKey
    } else if info.contains("alias expansion") {
        Code::YamlAliasLimit
    } else {
        Code::YamlSyntax
    };
    let message = match code {
        Code::YamlDuplicateKey => DUPLICATE_KEY.to_owned(),
        Code::YamlAliasLimit => format!(
            "YAML aliases expand to more than {ALIAS_NODE_BUDGET} nodes (an alias bomb?); refused"
        ),
        Code::NestingTooDeep => nesting_message(),
        _ => info.to_owned(),
    };
    YamlError {
        code,
        at: marker_position(*error.marker()),
        message,
    }
}

/// A syntax error, and where the construct it broke opened when that is elsewhere: an
/// unclosed `[`, `{` or quote is only noticed at the end of the file.
fn scan_error_in(error: ScanError, open: &[Position], text: &str) -> YamlError {
    let mut found = scan_error(error);
    if found.code != Code::YamlSyntax {
        return found;
    }
    // The parser reports the end of the input one line past the last one; keep the position
    // inside the file.
    let lines = text.lines().count().max(1);
    if found.at.line > lines {
        let last = text.lines().last().unwrap_or("");
        found.at = Position::new(lines, last.chars().count() + 1);
    }
    // (An unclosed quote the scanner reports where it opened; a flow collection, only where
    // the file ended.)
    if let Some(opened) = open.last().copied()
        && opened != found.at
    {
        found.message = format!(
            "{} (the construct that was not closed opened at line {}, column {})",
            found.message, opened.line, opened.column
        );
    }
    found
}

fn marker_position(marker: saphyr_parser::Marker) -> Position {
    Position::new(marker.line().max(1), marker.col() + 1)
}

fn unsupported(node: &MarkedYaml<'_>, message: impl Into<String>) -> YamlError {
    YamlError {
        code: Code::YamlUnsupported,
        at: marker_position(node.span.start),
        message: message.into(),
    }
}

/// Escapes one reference token of a JSON pointer (RFC 6901).
pub fn escape_pointer_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

fn convert(
    node: &MarkedYaml<'_>,
    pointer: &mut String,
    key: Option<Position>,
    spans: &mut HashMap<String, Span>,
) -> Result<Value, YamlError> {
    let quoted = matches!(
        node.data,
        YamlData::Representation(_, ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted, _)
    );
    spans.insert(
        pointer.clone(),
        Span {
            value: marker_position(node.span.start),
            key,
            quoted,
        },
    );
    let value = match &node.data {
        YamlData::Value(scalar) => scalar_value(node, scalar)?,
        YamlData::Representation(..) => scalar_value(node, &resolve(node)?)?,
        YamlData::Sequence(items) => {
            let mut values = Vec::with_capacity(items.len());
            for (index, item) in items.iter().enumerate() {
                let length = pointer.len();
                pointer.push('/');
                pointer.push_str(&index.to_string());
                values.push(convert(item, pointer, None, spans)?);
                pointer.truncate(length);
            }
            Value::Array(values)
        }
        YamlData::Mapping(entries) => {
            let mut map = Map::new();
            for (key_node, value_node) in entries {
                let name = match &key_node.data {
                    YamlData::Representation(text, ..) => {
                        resolve(key_node)?;
                        text.to_string()
                    }
                    _ => return Err(unsupported(key_node, "mapping keys must be plain strings")),
                };
                let length = pointer.len();
                pointer.push('/');
                pointer.push_str(&escape_pointer_token(&name));
                let key_position = marker_position(key_node.span.start);
                let value = convert(value_node, pointer, Some(key_position), spans)?;
                pointer.truncate(length);
                // saphyr compares keys as written (`id` and `"id"` differ); we compare them as
                // the strings they are.
                if map.insert(name, value).is_some() {
                    return Err(YamlError {
                        code: Code::YamlDuplicateKey,
                        at: key_position,
                        message: DUPLICATE_KEY.to_owned(),
                    });
                }
            }
            Value::Object(map)
        }
        YamlData::Tagged(tag, inner) => {
            return Err(unsupported(
                inner,
                format!(
                    "the YAML tag `{}{}` is not supported here; remove it",
                    tag.handle, tag.suffix
                ),
            ));
        }
        YamlData::Alias(_) | YamlData::BadValue => {
            return Err(unsupported(
                node,
                "this value could not be read (a bad tag or alias?)",
            ));
        }
    };
    Ok(value)
}

const DUPLICATE_KEY: &str = "duplicate key: this key already appears in the same mapping";

/// The value of a scalar as written: YAML 1.2 core schema, core tags honoured, others refused.
fn resolve<'a>(node: &MarkedYaml<'a>) -> Result<Scalar<'a>, YamlError> {
    let YamlData::Representation(text, style, tag) = &node.data else {
        return Err(unsupported(node, "expected a scalar"));
    };
    if let Some(tag) = tag.as_deref().filter(|tag| !tag.is_yaml_core_schema()) {
        return Err(unsupported(
            node,
            format!(
                "the YAML tag `{}{}` is not supported here; remove it",
                tag.handle, tag.suffix
            ),
        ));
    }
    Scalar::parse_from_cow_and_metadata(text.clone(), *style, tag.as_ref())
        .ok_or_else(|| unsupported(node, format!("`{text}` does not fit its YAML tag")))
}

fn scalar_value(node: &MarkedYaml<'_>, scalar: &Scalar<'_>) -> Result<Value, YamlError> {
    Ok(match scalar {
        Scalar::Null => Value::Null,
        Scalar::Boolean(flag) => Value::Bool(*flag),
        Scalar::Integer(number) => Value::Number((*number).into()),
        Scalar::FloatingPoint(number) => match Number::from_f64(number.into_inner()) {
            Some(number) => Value::Number(number),
            None => {
                return Err(unsupported(
                    node,
                    "infinite and NaN numbers are not supported",
                ));
            }
        },
        Scalar::String(text) => Value::String(text.to_string()),
    })
}

/// Where character `column` of line `line` (both 1-based) of the string at `pointer` stands
/// in the file. Exact for single-line scalars, quoted or not, and for block scalars (`|`, `>`),
/// whose span starts at their first character of text; that is how templates are written.
pub fn position_in_string(
    document: &Document,
    pointer: &str,
    line: usize,
    column: usize,
) -> Position {
    let Some(span) = document.span(pointer) else {
        return document.position(pointer);
    };
    let offset = column.saturating_sub(1);
    if line <= 1 {
        Position::new(
            span.value.line,
            span.value.column + usize::from(span.quoted) + offset,
        )
    } else {
        Position::new(span.value.line + line - 1, span.value.column + offset)
    }
}

/// Undoes `escape_pointer_token`.
pub fn unescape_pointer_token(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Document {
        parse(text).expect("parses").expect("not empty")
    }

    #[test]
    fn every_value_has_its_line_and_column() {
        let document =
            doc("id: a\nmodel:\n  name: gpt\nmessages:\n  - role: user\n    content: hi\n");
        assert_eq!(document.position("/id"), Position::new(1, 5));
        assert_eq!(document.key_position("/id"), Position::new(1, 1));
        assert_eq!(document.position("/model/name"), Position::new(3, 9));
        assert_eq!(
            document.position("/messages/0/content"),
            Position::new(6, 14)
        );
        assert_eq!(
            document.key_position("/messages/0/role"),
            Position::new(5, 5)
        );
        // A missing value is reported at its nearest parent.
        assert_eq!(
            document.position("/messages/0/missing"),
            Position::new(5, 5)
        );
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let document = doc("title: \"é\"\nnext: ünïcode\n");
        assert_eq!(document.position("/next"), Position::new(2, 7));
    }

    #[test]
    fn no_stays_a_string_and_quoted_numbers_stay_strings() {
        let document = doc("country: no\nflag: true\nversion: \"1.0\"\nn: 1.5\n");
        assert_eq!(document.value["country"], Value::String("no".into()));
        assert_eq!(document.value["flag"], Value::Bool(true));
        assert_eq!(document.value["version"], Value::String("1.0".into()));
        assert_eq!(document.value["n"], serde_json::json!(1.5));
    }

    #[test]
    fn block_scalar_lines_start_after_the_indicator() {
        let document = doc("a: 1\ncontent: |\n  first\n  second\n");
        assert_eq!(
            document.value["content"],
            Value::String("first\nsecond\n".into())
        );
        assert_eq!(
            position_in_string(&document, "/content", 2, 3),
            Position::new(4, 5)
        );
        let document = doc("a: 1\ncontent: >-\n  first\n\n  second\n");
        assert_eq!(position_in_string(&document, "/content", 1, 1).line, 3);
    }

    #[test]
    fn quoted_strings_start_behind_their_quote() {
        let document = doc("a: \"{{ x }}\"\nb: '{{ y }}'\nc: plain x\n");
        assert_eq!(
            position_in_string(&document, "/a", 1, 4),
            Position::new(1, 8)
        );
        assert_eq!(
            position_in_string(&document, "/b", 1, 4),
            Position::new(2, 8)
        );
        assert_eq!(
            position_in_string(&document, "/c", 1, 7),
            Position::new(3, 10)
        );
    }

    #[test]
    fn duplicate_keys_are_refused_at_the_second_key() {
        let error = parse("id: a\nname: x\nid: b\n").unwrap_err();
        assert_eq!(error.code, Code::YamlDuplicateKey);
        assert_eq!(error.at.line, 3);
        // The same key written differently is still the same key.
        let error = parse("id: a\n\"id\": b\n").unwrap_err();
        assert_eq!((error.code, error.at.line), (Code::YamlDuplicateKey, 2));
    }

    #[test]
    fn core_tags_are_honoured_and_wrong_ones_refused() {
        let document = doc("a: !!str 1.0\nb: !!int 7\nc: !!str true\n");
        assert_eq!(document.value["a"], Value::String("1.0".into()));
        assert_eq!(document.value["b"], serde_json::json!(7));
        assert_eq!(document.value["c"], Value::String("true".into()));
        assert_eq!(
            parse("a: !!int seven\n").unwrap_err().code,
            Code::YamlUnsupported
        );
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..10 {
            let previous = level - 1;
            text.push_str(&format!(
                "a{level}: &a{level} [*a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}]\n"
            ));
        }
        let error = parse(&text).unwrap_err();
        assert_eq!(error.code, Code::YamlAliasLimit);
    }

    #[test]
    fn syntax_errors_have_a_line() {
        let error = parse("id: a\nmessages: [\n  - x\n").unwrap_err();
        assert_eq!(error.code, Code::YamlSyntax);
        assert!(error.at.line >= 2, "{error:?}");
    }

    // Regression: a 6 KB file of `- - - … x` aborted validate with a stack overflow.
    #[test]
    fn deep_nesting_is_refused_at_its_line_without_overflowing() {
        let text = format!("a: 1\nb:\n{}x\n", "- ".repeat(3_000));
        let error = parse(&text).unwrap_err();
        assert_eq!(error.code, Code::NestingTooDeep);
        assert_eq!(error.at.line, 3);
        let flow = format!("a: {}1{}\n", "[".repeat(50_000), "]".repeat(50_000));
        assert_eq!(parse(&flow).unwrap_err().code, Code::NestingTooDeep);
        // Within the limit it parses.
        let fine = format!(
            "a: {}1{}\n",
            "[".repeat(MAX_NESTING - 1),
            "]".repeat(MAX_NESTING - 1)
        );
        assert!(parse(&fine).is_ok());
    }

    // Regression: the error for an unclosed flow sequence or quote pointed past the file.
    #[test]
    fn unclosed_constructs_name_where_they_opened() {
        let error = parse("id: a\nmessages: [x,\n  y\n").unwrap_err();
        assert_eq!(error.code, Code::YamlSyntax);
        assert!(error.at.line <= 3, "{error:?}");
        assert!(error.message.contains("line 2, column 11"), "{error:?}");
        let error = parse("id: a\nname: \"never closed\n").unwrap_err();
        assert_eq!(error.at.line, 2, "{error:?}");
        let error = parse("id: a\nlist: [1, 2\n").unwrap_err();
        assert_eq!(error.at.line, 2, "{error:?}");
        assert!(error.message.contains("line 2, column 7"), "{error:?}");
        for text in ["a: [\n  - x\n", "a: {\n\n\n", "a: [1,\n", "a: \"x\n\n\n"] {
            let error = parse(text).unwrap_err();
            assert!(error.at.line <= text.lines().count(), "{text:?}: {error:?}");
        }
    }

    #[test]
    fn empty_and_comment_only_texts_are_none() {
        assert!(parse("").unwrap().is_none());
        assert!(parse("# only a comment\n").unwrap().is_none());
    }

    #[test]
    fn two_documents_are_refused() {
        let error = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert_eq!(error.code, Code::YamlMultipleDocuments);
        assert_eq!(error.at.line, 3);
    }

    #[test]
    fn custom_tags_are_refused() {
        let error = parse("a: !python/object x\n").unwrap_err();
        assert_eq!(error.code, Code::YamlUnsupported);
    }
}
