//! The checks the schema cannot express (or only with unreadable errors):
//! a semantic version, each grant listed once, preference keys only on the
//! `preferences` read and each once, what each world can do, and a fallback
//! that ends the plugin's part of the call.
//!
//! They run on the JSON value next to the schema, and skip whatever has the
//! wrong shape (the schema reports that), so one run lists every problem.

use std::collections::HashMap;

use serde_json::Value;

use super::Problem;
use super::schema::describe;

/// Every semantic problem in `manifest`.
pub(super) fn check(manifest: &Value) -> Vec<Problem> {
    let mut problems = Vec::new();
    version(manifest, &mut problems);
    once_each(manifest, "reads", "field", &mut problems);
    once_each(manifest, "messages", "channel", &mut problems);
    once_each(manifest, "tags", "tag", &mut problems);
    preference_keys(manifest, &mut problems);
    if manifest.get("world").and_then(Value::as_str) == Some("lead-tagger") {
        lead_tagger(manifest, &mut problems);
    }
    fallback_ends_the_call(manifest, &mut problems);
    problems
}

/// `version` must be a semantic version: approvals and diffs name versions.
fn version(manifest: &Value, problems: &mut Vec<Problem>) {
    let Some(version) = manifest.get("version").and_then(Value::as_str) else {
        return;
    };
    if let Err(error) = semver::Version::parse(version) {
        problems.push(Problem::new(
            "version",
            format!("{} ({error})", describe(&manifest["version"])),
            "a semantic version MAJOR.MINOR.PATCH, such as \"1.2.0\"",
            "set version = \"<major>.<minor>.<patch>\", such as \"1.0.0\"",
        ));
    }
}

/// Each field, channel or tag is granted at most once: two entries would
/// give two reasons for one grant, and a diff could not tell which one changed.
fn once_each(manifest: &Value, list: &str, key: &str, problems: &mut Vec<Problem>) {
    let Some(entries) = manifest.get(list).and_then(Value::as_array) else {
        return;
    };
    let mut first: HashMap<&str, usize> = HashMap::new();
    for (i, entry) in entries.iter().enumerate() {
        let Some(value) = entry.get(key).and_then(Value::as_str) else {
            continue;
        };
        if let Some(&earlier) = first.get(value) {
            problems.push(Problem::new(
                format!("{list}[{i}].{key}"),
                format!("{value:?} again (already at {list}[{earlier}])"),
                format!("each {key} at most once"),
                "remove one of the two entries, keeping one reason that covers both uses",
            ));
        } else {
            first.insert(value, i);
        }
    }
}

/// `keys` names preference keys, so it belongs on the `preferences` read
/// only; each key is listed once (a diff compares them one by one).
fn preference_keys(manifest: &Value, problems: &mut Vec<Problem>) {
    let Some(reads) = manifest.get("reads").and_then(Value::as_array) else {
        return;
    };
    for (i, read) in reads.iter().enumerate() {
        let Some(keys) = read.get("keys").and_then(Value::as_array) else {
            continue;
        };
        match read.get("field").and_then(Value::as_str) {
            Some("preferences") => {}
            Some(field) => {
                problems.push(Problem::new(
                    format!("reads[{i}].keys"),
                    format!("keys on field {field:?}"),
                    "keys only on the [[reads]] entry with field = \"preferences\"",
                    "move keys to the preferences entry, or remove it",
                ));
                continue;
            }
            None => continue,
        }
        let mut first: HashMap<&str, usize> = HashMap::new();
        for (j, key) in keys.iter().enumerate() {
            let Some(key) = key.as_str() else { continue };
            if let Some(&earlier) = first.get(key) {
                problems.push(Problem::new(
                    format!("reads[{i}].keys[{j}]"),
                    format!("{key:?} again (already at reads[{i}].keys[{earlier}])"),
                    "each preference key at most once",
                    "remove the repeated key",
                ));
            } else {
                first.insert(key, j);
            }
        }
    }
}

/// A lead tagger runs after the call and returns tags only: it must be
/// granted at least one tag, and cannot send messages or need a fallback.
fn lead_tagger(manifest: &Value, problems: &mut Vec<Problem>) {
    if let Some(messages) = manifest.get("messages").and_then(Value::as_array)
        && !messages.is_empty()
    {
        problems.push(Problem::new(
            "messages",
            format!(
                "{} message channel(s) for world lead-tagger",
                messages.len()
            ),
            "no [[messages]] for a lead-tagger, which returns tags only",
            "remove the [[messages]] entries, or send messages from a call-flow plugin",
        ));
    }
    if manifest.get("fallback").is_some() {
        problems.push(Problem::new(
            "fallback",
            "a fallback for world lead-tagger",
            "no fallback for a lead-tagger: there is no live call to act on, a failed tagger writes no tags",
            "remove the [[fallback]] entries",
        ));
    }
    // A `tags` of the wrong type is the schema's to report.
    let no_tags = match manifest.get("tags") {
        None => true,
        Some(Value::Array(tags)) => tags.is_empty(),
        Some(_) => false,
    };
    if no_tags {
        problems.push(Problem::new(
            "tags",
            "nothing",
            "at least one [[tags]] entry for a lead-tagger: tags are all it returns, and a tag not listed is denied",
            "add a [[tags]] entry with tag = \"...\" and reason = \"...\" for each tag the plugin writes",
        ));
    }
}

/// A fallback runs because the plugin failed, so it must end the plugin's
/// part of the call: its last action hangs up or transfers.
fn fallback_ends_the_call(manifest: &Value, problems: &mut Vec<Problem>) {
    let Some(last) = manifest
        .get("fallback")
        .and_then(Value::as_array)
        .and_then(|actions| actions.last())
    else {
        return;
    };
    let count = manifest["fallback"].as_array().map_or(0, Vec::len);
    let Some(kind) = last.get("type").and_then(Value::as_str) else {
        return;
    };
    if !matches!(kind, "hang_up" | "transfer") {
        problems.push(Problem::new(
            format!("fallback[{}].type", count - 1),
            format!("{kind:?} as the last fallback action"),
            "a fallback that ends with \"hang_up\" or \"transfer\": the plugin has failed and cannot steer the call any further",
            "add a last [[fallback]] entry with type = \"hang_up\", or type = \"transfer\" and target = \"<alias>\"",
        ));
    }
}
