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

/// A filter, test or function a template calls that the engine does not have: it would fail
/// every render, so `validate` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownCallable {
    /// 1-based line inside the template text.
    pub line: usize,
    /// `filter`, `test` or `function`.
    pub kind: &'static str,
    pub name: String,
}

/// What a template uses: the variables it reads from its context, and the filters, tests and
/// functions it calls that the engine does not have.
#[derive(Clone, Debug, Default)]
pub struct Usage {
    pub variables: BTreeSet<String>,
    pub unknown: Vec<UnknownCallable>,
}

/// What a template uses (see [`Usage`]), or why it does not compile.
pub fn usage(environment: &Environment<'_>, source: &str) -> Result<Usage, TemplateError> {
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
    let variables = template
        .undeclared_variables(false)
        .into_iter()
        .filter(|name| {
            environment
                .globals()
                .all(|(global, _)| global != name.as_str())
        })
        .collect();
    let unknown = unknown_callables(environment, &template);
    Ok(Usage { variables, unknown })
}

/// The filters, tests and functions the compiled template calls that the engine lacks. The
/// engine is asked (a probe render per name), so the answer is the engine's, not a list kept
/// here. Reads the compiled instructions: minijinja's `unstable_machinery` interface, pinned
/// by Cargo.lock.
fn unknown_callables(
    environment: &Environment<'_>,
    template: &minijinja::Template<'_, '_>,
) -> Vec<UnknownCallable> {
    use minijinja::machinery::Instruction;
    let compiled = minijinja::machinery::get_compiled_template(template);
    let blocks = std::iter::once(&compiled.instructions).chain(compiled.blocks.values());
    let mut macros: BTreeSet<&str> = BTreeSet::new();
    let mut calls: Vec<(usize, &'static str, &str)> = Vec::new();
    for instructions in blocks {
        let mut index = 0u32;
        while let Some(instruction) = instructions.get(index) {
            let line = instructions.get_line(index).unwrap_or(1);
            match instruction {
                Instruction::ApplyFilter(name, ..) => calls.push((line, "filter", name)),
                Instruction::PerformTest(name, ..) => calls.push((line, "test", name)),
                Instruction::CallFunction(name, ..) => calls.push((line, "function", name)),
                Instruction::BuildMacro(name, ..) => {
                    macros.insert(name);
                }
                _ => {}
            }
            index += 1;
        }
    }
    let mut seen = BTreeSet::new();
    calls
        .into_iter()
        .filter(|(_, kind, name)| seen.insert((*kind, *name)))
        .filter(|(_, kind, name)| match *kind {
            "function" => {
                !macros.contains(name)
                    && !matches!(
                        *name,
                        "loop" | "caller" | "super" | "self" | "varargs" | "kwargs"
                    )
                    && environment.globals().all(|(global, _)| global != *name)
            }
            "filter" => probe_is(
                environment,
                &format!("{{{{ 1 | {name} }}}}"),
                ErrorKind::UnknownFilter,
            ),
            _ => probe_is(
                environment,
                &format!("{{{{ 1 is {name} }}}}"),
                ErrorKind::UnknownTest,
            ),
        })
        .map(|(line, kind, name)| UnknownCallable {
            line,
            kind,
            name: name.to_owned(),
        })
        .collect()
}

/// Whether rendering `probe` fails with `kind`. Answers are remembered per thread: every
/// environment promptops builds has the same filters and tests, and a repository of thousands
/// of prompts asks about the same few names.
fn probe_is(environment: &Environment<'_>, probe: &str, kind: ErrorKind) -> bool {
    thread_local! {
        static ANSWERS: std::cell::RefCell<std::collections::HashMap<String, bool>> =
            std::cell::RefCell::new(std::collections::HashMap::new());
    }
    if let Some(known) = ANSWERS.with(|answers| answers.borrow().get(probe).copied()) {
        return known;
    }
    let answer = environment
        .render_str(probe, ())
        .is_err_and(|error| error.kind() == kind);
    ANSWERS.with(|answers| {
        let mut answers = answers.borrow_mut();
        // Bounded: names come from files.
        if answers.len() < 4096 {
            answers.insert(probe.to_owned(), answer);
        }
    });
    answer
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
        let used = usage(
            &env,
            "Title: {{ raw_title | trim }}\n{% for c in categories %}{{ c }} {{ loop.index }}{% endfor %}{% if hint is defined %}{{ hint }}{% endif %}",
        )
        .unwrap()
        .variables;
        assert_eq!(
            used.into_iter().collect::<Vec<_>>(),
            ["categories", "hint", "raw_title"]
        );
    }

    #[test]
    fn syntax_errors_carry_their_line() {
        let env = environment();
        let error = usage(&env, "line one\nline two {{ oops\n").unwrap_err();
        assert_eq!(error.line, 2);
        assert!(error.message.contains("syntax"), "{error:?}");
        let error = usage(&env, "{% if x %}never closed").unwrap_err();
        assert_eq!(error.line, 1);
    }

    // Regression (defect 18): `{{ x | dump }}` passed validate and failed every example.
    #[test]
    fn unknown_filters_tests_and_functions_are_found() {
        let env = environment();
        let found = usage(
            &env,
            "{{ x | trim }}\n{{ x | dump }}\n{% if x is odd %}{% endif %}{% if x is shiny %}{% endif %}\n{{ frobnicate(x) }}{{ range(3) | list }}\n{% macro m() %}{% endmacro %}{{ m() }}",
        )
        .unwrap()
        .unknown;
        let names: Vec<(usize, &str, &str)> = found
            .iter()
            .map(|u| (u.line, u.kind, u.name.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                (2, "filter", "dump"),
                (3, "test", "shiny"),
                (4, "function", "frobnicate")
            ]
        );
    }

    #[test]
    fn range_is_a_global_not_a_variable() {
        let env = environment();
        let used = usage(&env, "{% for i in range(3) %}{{ i }}{% endfor %}")
            .unwrap()
            .variables;
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
