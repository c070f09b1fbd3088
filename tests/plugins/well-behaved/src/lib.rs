//! Answers every event with one `say` naming it (`started`, `speech:<text>`,
//! `digits:<keys>`, ...), and hangs up on `ended`. The neighbour that hostile
//! plugins must not disturb.

use cally_sdk::{Action, CallEvent, CallFlow};

#[derive(Default)]
struct WellBehaved;

impl CallFlow for WellBehaved {
    fn on_event(&mut self, event: CallEvent) -> Vec<Action> {
        match event {
            CallEvent::Started(_) => vec![Action::say("started")],
            CallEvent::Speech(speech) => vec![Action::say(format!("speech:{}", speech.text))],
            CallEvent::Digits(digits) => vec![Action::say(format!("digits:{digits}"))],
            CallEvent::Silence { ms } => vec![Action::say(format!("silence:{ms}"))],
            CallEvent::Ended(_) => vec![Action::say("ended"), Action::hang_up()],
            other => vec![Action::say(other.kind())],
        }
    }
}

cally_sdk::export_call_flow!(WellBehaved);
