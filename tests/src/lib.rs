//! Where the end-to-end tests find their plugins.
//!
//! Before any test compiles, the build script builds the example plugins
//! (`examples/`) and the test plugins (`tests/plugins/`) for `wasm32-wasip2`
//! into `target/guests`, copies the components into its `OUT_DIR`, and
//! records where each one is:
//!
//! ```no_run
//! let component: &std::path::Path = cally_tests::plugin("infinite-loop");
//! let router = cally_tests::example("support-router");
//! let script = cally_tests::example_dir("support-router").join("call.json");
//! # let _ = (component, router, script);
//! ```
//!
//! Names are package names, as in the workspaces' `Cargo.toml`. The tests
//! themselves are in `tests/e2e/`.

use std::path::Path;

/// One built guest, from the build script's table.
struct Guest {
    /// The package name.
    name: &'static str,
    /// The absolute path of its component.
    wasm: &'static str,
    /// The absolute path of its package directory.
    dir: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/guests.rs"));

/// The component of the test plugin `name` in `tests/plugins/`, such as
/// `well-behaved` or `infinite-loop`.
///
/// # Panics
///
/// If there is no such test plugin; the message lists the ones there are.
pub fn plugin(name: &str) -> &'static Path {
    Path::new(find(PLUGINS, "test plugin", name).wasm)
}

/// The component of the example `name` in `examples/`, such as
/// `support-router`.
///
/// # Panics
///
/// If there is no such example; the message lists the ones there are.
pub fn example(name: &str) -> &'static Path {
    Path::new(find(EXAMPLES, "example", name).wasm)
}

/// The source directory of the example `name` (`examples/<name>`), with its
/// `cally.toml` and sample scripts (`call.json` or `summary.json`).
///
/// # Panics
///
/// If there is no such example; the message lists the ones there are.
pub fn example_dir(name: &str) -> &'static Path {
    Path::new(find(EXAMPLES, "example", name).dir)
}

/// The source directory of the test plugin `name` (`tests/plugins/<name>`),
/// with its `cally.toml` where it has one.
///
/// # Panics
///
/// If there is no such test plugin; the message lists the ones there are.
pub fn plugin_dir(name: &str) -> &'static Path {
    Path::new(find(PLUGINS, "test plugin", name).dir)
}

/// The names of every test plugin, in `tests/plugins/Cargo.toml` order.
pub fn plugin_names() -> impl Iterator<Item = &'static str> {
    PLUGINS.iter().map(|guest| guest.name)
}

/// The names of every example, in `examples/Cargo.toml` order.
pub fn example_names() -> impl Iterator<Item = &'static str> {
    EXAMPLES.iter().map(|guest| guest.name)
}

fn find(table: &'static [Guest], kind: &str, name: &str) -> &'static Guest {
    table
        .iter()
        .find(|guest| guest.name == name)
        .unwrap_or_else(|| {
            let known: Vec<_> = table.iter().map(|guest| guest.name).collect();
            panic!("unknown {kind} `{name}`; there are: {}", known.join(", "))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_guest_was_built_as_a_component() {
        for guest in EXAMPLES.iter().chain(PLUGINS) {
            let bytes = std::fs::read(guest.wasm).unwrap();
            assert_eq!(bytes[..8], cally_guest_build_header(), "{}", guest.name);
        }
        assert!(example_dir("lead-qualifier").join("summary.json").is_file());
    }

    #[test]
    #[should_panic(expected = "unknown test plugin `nope`; there are: well-behaved")]
    fn an_unknown_name_panics_listing_the_known_ones() {
        plugin("nope");
    }

    /// `\0asm`, version 0x0d, layer 1.
    fn cally_guest_build_header() -> [u8; 8] {
        [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00]
    }
}
