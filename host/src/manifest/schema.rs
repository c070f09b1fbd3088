//! The manifest's JSON Schema (`wit/manifest.schema.json`, draft 2020-12),
//! embedded in the host, and its validation errors turned into [`Problem`]s
//! that say where, what was found, what is allowed and what to change.
//!
//! The schema carries two annotation keywords for the messages: `x-expected`
//! (what is allowed, in words) and `x-fix` (what to add or change), so the
//! wording lives next to the rule it explains.

use std::sync::LazyLock;

use jsonschema::error::ValidationErrorKind;
use jsonschema::paths::{Location, LocationSegment};
use jsonschema::{ValidationError, Validator};
use serde_json::Value;

use super::{Problem, TOP_LEVEL};

/// The manifest's JSON Schema (draft 2020-12), as shipped in `wit/`.
pub const SCHEMA: &str = include_str!("../../../wit/manifest.schema.json");

/// The parsed schema and its compiled validator, built once.
static COMPILED: LazyLock<(Value, Validator)> = LazyLock::new(|| {
    let schema: Value = serde_json::from_str(SCHEMA)
        .expect("wit/manifest.schema.json is valid JSON (a unit test checks)");
    let validator = jsonschema::draft202012::new(&schema)
        .expect("wit/manifest.schema.json is a valid 2020-12 schema (a unit test checks)");
    (schema, validator)
});

/// Parses TOML into the JSON value the schema checks. TOML dates become
/// strings (the schema then says where they are not allowed); a syntax error
/// is one problem naming the line and column.
pub(super) fn toml_to_json(text: &str) -> Result<Value, Problem> {
    let table: toml::Table = toml::from_str(text).map_err(|error| {
        let position = error
            .span()
            .map(|span| {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                format!(" at line {line}, column {column}")
            })
            .unwrap_or_default();
        Problem::new(
            TOP_LEVEL,
            format!(
                "a TOML syntax error{position}: {}",
                error.message().trim_end()
            ),
            "a TOML document (https://toml.io)",
            "fix the syntax there; strings need double quotes",
        )
    })?;
    Ok(toml_value(toml::Value::Table(table)))
}

fn toml_value(value: toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::from(i),
        toml::Value::Float(f) => serde_json::Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(f.to_string())),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::Array(items.into_iter().map(toml_value).collect()),
        toml::Value::Table(table) => Value::Object(
            table
                .into_iter()
                .map(|(key, value)| (key, toml_value(value)))
                .collect(),
        ),
    }
}

/// Every schema violation in `manifest`, as problems.
pub(super) fn validate(manifest: &Value) -> Vec<Problem> {
    let (schema, validator) = &*COMPILED;
    let mut problems = Vec::new();
    for error in validator.iter_errors(manifest) {
        for problem in problems_for(&error, schema) {
            if !problems.contains(&problem) {
                problems.push(problem);
            }
        }
    }
    problems
}

/// The problems one schema error stands for (one per unknown key, else one).
fn problems_for(error: &ValidationError<'_>, schema: &Value) -> Vec<Problem> {
    let at = render_path(error.instance_path());
    let (referrer, node) = schema_node(schema, error.evaluation_path());
    let instance = error.instance().as_ref();
    let expected = annotation(schema, referrer, "x-expected")
        .or_else(|| annotation(schema, node, "x-expected"));
    let fix = annotation(schema, referrer, "x-fix").or_else(|| annotation(schema, node, "x-fix"));
    let problem = |found: String, allowed: String, hint: Option<String>| {
        vec![Problem::new(
            at.clone(),
            found,
            allowed,
            hint.or_else(|| fix.clone())
                .unwrap_or_else(|| format!("change {at}")),
        )]
    };
    match error.kind() {
        ValidationErrorKind::Required { property } => {
            let property = property.as_str().unwrap_or_default();
            let property_schema = node.and_then(|n| n.get("properties")?.get(property));
            let path = join(&at, property);
            let allowed = annotation(schema, property_schema, "x-expected")
                .or_else(|| enum_options(schema, property_schema))
                .unwrap_or_else(|| "a value (it is required)".into());
            let fix = annotation(schema, property_schema, "x-fix")
                .unwrap_or_else(|| format!("add {property}"));
            vec![Problem::new(path, "nothing", allowed, fix)]
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            let known: Vec<&str> = node
                .and_then(|n| n.get("properties")?.as_object())
                .map(|properties| properties.keys().map(String::as_str).collect())
                .unwrap_or_default();
            unexpected
                .iter()
                .map(|key| {
                    let allowed = if known.is_empty() {
                        "no other keys".to_owned()
                    } else {
                        format!("only the keys {}", known.join(", "))
                    };
                    let fix = match did_you_mean(key, &known) {
                        Some(close) => format!("rename it to {close}, or remove it"),
                        None => "remove it: nothing is granted by a key Cally does not know".into(),
                    };
                    Problem::new(join(&at, key), "an unknown key", allowed, fix)
                })
                .collect()
        }
        ValidationErrorKind::Enum { options } => {
            let allowed = format!("one of {}", list(options));
            problem(describe(instance), allowed, wildcard_hint(instance))
        }
        ValidationErrorKind::Type { .. } => {
            let allowed = expected.clone().unwrap_or_else(|| {
                format!(
                    "a {}",
                    node.and_then(|n| n.get("type"))
                        .map_or("value".into(), |t| t.to_string())
                )
            });
            let found = match instance {
                Value::String(_) => format!("{} (a string)", describe(instance)),
                Value::Number(_) => format!("{} (a number)", describe(instance)),
                Value::Bool(_) => format!("{} (a boolean)", describe(instance)),
                _ => describe(instance),
            };
            problem(found, allowed, wildcard_hint(instance))
        }
        ValidationErrorKind::Pattern { .. } => problem(
            describe(instance),
            expected
                .clone()
                .unwrap_or_else(|| "another spelling".into()),
            wildcard_hint(instance),
        ),
        ValidationErrorKind::MinLength { limit } | ValidationErrorKind::MaxLength { limit } => {
            let chars = instance.as_str().map_or(0, |s| s.chars().count());
            let which = if matches!(error.kind(), ValidationErrorKind::MinLength { .. }) {
                "at least"
            } else {
                "at most"
            };
            problem(
                format!("{} characters", chars),
                expected
                    .clone()
                    .unwrap_or_else(|| format!("{which} {limit} characters")),
                None,
            )
        }
        ValidationErrorKind::Minimum { limit } | ValidationErrorKind::Maximum { limit } => {
            let which = if matches!(error.kind(), ValidationErrorKind::Minimum { .. }) {
                "at least"
            } else {
                "at most"
            };
            let allowed = match &expected {
                Some(expected) => format!("{which} {limit}: {expected}"),
                None => format!("{which} {limit}"),
            };
            problem(describe(instance), allowed, None)
        }
        ValidationErrorKind::MinItems { .. } | ValidationErrorKind::MaxItems { .. } => {
            let count = instance.as_array().map_or(0, Vec::len);
            problem(
                format!("{count} entries"),
                expected.clone().unwrap_or_else(|| error.to_string()),
                None,
            )
        }
        _ => problem(
            describe(instance),
            expected.clone().unwrap_or_else(|| error.to_string()),
            None,
        ),
    }
}

/// `reads[2].field` for the JSON pointer `/reads/2/field`.
pub(super) fn render_path(location: &Location) -> String {
    let mut path = String::new();
    for segment in location.iter() {
        match segment {
            LocationSegment::Index(i) => path.push_str(&format!("[{i}]")),
            LocationSegment::Property(key) => path = join(&path, &key),
        }
    }
    if path.is_empty() {
        TOP_LEVEL.into()
    } else {
        path
    }
}

/// `base.key`, quoting keys that are not bare TOML keys.
pub(super) fn join(base: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let key = if bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    };
    if base.is_empty() || base == TOP_LEVEL {
        key
    } else {
        format!("{base}.{key}")
    }
}

/// The schema object holding the keyword that failed (the keyword's parent),
/// reached along the evaluation path, `$ref`s followed; and, when the last
/// step was a `$ref`, the object that holds it, whose own annotations (such
/// as a field-specific `x-fix`) win over the shared definition's.
fn schema_node<'s>(
    schema: &'s Value,
    keyword: &Location,
) -> (Option<&'s Value>, Option<&'s Value>) {
    let segments: Vec<LocationSegment<'_>> = keyword.iter().collect();
    let parent = segments.split_last().map_or(&[][..], |(_, parent)| parent);
    let mut node = Some(schema);
    let mut referrer = None;
    for segment in parent {
        let Some(current) = node else { break };
        referrer = None;
        node = match segment {
            LocationSegment::Property(key) if key == "$ref" => {
                referrer = Some(current);
                resolve_ref(schema, current)
            }
            LocationSegment::Property(key) => current.get(key.as_ref()),
            LocationSegment::Index(i) => current.get(*i),
        };
    }
    (referrer, node)
}

fn resolve_ref<'s>(schema: &'s Value, node: &'s Value) -> Option<&'s Value> {
    let reference = node.get("$ref")?.as_str()?;
    schema.pointer(reference.strip_prefix('#')?)
}

/// The annotation `key` of `node`, or of the schema its `$ref` points to.
fn annotation(schema: &Value, node: Option<&Value>, key: &str) -> Option<String> {
    let node = node?;
    node.get(key)
        .or_else(|| resolve_ref(schema, node)?.get(key))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// `one of "a", "b"` for a property schema that is an enum.
fn enum_options(schema: &Value, node: Option<&Value>) -> Option<String> {
    let node = node?;
    let options = node
        .get("enum")
        .or_else(|| resolve_ref(schema, node)?.get("enum"))?;
    Some(format!("one of {}", list(options)))
}

/// `"a", "b", "c"` for a JSON array of options.
fn list(options: &Value) -> String {
    match options.as_array() {
        Some(items) => items
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        None => options.to_string(),
    }
}

/// The value as a message shows it: strings and numbers as written, other
/// kinds by what they are.
pub(super) fn describe(value: &Value) -> String {
    match value {
        Value::String(_) | Value::Number(_) | Value::Bool(_) => value.to_string(),
        Value::Array(items) => format!("an array of {} entries", items.len()),
        Value::Object(_) => "a table".into(),
        Value::Null => "nothing".into(),
    }
}

/// The hint for a wildcard such as `"*"` or `"all"` where one exact value belongs.
fn wildcard_hint(value: &Value) -> Option<String> {
    let text = value.as_str()?.trim().to_ascii_lowercase();
    let wildcard = text.contains('*') || matches!(text.as_str(), "all" | "any" | "everything");
    wildcard.then(|| {
        "wildcards are not accepted: nothing is granted by omission and no value means everything; list each one you need as its own entry".into()
    })
}

/// The known key `key` was probably meant to be, if any.
fn did_you_mean<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    const ALIASES: &[(&str, &str)] = &[
        ("fields", "reads"),
        ("read", "reads"),
        ("data", "reads"),
        ("channels", "messages"),
        ("message", "messages"),
        ("tag", "tags"),
        ("deadline_ms", "event_deadline_ms"),
        ("memory", "memory_mib"),
    ];
    let lower = key.to_ascii_lowercase().replace('-', "_");
    if let Some((_, to)) = ALIASES.iter().find(|(from, _)| *from == lower) {
        return known.iter().copied().find(|k| k == to);
    }
    known
        .iter()
        .copied()
        .map(|k| (edit_distance(&lower, k), k))
        .filter(|(distance, k)| *distance <= 2.max(k.len() / 4))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, k)| k)
}

/// Levenshtein distance, for suggestions between short keys.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_compiles_and_is_a_2020_12_schema() {
        let (schema, _) = &*COMPILED;
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        jsonschema::meta::validate(schema).expect("valid against the 2020-12 meta-schema");
    }

    #[test]
    fn suggestions_catch_typos_and_common_synonyms() {
        let known = ["reads", "messages", "tags", "limits"];
        assert_eq!(did_you_mean("raeds", &known), Some("reads"));
        assert_eq!(did_you_mean("fields", &known), Some("reads"));
        assert_eq!(did_you_mean("channels", &known), Some("messages"));
        assert_eq!(did_you_mean("permissions", &known), None);
    }

    #[test]
    fn paths_read_like_toml() {
        let location = Location::new().join("reads").join(2).join("field");
        assert_eq!(render_path(&location), "reads[2].field");
        assert_eq!(render_path(&Location::new()), TOP_LEVEL);
        assert_eq!(join("limits", "a.b"), "limits.\"a.b\"");
    }
}
