//! The house's one direction, checked: every module of the crate has a place in
//! [`LAYERS`], lowest first, and may name (`crate::<module>`, in a `use` or a
//! path) only modules below it, plus the few back edges in [`BACK_EDGES`], each
//! with its reason. Data and imports flow api/cli → session → capabilities →
//! consent, audit → store.
//!
//! A newcomer who adds a back edge learns it here, not in review. Adding
//! `use crate::api::ApiHost;` to `store/mod.rs` fails
//! `every_module_imports_only_modules_below_it` with:
//!
//! ```text
//! store/mod.rs:12 names crate::api, a module above store; move what it needs
//! below store, or list the edge in BACK_EDGES with its reason
//! ```
//!
//! (`a_back_edge_is_found_and_named` runs exactly that check on such a line.)

/// Every top-level module of the crate, lowest layer first.
const LAYERS: &[&str] = &[
    "clock",
    "ids",
    "histogram",
    "consent",
    "secret_file",
    "host_key",
    "store",
    "audit",
    "bindings",
    "protocol",
    "capabilities",
    "sandbox",
    "component",
    "examples",
    "manifest",
    "session",
    "retention",
    "simulate",
    "api",
    "cli",
    "layering",
];

/// The edges that point up, each with why it exists today. Each must still
/// exist (the test fails on one that is gone, so the list only shrinks).
const BACK_EDGES: &[(&str, &str, &str)] = &[
    (
        "secret_file",
        "store",
        "a key file is checked with the store's owner-only file check (ensure_owner_only)",
    ),
    (
        "store",
        "audit",
        "the store persists audit records; their types and canonical encoding live in \
         audit::record, which is pure (no I/O)",
    ),
    (
        "bindings",
        "capabilities",
        "bindgen's `with:` maps the WIT resources to the personal-data capability's handle types",
    ),
    (
        "capabilities",
        "sandbox",
        "host functions run on the sandbox's per-instance state (PluginState, EventBudget, \
         PluginLog); capabilities as units will own their state behind a view",
    ),
    (
        "capabilities",
        "manifest",
        "the data gate's Declared is built from the manifest, and a not-declared denial quotes \
         the manifest's TOML to add",
    ),
];

/// A module's rank in [`LAYERS`].
fn rank(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| *layer == module)
}

/// The crate modules `line` names (`crate::<module>`), outside comments.
fn named_modules(line: &str) -> Vec<&str> {
    let code = line.trim_start();
    if code.starts_with("//") {
        return Vec::new();
    }
    let mut names = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        if end > 0 {
            names.push(&after[..end]);
        }
        rest = &after[end..];
    }
    names
}

/// The violations in `text`, a file of `module` at `path`: each upward name not
/// in [`BACK_EDGES`]; and every edge seen, for the check that listed ones exist.
fn check_file(
    module: &str,
    path: &str,
    text: &str,
    seen: &mut Vec<(String, String)>,
) -> Vec<String> {
    let own = rank(module).unwrap_or(usize::MAX);
    let mut problems = Vec::new();
    for (number, line) in text.lines().enumerate() {
        for named in named_modules(line) {
            let Some(theirs) = rank(named) else { continue };
            if named == module {
                continue;
            }
            seen.push((module.to_owned(), named.to_owned()));
            let listed = BACK_EDGES
                .iter()
                .any(|(from, to, _)| *from == module && *to == named);
            if theirs > own && !listed {
                problems.push(format!(
                    "{path}:{} names crate::{named}, a module above {module}; move what it \
                     needs below {module}, or list the edge in BACK_EDGES with its reason",
                    number + 1
                ));
            }
        }
    }
    problems
}

#[test]
fn every_module_imports_only_modules_below_it() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut problems = Vec::new();
    let mut seen = Vec::new();
    let mut files = vec![src.clone()];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                files.push(entry.unwrap().path());
            }
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let relative = path.strip_prefix(&src).unwrap();
        let first = relative.components().next().unwrap().as_os_str();
        let module = first.to_str().unwrap().trim_end_matches(".rs");
        if module == "lib" || module == "main" {
            continue;
        }
        assert!(
            rank(module).is_some(),
            "module `{module}` has no place in LAYERS (host/src/layering.rs): add it where it belongs"
        );
        let text = std::fs::read_to_string(&path).unwrap();
        let shown = relative.display().to_string();
        problems.extend(check_file(module, &shown, &text, &mut seen));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    for (from, to, why) in BACK_EDGES {
        assert!(
            seen.iter().any(|(f, t)| f == from && t == to),
            "the back edge {from} → {to} ({why}) is gone: remove it from BACK_EDGES"
        );
    }
}

#[test]
fn a_back_edge_is_found_and_named() {
    let mut seen = Vec::new();
    let problems = check_file(
        "store",
        "store/mod.rs",
        "//! See crate::api for the handlers.\nuse crate::consent::Purpose;\n\nuse crate::api::ApiHost;\n",
        &mut seen,
    );
    assert_eq!(
        problems,
        [
            "store/mod.rs:4 names crate::api, a module above store; move what it needs below \
          store, or list the edge in BACK_EDGES with its reason"
        ]
    );
    // A listed back edge passes; a comment names nothing.
    let listed = check_file(
        "store",
        "store/x.rs",
        "use crate::audit::AuditRecord;",
        &mut seen,
    );
    assert!(listed.is_empty(), "{listed:?}");
}
