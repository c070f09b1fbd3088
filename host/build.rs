//! Builds the example plugins (`examples/`) for wasm32-wasip2 and writes
//! `$OUT_DIR/bundled_examples.rs`: a `&[crate::examples::BundledExample]`
//! expression that embeds each component with its manifest and sample input,
//! so the `cally` binary carries them (`cally simulate --example <name>`).

use std::fmt::Write;
use std::path::{Path, PathBuf};

use cally_guest_build::{GuestComponent, GuestWorkspace, fail, shared_target_dir};

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo"));
    let root = manifest_dir
        .parent()
        .expect("host/ is inside the repository");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("run by cargo"));
    let examples = GuestWorkspace::new(root.join("examples"))
        .target_dir(shared_target_dir(root))
        .copy_to(out_dir.join("examples"))
        .build()
        .unwrap_or_else(|error| fail(&error));

    let mut code = String::from("&[\n");
    for example in &examples {
        bundle(&mut code, example).unwrap_or_else(|message| {
            eprintln!("error bundling example '{}': {message}", example.package);
            std::process::exit(1)
        });
    }
    code.push_str("]\n");
    let out = out_dir.join("bundled_examples.rs");
    std::fs::write(&out, code)
        .unwrap_or_else(|error| panic!("error writing '{}': {error}", out.display()));
}

/// Appends one `BundledExample { .. },` for `example`.
fn bundle(code: &mut String, example: &GuestComponent) -> Result<(), String> {
    let manifest = example.package_dir.join("cally.toml");
    println!("cargo:rerun-if-changed={}", manifest.display());
    let text = std::fs::read_to_string(&manifest)
        .map_err(|error| format!("cannot read '{}': {error}", manifest.display()))?;
    let (world, sample) = match manifest_world(&text) {
        Some("call-flow") => ("CallFlow", "call.json"),
        Some("lead-tagger") => ("LeadTagger", "summary.json"),
        Some(other) => {
            return Err(format!(
                "'{}' names world \"{other}\"; expected \"call-flow\" or \"lead-tagger\"",
                manifest.display()
            ));
        }
        None => {
            return Err(format!(
                "'{}' has no `world = \"...\"` line",
                manifest.display()
            ));
        }
    };
    let sample = example.package_dir.join(sample);
    if !sample.is_file() {
        return Err(format!("its sample '{}' is missing", sample.display()));
    }
    writeln!(
        code,
        "    crate::examples::BundledExample {{\n        \
             name: {:?},\n        \
             world: crate::examples::World::{world},\n        \
             component: include_bytes!({:?}),\n        \
             manifest: include_str!({:?}),\n        \
             sample: include_str!({:?}),\n    \
         }},",
        example.package,
        literal(&example.wasm)?,
        literal(&manifest)?,
        literal(&sample)?,
    )
    .expect("writing to a String");
    Ok(())
}

/// The value of the manifest's top-level `world = "..."` line. (The manifest
/// format is still a placeholder; the host's `manifest` module will own it.)
fn manifest_world(manifest: &str) -> Option<&str> {
    manifest.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == "world").then(|| value.trim().trim_matches('"'))
    })
}

/// `path` as a `&str` for a string literal.
fn literal(path: &Path) -> Result<&str, String> {
    path.to_str()
        .ok_or_else(|| format!("path '{}' is not valid UTF-8", path.display()))
}
