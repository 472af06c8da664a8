//! Each scorer on its edge cases: empty answers, text where JSON is expected, unicode.

use serde_json::{Value, json};

use super::*;

fn spec(name: &str, options: Value) -> ScorerSpec {
    serde_json::from_value(json!({"name": name, "options": options})).unwrap()
}

fn run(name: &str, options: Value, output: &str, expected: Value) -> ScoreResult {
    let scorer = compile(&spec(name, options)).unwrap();
    let observation = Observation {
        output,
        expected: &expected,
        latency_ms: 120,
        cost_usd: Some(0.002),
        output_schema: None,
    };
    score_example(&[scorer], &observation, &[])
        .results
        .remove(0)
}

#[test]
fn exact_with_and_without_normalisation() {
    assert!(run("exact", json!({}), "Paris", json!("Paris")).pass);
    assert!(!run("exact", json!({}), "paris ", json!("Paris")).pass);
    let loose =
        json!({"ignore_case": true, "normalize_whitespace": true, "ignore_punctuation": true});
    assert!(run("exact", loose.clone(), "  paris!\n", json!("Paris")).pass);
    // Typographic punctuation is punctuation too.
    assert!(run("exact", loose, "ÉCOLE  d’été", json!("école d'été")).pass);
    assert!(
        run(
            "exact",
            json!({"ignore_case": true}),
            "ÉCOLE",
            json!("école")
        )
        .pass
    );
    // Empty answer against a non-empty expectation.
    let empty = run("exact", json!({"trim": true}), "", json!("x"));
    assert!(!empty.pass && empty.score.abs() < f64::EPSILON);
    // JSON expectations compare as JSON, 1 equal to 1.0, fences accepted.
    assert!(
        run(
            "exact",
            json!({}),
            "```json\n{\"a\": 1.0}\n```",
            json!({"a": 1})
        )
        .pass
    );
    let not_json = run("exact", json!({}), "a is one", json!({"a": 1}));
    assert!(
        !not_json.pass && not_json.reason.contains("not JSON"),
        "{not_json:?}"
    );
}

#[test]
fn contains_and_not_contains() {
    assert!(
        run(
            "contains",
            json!({}),
            "The capital is Paris.",
            json!("Paris")
        )
        .pass
    );
    let partial = run(
        "contains",
        json!({"values": ["kΩ", "0603"]}),
        "10 kΩ resistor",
        json!(""),
    );
    assert!(
        !partial.pass && (partial.score - 0.5).abs() < 1e-12,
        "{partial:?}"
    );
    assert!(
        run(
            "contains",
            json!({"values": ["x", "kΩ"], "any": true}),
            "10 kΩ",
            json!("")
        )
        .pass
    );
    assert!(
        run(
            "not_contains",
            json!({"value": "As an AI", "ignore_case": true}),
            "Paris",
            json!("")
        )
        .pass
    );
    assert!(
        !run(
            "not_contains",
            json!({"value": "as an ai", "ignore_case": true}),
            "As an AI, I",
            json!("")
        )
        .pass
    );
    assert!(compile(&spec("contains", json!({"value": "a", "values": ["b"]}))).is_err());
}

#[test]
fn regex_checks_its_pattern_when_compiled() {
    assert!(
        run(
            "regex",
            json!({"pattern": "^[A-Z]{2}\\d+$"}),
            "AB12",
            json!("")
        )
        .pass
    );
    assert!(!run("regex", json!({"pattern": "^\\d+$"}), "", json!("")).pass);
    assert!(
        run(
            "regex",
            json!({"pattern": "µf", "ignore_case": true}),
            "0.1 µF",
            json!("")
        )
        .pass
    );
    let error = compile(&spec("regex", json!({"pattern": "(unclosed"}))).unwrap_err();
    assert_eq!(error.pointer, "/pattern");
    let missing = compile(&spec("regex", json!({}))).unwrap_err();
    assert!(missing.message.contains("options.pattern"));
}

#[test]
fn json_valid_and_json_schema() {
    assert!(run("json_valid", json!(null), "{\"a\": [1, 2]}", json!({})).pass);
    assert!(!run("json_valid", json!(null), "", json!({})).pass);
    assert!(!run("json_valid", json!(null), "Sure! {\"a\": 1}", json!({})).pass);
    let schema = json!({"schema": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}});
    assert!(
        run(
            "json_schema",
            schema.clone(),
            "{\"name\": \"Ω\"}",
            json!({})
        )
        .pass
    );
    let wrong = run("json_schema", schema, "{\"name\": 3}", json!({}));
    assert!(!wrong.pass && wrong.reason.contains("/name"), "{wrong:?}");
    // No schema anywhere is a failure with a reason, not a pass.
    assert!(!run("json_schema", json!(null), "{}", json!({})).pass);
}

#[test]
fn json_fields_weighs_each_field() {
    let options = json!({"fields": {
        "part_number": {"scorer": "exact", "weight": 2},
        "manufacturer": {"scorer": "exact", "ignore_case": true},
        "price": {"scorer": "numeric", "tolerance": 0.01},
    }});
    let expected =
        json!({"part_number": "LM358DR", "manufacturer": "Texas Instruments", "price": 0.5});
    let perfect = run(
        "json_fields",
        options.clone(),
        r#"{"part_number": "LM358DR", "manufacturer": "TEXAS INSTRUMENTS", "price": 0.505}"#,
        expected.clone(),
    );
    assert!(
        perfect.pass && (perfect.score - 1.0).abs() < 1e-12,
        "{perfect:?}"
    );
    let half = run(
        "json_fields",
        options.clone(),
        r#"{"part_number": "LM358", "manufacturer": "Texas Instruments", "price": 0.5}"#,
        expected.clone(),
    );
    assert!(
        !half.pass && (half.score - 0.5).abs() < 1e-12 && half.reason.contains("part_number"),
        "{half:?}"
    );
    let missing = run(
        "json_fields",
        options.clone(),
        r#"{"part_number": "LM358DR"}"#,
        expected.clone(),
    );
    assert!((missing.score - 0.5).abs() < 1e-12, "{missing:?}");
    let text = run("json_fields", options, "LM358DR by TI", expected);
    assert!(!text.pass && text.score.abs() < f64::EPSILON);
    let bad = compile(&spec(
        "json_fields",
        json!({"fields": {"a": {"scorer": "llm_judge"}}}),
    ))
    .unwrap_err();
    assert_eq!(bad.pointer, "/fields/a/scorer");
}

#[test]
fn similarity_by_edit_distance_and_token_f1() {
    assert!((edit_similarity("", "") - 1.0).abs() < 1e-12);
    assert!(edit_similarity("", "abc").abs() < 1e-12);
    assert!((edit_similarity("kitten", "sitting") - (1.0 - 3.0 / 7.0)).abs() < 1e-12);
    // Characters, not bytes: one substitution in a 3-character word.
    assert!((edit_similarity("µF1", "nF1") - 2.0 / 3.0).abs() < 1e-12);
    assert!((token_f1("a b c", "a b d") - 2.0 / 3.0).abs() < 1e-12);
    assert!(token_f1("", "a").abs() < 1e-12);
    assert!((token_f1("a a", "a") - 2.0 / 3.0).abs() < 1e-12);
    let scored = run(
        "similarity",
        json!({"method": "token_f1", "threshold": 0.6}),
        "Texas Instruments LM358",
        json!("texas instruments LM358"),
    );
    assert!(!scored.pass, "case counts unless ignored: {scored:?}");
    let scored = run(
        "similarity",
        json!({"method": "token_f1", "threshold": 0.6, "ignore_case": true}),
        "Texas Instruments LM358",
        json!("texas instruments LM358"),
    );
    assert!(scored.pass);
    assert!(compile(&spec("similarity", json!({"method": "cosine"}))).is_err());
    assert!(compile(&spec("similarity", json!({"threshold": 2}))).is_err());
}

#[test]
fn numeric_with_absolute_and_relative_tolerance() {
    assert!(run("numeric", json!({"tolerance": 0.1}), "3.05", json!(3)).pass);
    assert!(run("numeric", json!({}), "The answer is 42.", json!("42")).pass);
    assert!(!run("numeric", json!({}), "forty-two", json!(42)).pass);
    assert!(
        run(
            "numeric",
            json!({"tolerance": 0.05, "relative": true}),
            "104",
            json!(100)
        )
        .pass
    );
    assert!(
        !run(
            "numeric",
            json!({"tolerance": 0.05, "relative": true}),
            "106",
            json!(100)
        )
        .pass
    );
    assert!(!run("numeric", json!({}), "", json!(1)).pass);
    assert!(!run("numeric", json!({}), "1", json!("n/a")).pass);
}

#[test]
fn latency_and_cost_budgets() {
    assert!(run("latency", json!({"max_ms": 200}), "x", json!("")).pass);
    assert!(!run("latency", json!({"max_ms": 100}), "x", json!("")).pass);
    assert!(run("cost", json!({"max_usd": 0.01}), "x", json!("")).pass);
    assert!(!run("cost", json!({"max_usd": 0.001}), "x", json!("")).pass);
    assert!(compile(&spec("latency", json!({}))).is_err());
}

#[test]
fn llm_judge_reads_the_verdict_it_is_given() {
    let scorer = compile(&spec(
        "llm_judge",
        json!({"rubric": "Is it polite?", "threshold": 0.7}),
    ))
    .unwrap();
    let expected = json!("x");
    let observation = Observation {
        output: "hi",
        expected: &expected,
        latency_ms: 0,
        cost_usd: None,
        output_schema: None,
    };
    let verdict = |score: f64| {
        Some(Ok(Verdict {
            score,
            pass: None,
            reason: "r".into(),
        }))
    };
    let judged = score_example(std::slice::from_ref(&scorer), &observation, &[verdict(0.8)]);
    assert!(judged.pass && (judged.score - 0.8).abs() < 1e-12);
    assert!(!score_example(std::slice::from_ref(&scorer), &observation, &[verdict(0.6)]).pass);
    let broken = score_example(&[scorer], &observation, &[Some(Err("not JSON".into()))]);
    assert!(!broken.pass && broken.results[0].reason.contains("not JSON"));
    assert!(compile(&spec("llm_judge", json!({"rubric": " "}))).is_err());
}

#[test]
fn the_example_score_is_the_weighted_mean_and_unknown_options_are_refused() {
    let scorers = vec![
        Scorer {
            name: ScorerName::Exact,
            weight: 3.0,
            kind: Kind::Exact(Normalize::default()),
        },
        Scorer {
            name: ScorerName::Contains,
            weight: 1.0,
            kind: compile(&spec("contains", json!({"value": "P"})))
                .unwrap()
                .kind,
        },
    ];
    let expected = json!("Paris");
    let observation = Observation {
        output: "Pari",
        expected: &expected,
        latency_ms: 0,
        cost_usd: None,
        output_schema: None,
    };
    let scored = score_example(&scorers, &observation, &[]);
    assert!((scored.score - 0.25).abs() < 1e-12 && !scored.pass);
    let error = compile(&spec("exact", json!({"ignore_cas": true}))).unwrap_err();
    assert_eq!(error.pointer, "/ignore_cas");
    assert!(error.message.contains("ignore_case"), "{}", error.message);
    assert!(
        compile(&spec("json_valid", json!({"x": 1})))
            .unwrap_err()
            .message
            .contains("no options")
    );
}
