//! Answers `started`, then returns one `say` of 10 000 000 bytes for the
//! caller's first words: invalid output the host must refuse.

use cally_sdk::{Action, CallEvent, CallFlow};

#[derive(Default)]
struct HugeString;

impl CallFlow for HugeString {
    fn on_event(&mut self, event: CallEvent) -> Vec<Action> {
        match event {
            CallEvent::Speech(_) => vec![Action::say("x".repeat(10_000_000))],
            _ => vec![Action::say("ready")],
        }
    }
}

cally_sdk::export_call_flow!(HugeString);
