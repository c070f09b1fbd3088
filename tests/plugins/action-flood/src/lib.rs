//! Answers `started`, then returns 100 000 `say("x")` actions for the
//! caller's first words: invalid output the host must refuse.

use cally_sdk::{Action, CallEvent, CallFlow};

#[derive(Default)]
struct ActionFlood;

impl CallFlow for ActionFlood {
    fn on_event(&mut self, event: CallEvent) -> Vec<Action> {
        match event {
            CallEvent::Speech(_) => vec![Action::say("x"); 100_000],
            _ => vec![Action::say("ready")],
        }
    }
}

cally_sdk::export_call_flow!(ActionFlood);
