//! Support router: answers inbound calls, asks what the caller needs and
//! transfers them to the right desk.
//!
//! - Keywords in what the caller says pick a desk: `billing-desk`,
//!   `tech-support` or `sales-team`. Keys 1, 2 and 3 do the same.
//! - Anything unclear: ask once more, then `front-desk`.
//! - Silence: prompt once more, then `front-desk`.
//! - The caller talks over the prompt: stop talking and listen.

use std::time::Duration;

use cally_sdk::{Action, CallEvent, CallFlow, CallerSpeech, Gather, log};

/// Speech heard with less confidence than this counts as unclear.
const MIN_CONFIDENCE: f32 = 0.5;
/// Where callers go when their need stays unclear.
const FALLBACK_DESK: &str = "front-desk";

/// The tenant's transfer targets (aliases, never numbers), the key for each,
/// and words that point to it.
const DESKS: &[Desk] = &[
    Desk {
        alias: "billing-desk",
        name: "billing",
        key: "1",
        keywords: &[
            "bill", "billing", "invoice", "payment", "charge", "charged", "refund",
        ],
    },
    Desk {
        alias: "tech-support",
        name: "technical support",
        key: "2",
        keywords: &[
            "technical",
            "tech",
            "broken",
            "error",
            "not working",
            "log in",
            "login",
            "password",
            "outage",
        ],
    },
    Desk {
        alias: "sales-team",
        name: "sales",
        key: "3",
        keywords: &[
            "buy", "sales", "pricing", "price", "quote", "upgrade", "new plan",
        ],
    },
];

struct Desk {
    alias: &'static str,
    name: &'static str,
    key: &'static str,
    keywords: &'static [&'static str],
}

/// One call's state; the host makes a fresh instance per call.
#[derive(Default)]
pub struct Router {
    /// Whether the caller was already asked again after an unclear answer.
    asked_again: bool,
    /// Whether the caller was already prompted again after a silence.
    prompted_again: bool,
    /// Set once the call is transferred: later events get no answer.
    transferred: bool,
}

impl CallFlow for Router {
    fn on_event(&mut self, event: CallEvent) -> Vec<Action> {
        if self.transferred {
            return Vec::new();
        }
        match event {
            CallEvent::Started(call) => {
                log::info(format!("support call {} started", call.call_id));
                vec![ask("Thanks for calling. How can we help you today?")]
            }
            CallEvent::Speech(speech) if !speech.is_final => Vec::new(),
            CallEvent::Speech(speech) => match desk_for_speech(&speech) {
                Some(desk) => self.transfer_to(desk),
                None => self.unclear(),
            },
            CallEvent::Digits(digits) => match DESKS.iter().find(|desk| desk.key == digits) {
                Some(desk) => self.transfer_to(desk),
                None => self.unclear(),
            },
            CallEvent::Silence { .. } if !self.prompted_again => {
                self.prompted_again = true;
                vec![ask(
                    "Are you still there? Tell me what you need, or press a key.",
                )]
            }
            CallEvent::Silence { .. } => self.fallback(),
            // The caller talked over the prompt: stop talking and listen.
            CallEvent::Interrupted => vec![Action::listen()],
            CallEvent::Ended(reason) => {
                log::info(format!("call ended: {reason}"));
                Vec::new()
            }
            _ => Vec::new(),
        }
    }
}

impl Router {
    fn transfer_to(&mut self, desk: &Desk) -> Vec<Action> {
        log::info(format!("routing to {}", desk.alias));
        self.transferred = true;
        vec![
            Action::say(format!("Connecting you to {} now.", desk.name)),
            Action::transfer(desk.alias),
        ]
    }

    fn unclear(&mut self) -> Vec<Action> {
        if self.asked_again {
            return self.fallback();
        }
        self.asked_again = true;
        vec![ask("Sorry, I didn't catch that. What is your call about?")]
    }

    fn fallback(&mut self) -> Vec<Action> {
        log::warn("need still unclear; sending to the front desk");
        self.transferred = true;
        vec![
            Action::say("Let me connect you to our front desk."),
            Action::transfer(FALLBACK_DESK),
        ]
    }
}

/// Say `question` and the menu, then listen for speech or one key.
fn ask(question: &str) -> Action {
    Action::gather(
        Gather::new()
            .prompt(format!(
                "{question} You can say billing, technical support or sales, or press 1, 2 or 3."
            ))
            .speech()
            .digits(1)
            .timeout(Duration::from_secs(6)),
    )
}

/// The one desk the caller's words point to; none when unsure or when the
/// words point to several desks.
fn desk_for_speech(speech: &CallerSpeech) -> Option<&'static Desk> {
    if speech.confidence < MIN_CONFIDENCE {
        return None;
    }
    let mut matching = DESKS
        .iter()
        .filter(|desk| speech.mentions_any(desk.keywords));
    match (matching.next(), matching.next()) {
        (Some(desk), None) => Some(desk),
        _ => None,
    }
}

cally_sdk::export_call_flow!(Router);

#[cfg(test)]
mod tests {
    use super::*;

    fn transfer_target(actions: &[Action]) -> Option<&str> {
        actions.iter().find_map(|action| match action {
            Action::Transfer(alias) => Some(alias.as_str()),
            _ => None,
        })
    }

    #[test]
    fn keywords_pick_a_desk() {
        let mut flow = Router::default();
        let actions = flow.on_event(CallEvent::speech("I was charged twice on my bill", 0.9));
        assert_eq!(transfer_target(&actions), Some("billing-desk"));
    }

    #[test]
    fn keys_pick_a_desk() {
        let mut flow = Router::default();
        assert_eq!(
            transfer_target(&flow.on_event(CallEvent::digits("3"))),
            Some("sales-team")
        );
    }

    #[test]
    fn unclear_twice_goes_to_the_front_desk() {
        let mut flow = Router::default();
        assert_eq!(
            transfer_target(&flow.on_event(CallEvent::speech("hello?", 0.9))),
            None
        );
        let actions = flow.on_event(CallEvent::speech("well, it's complicated", 0.9));
        assert_eq!(transfer_target(&actions), Some("front-desk"));
    }

    #[test]
    fn silence_twice_goes_to_the_front_desk() {
        let mut flow = Router::default();
        assert_eq!(
            transfer_target(&flow.on_event(CallEvent::Silence { ms: 6000 })),
            None
        );
        let actions = flow.on_event(CallEvent::Silence { ms: 6000 });
        assert_eq!(transfer_target(&actions), Some("front-desk"));
    }

    #[test]
    fn barge_in_listens_without_a_prompt() {
        let mut flow = Router::default();
        let actions = flow.on_event(CallEvent::Interrupted);
        assert_eq!(actions, vec![Action::gather(Gather::new().speech())]);
    }
}
