//! WhatsApp follow-up: offers to send the details of the tenant's plans on
//! WhatsApp, and asks the platform to send them if the caller says yes.
//!
//! - yes / key 1: a WhatsApp template message `plan-details`, disposition
//!   `whatsapp-requested`, goodbye, hang up;
//! - no / key 2: disposition `declined`, goodbye, hang up;
//! - anything else or silence: asks once more, then goodbye with disposition
//!   `no-answer`.
//!
//! The plugin never sees the lead's phone number and does not decide whether
//! the message may go out: the host checks the lead's `marketing` consent for
//! the `whatsapp` channel when it performs the action, resolves the number
//! itself, and drops (and audits) a message the lead did not consent to. The
//! lead's `name` is read once, for the greeting and the template's
//! `first_name`, and only used if the host releases it.

use std::time::Duration;

use cally_sdk::personal_data::{Field, Lead};
use cally_sdk::{Action, CallEvent, CallFlow, CallerSpeech, Channel, Gather, log};

/// The tenant's WhatsApp template with the plan details.
const TEMPLATE: &str = "plan-details";
/// How many times the question is asked again before giving up.
const MAX_RETRIES: u32 = 1;
/// Speech heard with less confidence than this counts as unclear.
const MIN_CONFIDENCE: f32 = 0.6;

/// One call's state; the host makes a fresh instance per call.
#[derive(Default)]
struct FollowUp {
    /// The lead's first name, if the host released it.
    first_name: Option<String>,
    /// Times the question was asked again.
    retries: u32,
    /// Set once the flow has hung up: later events get no answer.
    finished: bool,
}

/// What the caller answered.
enum Answer {
    Yes,
    No,
    Unclear,
}

impl CallFlow for FollowUp {
    fn on_event(&mut self, event: CallEvent) -> Vec<Action> {
        if self.finished {
            return Vec::new();
        }
        match event {
            CallEvent::Started(call) => {
                log::info(format!("follow-up call {} started", call.call_id));
                self.first_name = first_name_of_current_lead();
                let hello = match &self.first_name {
                    Some(name) => format!("Hello {name}! Thanks for your interest in our plans."),
                    None => "Hello! Thanks for your interest in our plans.".to_string(),
                };
                vec![Action::say(hello), ask()]
            }
            CallEvent::Speech(speech) if !speech.is_final => Vec::new(),
            CallEvent::Speech(speech) => self.answer(heard(&speech)),
            CallEvent::Digits(digits) => self.answer(match digits.as_str() {
                "1" => Answer::Yes,
                "2" => Answer::No,
                _ => Answer::Unclear,
            }),
            CallEvent::Silence { .. } => self.answer(Answer::Unclear),
            _ => Vec::new(),
        }
    }
}

impl FollowUp {
    fn answer(&mut self, answer: Answer) -> Vec<Action> {
        match answer {
            Answer::Yes => {
                log::info("caller asked for the details on WhatsApp");
                let params: Vec<(&str, String)> = match &self.first_name {
                    Some(name) => vec![("first_name", name.clone())],
                    None => Vec::new(),
                };
                self.finish(vec![
                    Action::say("Great, we'll send the details to you on WhatsApp."),
                    Action::send_message(Channel::Whatsapp, TEMPLATE, params),
                    Action::disposition("whatsapp-requested"),
                    Action::say("Thanks for your time. Goodbye!"),
                ])
            }
            Answer::No => {
                log::info("caller declined the details");
                self.finish(vec![
                    Action::disposition("declined"),
                    Action::say("No problem. Thanks for your time. Goodbye!"),
                ])
            }
            Answer::Unclear if self.retries < MAX_RETRIES => {
                self.retries += 1;
                vec![Action::say("Sorry, I didn't catch that."), ask()]
            }
            Answer::Unclear => self.finish(vec![
                Action::disposition("no-answer"),
                Action::say("Thanks for your time. Goodbye!"),
            ]),
        }
    }

    fn finish(&mut self, mut actions: Vec<Action>) -> Vec<Action> {
        self.finished = true;
        actions.push(Action::hang_up());
        actions
    }
}

/// The first word of the lead's name, if there is a lead and the host
/// releases its name; a denial logs its reason (never a value).
fn first_name_of_current_lead() -> Option<String> {
    let lead = Lead::current()?;
    match lead.get(Field::Name) {
        Ok(name) => name?.split_whitespace().next().map(str::to_owned),
        Err(denial) => {
            log::info(format!("greeting without a name: {}", denial.reason));
            None
        }
    }
}

/// Ask whether to send the details, listening for speech or one key.
fn ask() -> Action {
    Action::gather(
        Gather::new()
            .prompt(
                "Would you like the details of our plans on WhatsApp? \
                 Say yes or press 1, or say no or press 2.",
            )
            .speech()
            .digits(1)
            .timeout(Duration::from_secs(6)),
    )
}

/// Classify a final utterance; both kinds of keyword is as unclear as neither.
fn heard(speech: &CallerSpeech) -> Answer {
    if speech.confidence < MIN_CONFIDENCE {
        return Answer::Unclear;
    }
    let yes = speech.mentions_any(&["yes", "yeah", "yep", "sure", "please", "ok", "okay"]);
    let no = speech.mentions_any(&["no", "nope", "not", "don't"]);
    match (yes, no) {
        (true, false) => Answer::Yes,
        (false, true) => Answer::No,
        _ => Answer::Unclear,
    }
}

cally_sdk::export_call_flow!(FollowUp);

#[cfg(test)]
mod tests {
    use super::*;
    use cally_sdk::personal_data::DenialReason;
    use cally_sdk::personal_data::testing::{self, FakeLead};
    use cally_sdk::{CallStarted, Direction};

    fn started() -> CallEvent {
        CallEvent::Started(CallStarted {
            call_id: "call-1".into(),
            direction: Direction::Outbound,
            campaign: Some("summer-plans".into()),
            started_at_ms: 1_700_000_000_000,
            locale: "en-GB".into(),
        })
    }

    fn messages(actions: &[Action]) -> Vec<&Action> {
        actions
            .iter()
            .filter(|action| matches!(action, Action::SendMessage(_)))
            .collect()
    }

    #[test]
    fn yes_sends_the_details_with_the_first_name() {
        testing::set_lead(FakeLead::new("lead-7f3a").with(Field::Name, "Ada Lovelace"));
        let mut flow = FollowUp::default();
        let hello = flow.on_event(started());
        assert_eq!(
            hello[0],
            Action::say("Hello Ada! Thanks for your interest in our plans.")
        );
        let actions = flow.on_event(CallEvent::speech("Yes please", 0.9));
        assert_eq!(
            messages(&actions),
            [&Action::send_message(
                Channel::Whatsapp,
                "plan-details",
                [("first_name", "Ada")]
            )]
        );
        assert_eq!(actions.last(), Some(&Action::hang_up()));
        assert!(flow.on_event(CallEvent::digits("1")).is_empty());
    }

    #[test]
    fn a_denied_name_sends_without_it() {
        testing::set_lead(
            FakeLead::new("lead-7f3a")
                .with(Field::Name, "Ada Lovelace")
                .deny(Field::Name, DenialReason::ConsentWithdrawn),
        );
        let mut flow = FollowUp::default();
        assert_eq!(
            flow.on_event(started())[0],
            Action::say("Hello! Thanks for your interest in our plans.")
        );
        let actions = flow.on_event(CallEvent::digits("1"));
        let no_params: [(&str, &str); 0] = [];
        assert_eq!(
            messages(&actions),
            [&Action::send_message(
                Channel::Whatsapp,
                "plan-details",
                no_params
            )]
        );
        let lines = cally_sdk::log::take_native_lines();
        assert!(
            lines
                .iter()
                .any(|(_, line)| line == "greeting without a name: consent-withdrawn")
        );
    }

    #[test]
    fn no_sends_nothing() {
        let mut flow = FollowUp::default();
        flow.on_event(started());
        let actions = flow.on_event(CallEvent::speech("No thanks", 0.9));
        assert!(messages(&actions).is_empty());
        assert!(actions.contains(&Action::disposition("declined")));
        assert_eq!(actions.last(), Some(&Action::hang_up()));
    }

    #[test]
    fn asks_once_more_then_gives_up() {
        let mut flow = FollowUp::default();
        flow.on_event(started());
        let again = flow.on_event(CallEvent::Silence { ms: 6000 });
        assert!(matches!(again.last(), Some(Action::Gather(_))));
        let last = flow.on_event(CallEvent::speech("hmm", 0.9));
        assert!(messages(&last).is_empty());
        assert!(last.contains(&Action::disposition("no-answer")));
        assert_eq!(last.last(), Some(&Action::hang_up()));
    }
}
