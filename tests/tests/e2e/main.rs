//! End-to-end tests: real components built from `examples/` and
//! `tests/plugins/`, run through the real wasmtime sandbox, and the real
//! `cally` binary run as a process.
//!
//! Modules:
//! - `examples`: each example plays its scripted call and the expected actions come back.
//! - `hostile`: plugins that loop, exhaust memory, overflow the stack, panic,
//!   flood output or reach for what they were not given; each is contained.
//! - `isolation`: calls never share memory.
//! - `personal_data`: every denial, complete mediation, fail closed, withdrawal mid-call, handles, messages and tags.
//! - `artifacts`: precompiled artifacts are reused, and corrupt or incompatible ones replaced.
//! - `sessions`: one task per call, events in order, idle timeout.
//! - `cli`: `cally simulate` as a developer runs it.

mod common;
mod data;

mod artifacts;
mod cli;
mod examples;
mod hostile;
mod isolation;
mod personal_data;
mod sessions;
