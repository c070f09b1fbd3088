//! Cally: a WebAssembly plugin host for per-tenant call-flow scripting.
//!
//! # Layout
//!
//! Start at [`session`]: a call's plugin instance, fed events, returning actions.
//!
//! - [`sandbox`]: the wasmtime engine, its pool and the limits every plugin runs under:
//!   admission before instantiation (per-tenant caps, the host's memory budget), each
//!   event's CPU-time and host-call budget; the WASI context that grants nothing.
//! - [`component`]: bytes to runnable plugin: imports/exports read from the binary,
//!   compilation, the in-memory cache and precompiled artifacts on disk.
//! - [`session`]: one call (a fresh instance per call, one task per call), lead-tagger
//!   runs, and the failures that end a plugin's call with the tenant's fallback.
//! - [`capabilities`]: the host side of each `cally:plugin` interface.
//! - [`manifest`]: capability manifests (`cally.toml`): the JSON Schema and semantic
//!   checks, the static import check, the reviewer's report, the diff between
//!   versions and the approval model.
//! - [`consent`]: the consent model and [`consent::decide`], the one decision every
//!   personal-data read, tag and message goes through (pure, no I/O).
//! - [`audit`]: the hash-chained audit log, its group-commit writer, `verify`, export,
//!   and signed checkpoints of each chain head (host key outside the database).
//! - [`store`]: sqlx persistence behind narrow traits, one module per concern
//!   ([`store::LeadStore`], [`store::AuditStore`], [`store::PluginStore`], ...; a
//!   caller holds the one it uses, the API host all of them as [`store::Store`]);
//!   `store/sqlite/` the SQLite backend, one file per trait; `store/conformance/`
//!   the contract every backend passes.
//! - [`protocol`]: call events and actions as JSON, and the checks on plugin output.
//! - [`host_key`]: the 0600 key files under the data directory that MAC what the host
//!   writes where an insider could edit it (artifacts, approval records).
//! - [`secret_file`]: how every owner-only secret file under the data directory is
//!   read, created (0600, never half-written) or replaced; the key types build on it.
//! - [`ids`]: the one grammar every id is checked against where it enters.
//! - [`simulate`]: the local runner behind `cally simulate`.
//! - [`examples`]: the example plugins bundled into the binary.
//! - [`api`]: the HTTP API behind `cally serve`: keys and roles, plugins, calls,
//!   leads and consents, audit.
//! - [`retention`]: per-tenant retention policies and the audited purge (on
//!   demand and on a schedule inside `cally serve`).
//! - [`cli`]: the `cally` subcommands (the binary's edge).
//! - [`bindings`]: the generated WIT bindings.
//! - [`clock`]: the host clock, `now_ms`, that every record is stamped with (a leaf).
//!
//! Imports point one way: api/cli → session → capabilities → consent, audit →
//! store. `layering.rs` (a test) gives every module its layer and fails when one
//! names a module above it, except the few back edges it lists with their reasons.

pub mod api;
pub mod audit;
pub mod bindings;
pub mod capabilities;
pub mod cli;
pub mod clock;
pub mod component;
pub mod consent;
pub mod examples;
pub mod histogram;
pub mod host_key;
pub mod ids;
pub mod manifest;
pub mod protocol;
pub mod retention;
pub mod sandbox;
pub mod secret_file;
pub mod session;
pub mod simulate;
pub mod store;

#[cfg(test)]
mod layering;
