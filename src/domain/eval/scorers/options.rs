//! Each scorer's options as a serde type: deserialising them *is* checking them (unknown
//! options, wrong types and out-of-range numbers are refused with the option's pointer), and
//! the metadata JSON Schema is generated from the same types, so editors complete them.

use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::{self, Deserializer, Unexpected, Visitor};
use serde_json::{Map, Value};

use crate::domain::model::{ScorerName, ScorerSpec};

/// Defines an options struct with the text normalisations (`ignore_case`, `trim`,
/// `normalize_whitespace`, `ignore_punctuation`) after its own fields. serde cannot
/// `flatten` into a struct that denies unknown fields, so the fields are written in by this
/// macro, once.
macro_rules! with_normalization {
    ($(#[$meta:meta])* pub struct $name:ident { $($body:tt)* }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($body)*
            /// Compare without regard to case.
            #[serde(default, deserialize_with = "flag")]
            pub ignore_case: bool,
            /// Ignore leading and trailing whitespace.
            #[serde(default, deserialize_with = "flag")]
            pub trim: bool,
            /// Collapse runs of whitespace to one space (and trim).
            #[serde(default, deserialize_with = "flag")]
            pub normalize_whitespace: bool,
            /// Drop punctuation before comparing.
            #[serde(default, deserialize_with = "flag")]
            pub ignore_punctuation: bool,
        }

        impl $name {
            /// How the text is normalised before it is compared.
            pub fn normalize(&self) -> super::Normalize {
                super::Normalize {
                    ignore_case: self.ignore_case,
                    trim: self.trim,
                    whitespace: self.normalize_whitespace,
                    punctuation: self.ignore_punctuation,
                }
            }
        }
    };
}

with_normalization! {
    /// `contains` and `not_contains`: the text to look for (default: the expected answer).
    pub struct ContainsOptions {
        /// One text to look for.
        #[serde(default, deserialize_with = "text")]
        pub value: Option<String>,
        /// Texts to look for (all of them, or any with `any: true`).
        #[serde(default)]
        #[schemars(length(min = 1))]
        pub values: Option<Vec<String>>,
        /// Pass when any one of `values` is found.
        #[serde(default, deserialize_with = "flag")]
        pub any: bool,
    }
}

with_normalization! {
    /// `exact`: the answer equals the expected one (JSON values compare as JSON).
    pub struct ExactOptions {}
}

/// `regex`: the answer matches a regular expression (Rust `regex` syntax).
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegexOptions {
    #[serde(deserialize_with = "required_text")]
    pub pattern: String,
    #[serde(default, deserialize_with = "flag")]
    pub ignore_case: bool,
}

/// `json_schema`: the answer is JSON that fits a schema (default: the prompt's
/// `output.schema`).
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonSchemaOptions {
    pub schema: Option<Value>,
}

/// `json_fields`: named fields of a JSON answer, each scored on its own.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonFieldsOptions {
    /// Field name (or JSON pointer starting with `/`) → how to score it.
    #[schemars(extend("minProperties" = 1))]
    pub fields: Map<String, Value>,
}

/// How the similarity of two texts is measured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SimilarityMethod {
    /// 1 − Levenshtein distance ÷ the longer length, over characters.
    #[default]
    #[serde(alias = "levenshtein")]
    EditDistance,
    /// F1 of the multisets of whitespace-separated tokens.
    TokenF1,
}

with_normalization! {
    /// `similarity`: how close the answer is to the expected text.
    pub struct SimilarityOptions {
        #[serde(default)]
        pub method: SimilarityMethod,
        /// The similarity at which the answer passes (default 0.8).
        #[serde(default, deserialize_with = "fraction")]
        #[schemars(range(min = 0.0, max = 1.0))]
        pub threshold: Option<f64>,
    }
}

/// `numeric`: the first number in the answer is within a tolerance of the expected one.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NumericOptions {
    /// How far off the answer may be (default 0).
    #[serde(default, deserialize_with = "non_negative")]
    #[schemars(range(min = 0.0))]
    pub tolerance: Option<f64>,
    /// The tolerance is a fraction of the expected value.
    #[serde(default, deserialize_with = "flag")]
    pub relative: bool,
}

/// `llm_judge`: a judge model grades the answer against a rubric.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JudgeOptions {
    /// What a good answer does.
    #[serde(deserialize_with = "required_text")]
    #[schemars(length(min = 1))]
    pub rubric: String,
    /// The judge's provider (default: the prompt's).
    #[serde(default, deserialize_with = "text")]
    pub provider: Option<String>,
    /// The judge's model (default: the prompt's).
    #[serde(default, deserialize_with = "text")]
    pub model: Option<String>,
    /// The judge's score at which the answer passes (default 0.5).
    #[serde(default, deserialize_with = "fraction")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub threshold: Option<f64>,
}

/// `latency`: the answer came within a time budget.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LatencyOptions {
    #[serde(deserialize_with = "required_non_negative")]
    #[schemars(range(min = 0.0))]
    pub max_ms: f64,
}

/// `cost`: the answer cost at most a budget (needs the model's prices in promptops.yaml).
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CostOptions {
    #[serde(deserialize_with = "required_non_negative")]
    #[schemars(range(min = 0.0))]
    pub max_usd: f64,
}

/// A scorer that takes no options.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoOptions {}

/// Every scorer with its options: the `options` of a scorer named `name`.
#[derive(Clone, Debug)]
pub enum ScorerOptions {
    Exact(ExactOptions),
    Contains(ContainsOptions),
    NotContains(ContainsOptions),
    Regex(RegexOptions),
    JsonValid(NoOptions),
    JsonSchema(JsonSchemaOptions),
    JsonFields(JsonFieldsOptions),
    Similarity(SimilarityOptions),
    Numeric(NumericOptions),
    LlmJudge(JudgeOptions),
    Latency(LatencyOptions),
    Cost(CostOptions),
}

/// The metadata schema's scorer: `name`, `weight`, and `options` checked against the options
/// of the scorer named (`if name is X then options is XOptions`), so an editor completes the
/// options of the scorer at hand. `validate` reports a wrong option through the typed check
/// (`invalid-scorer-options`, with its own message), not through this schema.
impl JsonSchema for ScorerSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ScorerSpec".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let name = generator.subschema_for::<ScorerName>();
        let branches: Vec<Value> = ScorerOptions::schemas(generator)
            .into_iter()
            .map(|(scorer, options)| {
                serde_json::json!({
                    "if": {"properties": {"name": {"const": scorer}}, "required": ["name"]},
                    "then": {"properties": {"options": options}},
                })
            })
            .collect();
        schemars::json_schema!({
            "description": "A scorer and its weight; the options depend on the scorer.",
            "type": "object",
            "additionalProperties": false,
            "required": ["name"],
            "properties": {
                "name": name,
                "weight": {
                    "description": "Relative weight in the example's score (default 1).",
                    "type": "number",
                    "minimum": 0.0,
                    "maximum": 1000.0,
                    "default": 1.0,
                },
                "options": {
                    "description": "The scorer's settings: see the options of each scorer.",
                    "type": ["object", "null"],
                },
            },
            "allOf": branches,
        })
    }
}

/// A scorer's option that is wrong: where under `options` (a JSON pointer suffix) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptionError {
    pub pointer: String,
    pub message: String,
}

impl OptionError {
    pub fn new(pointer: impl Into<String>, message: impl Into<String>) -> OptionError {
        OptionError {
            pointer: pointer.into(),
            message: message.into(),
        }
    }
}

impl ScorerOptions {
    /// Reads the options of scorer `name`; `at` is the pointer of `options` in the error.
    pub fn read(
        name: ScorerName,
        options: &Map<String, Value>,
        at: &str,
    ) -> Result<ScorerOptions, OptionError> {
        let value = Value::Object(options.clone());
        let read = |fields: &'static [&'static str]| ReadContext { name, at, fields };
        Ok(match name {
            ScorerName::Exact => ScorerOptions::Exact(read(EXACT).parse(value)?),
            ScorerName::Contains => ScorerOptions::Contains(read(CONTAINS).parse(value)?),
            ScorerName::NotContains => ScorerOptions::NotContains(read(CONTAINS).parse(value)?),
            ScorerName::Regex => {
                ScorerOptions::Regex(read(&["pattern", "ignore_case"]).parse(value)?)
            }
            ScorerName::JsonValid => ScorerOptions::JsonValid(read(&[]).parse(value)?),
            ScorerName::JsonSchema => ScorerOptions::JsonSchema(read(&["schema"]).parse(value)?),
            ScorerName::JsonFields => ScorerOptions::JsonFields(read(&["fields"]).parse(value)?),
            ScorerName::Similarity => ScorerOptions::Similarity(read(SIMILARITY).parse(value)?),
            ScorerName::Numeric => {
                ScorerOptions::Numeric(read(&["tolerance", "relative"]).parse(value)?)
            }
            ScorerName::LlmJudge => ScorerOptions::LlmJudge(
                read(&["rubric", "provider", "model", "threshold"]).parse(value)?,
            ),
            ScorerName::Latency => ScorerOptions::Latency(read(&["max_ms"]).parse(value)?),
            ScorerName::Cost => ScorerOptions::Cost(read(&["max_usd"]).parse(value)?),
        })
    }

    /// The JSON Schema of each scorer's options, by scorer name, for the metadata schema.
    pub fn schemas(
        generator: &mut schemars::SchemaGenerator,
    ) -> Vec<(&'static str, schemars::Schema)> {
        vec![
            ("exact", generator.subschema_for::<ExactOptions>()),
            ("contains", generator.subschema_for::<ContainsOptions>()),
            ("not_contains", generator.subschema_for::<ContainsOptions>()),
            ("regex", generator.subschema_for::<RegexOptions>()),
            ("json_valid", generator.subschema_for::<NoOptions>()),
            (
                "json_schema",
                generator.subschema_for::<JsonSchemaOptions>(),
            ),
            (
                "json_fields",
                generator.subschema_for::<JsonFieldsOptions>(),
            ),
            ("similarity", generator.subschema_for::<SimilarityOptions>()),
            ("numeric", generator.subschema_for::<NumericOptions>()),
            ("llm_judge", generator.subschema_for::<JudgeOptions>()),
            ("latency", generator.subschema_for::<LatencyOptions>()),
            ("cost", generator.subschema_for::<CostOptions>()),
        ]
    }
}

const NORMALIZE: [&str; 4] = [
    "ignore_case",
    "trim",
    "normalize_whitespace",
    "ignore_punctuation",
];
const EXACT: &[&str] = &NORMALIZE;
const CONTAINS: &[&str] = &[
    "value",
    "values",
    "any",
    "ignore_case",
    "trim",
    "normalize_whitespace",
    "ignore_punctuation",
];
const SIMILARITY: &[&str] = &[
    "method",
    "threshold",
    "ignore_case",
    "trim",
    "normalize_whitespace",
    "ignore_punctuation",
];

/// What an error message needs to know: the scorer, where its options are, which it takes.
struct ReadContext<'a> {
    name: ScorerName,
    at: &'a str,
    fields: &'static [&'static str],
}

impl ReadContext<'_> {
    /// Deserialises the options, turning serde's error into an [`OptionError`] at the option.
    fn parse<T: serde::de::DeserializeOwned>(&self, value: Value) -> Result<T, OptionError> {
        serde_path_to_error::deserialize::<_, T>(value).map_err(|error| {
            let key = error
                .path()
                .iter()
                .filter_map(|segment| match segment {
                    serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                    serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
                    _ => None,
                })
                .collect::<Vec<_>>();
            self.describe(&key, &error.into_inner().to_string())
        })
    }

    fn describe(&self, path: &[String], message: &str) -> OptionError {
        let scorer = super::scorer_name(self.name);
        let mut pointer = String::new();
        for key in path {
            pointer.push('/');
            pointer.push_str(&crate::domain::yaml::escape_pointer_token(key));
        }
        let at = format!("{}{pointer}", self.at);
        if let Some(rest) = message.strip_prefix("unknown field `") {
            let key = rest.split('`').next().unwrap_or_default();
            let known = if self.fields.is_empty() {
                "this scorer takes no options".to_owned()
            } else {
                format!("known options: {}", self.fields.join(", "))
            };
            // The path ends at the unknown key.
            let at = if path.last().is_some_and(|last| last == key) {
                at
            } else {
                format!("{at}/{}", crate::domain::yaml::escape_pointer_token(key))
            };
            return OptionError::new(at, format!("unknown option `{key}`; {known}"));
        }
        if let Some(rest) = message.strip_prefix("missing field `") {
            let key = rest.split('`').next().unwrap_or_default();
            let what = match key {
                "rubric" => ": what a good answer does",
                "fields" => ": field name -> {scorer, weight, ...}",
                _ => "",
            };
            return OptionError::new(at, format!("`{scorer}` needs `options.{key}`{what}"));
        }
        let key = path.last().map_or("options", String::as_str);
        let expected = message
            .rsplit_once(", expected ")
            .map_or(message, |(_, expected)| expected);
        let expected = match (key, expected) {
            ("values", _) => "a list of strings",
            (_, "a sequence" | "a string") if path.len() > 1 => "a string",
            (_, "variant identifier") => "`edit_distance` or `token_f1`",
            (_, other) => other,
        };
        if key == "method" {
            let given = message.split('`').nth(1).unwrap_or_default();
            return OptionError::new(
                at,
                format!("unknown method `{given}`; use `edit_distance` or `token_f1`"),
            );
        }
        if path.len() > 1 && path[0] == "values" {
            return OptionError::new(at, "`values` holds strings");
        }
        OptionError::new(at, format!("`{key}` is {expected}"))
    }
}

fn flag<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    struct Flag;
    impl Visitor<'_> for Flag {
        type Value = bool;
        fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            formatter.write_str("true or false")
        }
        fn visit_bool<E: de::Error>(self, value: bool) -> Result<bool, E> {
            Ok(value)
        }
    }
    deserializer.deserialize_bool(Flag)
}

struct Text;

impl Visitor<'_> for Text {
    type Value = String;
    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, value: &str) -> Result<String, E> {
        Ok(value.to_owned())
    }
}

fn text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    deserializer.deserialize_str(Text).map(Some)
}

/// A string that must say something (a blank rubric is no rubric).
fn required_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let value = deserializer.deserialize_str(Text)?;
    if value.trim().is_empty() {
        return Err(de::Error::invalid_value(
            Unexpected::Str(&value),
            &"a text that is not blank",
        ));
    }
    Ok(value)
}

/// A number in `[low, high]`, named for the error message.
struct Number {
    low: f64,
    high: f64,
    expecting: &'static str,
}

impl Visitor<'_> for Number {
    type Value = f64;
    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.expecting)
    }
    fn visit_f64<E: de::Error>(self, value: f64) -> Result<f64, E> {
        if value.is_finite() && value >= self.low && value <= self.high {
            Ok(value)
        } else {
            Err(E::invalid_value(Unexpected::Float(value), &self))
        }
    }
    fn visit_u64<E: de::Error>(self, value: u64) -> Result<f64, E> {
        self.visit_f64(value as f64)
    }
    fn visit_i64<E: de::Error>(self, value: i64) -> Result<f64, E> {
        self.visit_f64(value as f64)
    }
}

const AT_LEAST_ZERO: Number = Number {
    low: 0.0,
    high: f64::MAX,
    expecting: "a number of at least 0",
};

fn non_negative<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<f64>, D::Error> {
    deserializer.deserialize_f64(AT_LEAST_ZERO).map(Some)
}

fn required_non_negative<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    deserializer.deserialize_f64(AT_LEAST_ZERO)
}

fn fraction<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<f64>, D::Error> {
    deserializer
        .deserialize_f64(Number {
            low: 0.0,
            high: 1.0,
            expecting: "a number between 0 and 1",
        })
        .map(Some)
}
