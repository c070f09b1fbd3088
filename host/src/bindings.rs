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
        imports: {
            // A personal-data read waits for its audit record to be durable
            // (a group commit shared with other calls), so it is async; the
            // fiber parks and the thread serves other calls meanwhile.
            // It is trappable: a read past the event's host-call cap traps.
            "cally:plugin/personal-data": async | trappable,
            // Writing a log line never waits and never fails (a line past the
            // call's log limit is dropped and counted), so `log` is plain
            // synchronous and cannot trap.
        },
        // Exports are async: every call runs on a fiber so that an epoch
        // deadline or an awaiting host function can suspend it.
        exports: { default: async },
        with: {
            "cally:plugin/personal-data.lead": crate::capabilities::personal_data::LeadHandle,
            "cally:plugin/personal-data.transcript": crate::capabilities::personal_data::TranscriptHandle,
            "cally:plugin/personal-data.recording": crate::capabilities::personal_data::RecordingHandle,
        },
    });
}

/// Bindings for the `lead-tagger` world: a plugin that tags a lead after a call.
pub mod lead_tagger {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "lead-tagger",
        // Every import is the call-flow world's (`with:` below), so its
        // bindings and their flags come from there.
        exports: { default: async },
        with: {
            "cally:plugin/types": super::call_flow::cally::plugin::types,
            "cally:plugin/log": super::call_flow::cally::plugin::log,
            "cally:plugin/personal-data": super::call_flow::cally::plugin::personal_data,
        },
    });
}

pub use call_flow::cally::plugin::{log as wit_log, personal_data as wit_data, types as wit};
