//! Host bindings for the `cally:plugin` WIT package, generated once for both worlds.
//!
//! The `call-flow` world's bindings own the shared `types` and `log` interfaces;
//! the `lead-tagger` world reuses them through `with:`, so each WIT type has one
//! Rust type on the host.

/// Bindings for the `call-flow` world: a plugin that steers a live call.
pub mod call_flow {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "call-flow",
        // Writing a log line never waits on I/O, so it stays synchronous; it is
        // trappable so that a guest that floods the log can be stopped.
        imports: { default: trappable },
        // Exports are async: every call runs on a fiber so that an epoch
        // deadline or an awaiting host function can suspend it.
        exports: { default: async },
    });
}

/// Bindings for the `lead-tagger` world: a plugin that tags a lead after a call.
pub mod lead_tagger {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "lead-tagger",
        imports: { default: trappable },
        exports: { default: async },
        with: {
            "cally:plugin/types": super::call_flow::cally::plugin::types,
            "cally:plugin/log": super::call_flow::cally::plugin::log,
        },
    });
}

pub use call_flow::cally::plugin::{log as wit_log, types as wit};
