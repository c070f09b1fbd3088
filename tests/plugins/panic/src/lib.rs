//! Answers `started`, then panics on the caller's first words with
//! `plugin bug: unexpected input`: a trap, whose message the SDK also writes
//! to the call's log.

use cally_sdk::{Action, CallEvent, CallFlow};

#[derive(Default)]
struct Panics;

impl CallFlow for Panics {
    fn on_event(&mut self, event: CallEvent) -> Vec<Action> {
        match event {
            CallEvent::Speech(_) => panic!("plugin bug: unexpected input"),
            _ => vec![Action::say("ready")],
        }
    }
}

cally_sdk::export_call_flow!(Panics);
