//! Template analysis: does a message template compile, and which variables does it use?

use std::collections::BTreeSet;

use minijinja::{Environment, ErrorKind};

/// An environment configured the way promptops renders prompts (strict undefined, no
/// auto-escaping whatever the file name, trailing newlines kept).
pub fn environment() -> Environment<'static> {
    let mut environment = Environment::new();
    environment.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    environment.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    environment.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
            .expect("the default delimiters are valid"),
    );
    // Bounds the work one render may do, so a runaway loop in a template cannot hang an eval.
    environment.set_fuel(Some(1_000_000));
    environment
}

/// A template that does not compile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateError {
    /// 1-based line inside the template text.
    pub line: usize,
    pub message: String,
}

/// The variables a template reads from its context, or why it does not compile.
pub fn variables(
    environment: &Environment<'_>,
    source: &str,
) -> Result<BTreeSet<String>, TemplateError> {
    let template = environment
        .template_from_str(source)
        .map_err(|error| TemplateError {
            line: error.line().unwrap_or(1),
            message: match error.kind() {
                ErrorKind::SyntaxError => format!(
                    "template syntax error: {}",
                    error.detail().unwrap_or("invalid syntax")
                ),
                _ => error.to_string(),
            },
        })?;
    Ok(template
        .undeclared_variables(false)
        .into_iter()
        .filter(|name| {
            environment
                .globals()
                .all(|(global, _)| global != name.as_str())
        })
        .collect())
}

/// Where `name` is first used in `source`: (1-based line, 1-based column in characters).
pub fn find_variable(source: &str, name: &str) -> (usize, usize) {
    for (index, line) in source.lines().enumerate() {
        let mut search = 0;
        while let Some(found) = line[search..].find(name) {
            let start = search + found;
            let end = start + name.len();
            let before = line[..start].chars().next_back();
            let after = line[end..].chars().next();
            let is_word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
            if !is_word(before) && !is_word(after) {
                return (index + 1, line[..start].chars().count() + 1);
            }
            search = end;
        }
    }
    (1, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_used_variables_but_not_loop_locals() {
        let env = environment();
        let used = variables(
            &env,
            "Title: {{ raw_title | trim }}\n{% for c in categories %}{{ c }} {{ loop.index }}{% endfor %}{% if hint is defined %}{{ hint }}{% endif %}",
        )
        .unwrap();
        assert_eq!(
            used.into_iter().collect::<Vec<_>>(),
            ["categories", "hint", "raw_title"]
        );
    }

    #[test]
    fn syntax_errors_carry_their_line() {
        let env = environment();
        let error = variables(&env, "line one\nline two {{ oops\n").unwrap_err();
        assert_eq!(error.line, 2);
        assert!(error.message.contains("syntax"), "{error:?}");
        let error = variables(&env, "{% if x %}never closed").unwrap_err();
        assert_eq!(error.line, 1);
    }

    #[test]
    fn range_is_a_global_not_a_variable() {
        let env = environment();
        let used = variables(&env, "{% for i in range(3) %}{{ i }}{% endfor %}").unwrap();
        assert!(used.is_empty(), "{used:?}");
    }

    #[test]
    fn finds_whole_words_only() {
        assert_eq!(
            find_variable("a {{ title_raw }} {{ title }}", "title"),
            (1, 22)
        );
        assert_eq!(find_variable("x\n  é {{ part }}", "part"), (2, 8));
    }
}
