//! Counts events twice: in `self` and in a `static`. Every event answers
//! `say("count=<self> global=<static>")`. Both start at 1 in every call, which
//! proves each call gets a fresh instance with fresh memory.

use std::sync::atomic::{AtomicU32, Ordering};

use cally_sdk::{Action, CallEvent, CallFlow};

/// Events seen by this instance's memory, whoever handled them.
static GLOBAL: AtomicU32 = AtomicU32::new(0);

#[derive(Default)]
struct Counter {
    /// Events seen by this flow value.
    count: u32,
}

impl CallFlow for Counter {
    fn on_event(&mut self, _event: CallEvent) -> Vec<Action> {
        self.count += 1;
        let global = GLOBAL.fetch_add(1, Ordering::Relaxed) + 1;
        vec![Action::say(format!("count={} global={global}", self.count))]
    }
}

cally_sdk::export_call_flow!(Counter);
