//! The example plugins, built for `wasm32-wasip2` by the build script and
//! bundled into the `cally` binary, so `cally simulate --example` and
//! `cally serve --demo` work from a fresh clone with nothing else to build.

use crate::component::World;

/// One example plugin with its manifest and a sample input.
pub struct BundledExample {
    /// The example's name, such as `appointment-reminder`.
    pub name: &'static str,
    /// The world it targets.
    pub world: World,
    /// The component's bytes.
    pub component: &'static [u8],
    /// Its manifest (`cally.toml`).
    pub manifest: &'static str,
    /// A sample input: a call script for a call flow, a call summary for a lead tagger.
    pub sample: &'static str,
}

/// Every bundled example.
pub static BUNDLED: &[BundledExample] = include!(concat!(env!("OUT_DIR"), "/bundled_examples.rs"));

/// The bundled example called `name`, if there is one.
pub fn find(name: &str) -> Option<&'static BundledExample> {
    BUNDLED.iter().find(|example| example.name == name)
}

/// The names of every bundled example, for error messages and listings.
pub fn names() -> Vec<&'static str> {
    BUNDLED.iter().map(|example| example.name).collect()
}
