//! Appointment reminder: calls a patient, asks them to confirm tomorrow's
//! appointment, and records the answer.
//!
//! When the call has a lead, the greeting uses the patient's first name and
//! their preferred time, each only if the host releases it; any denial (or a
//! call without a lead) falls back to the generic wording, and only the
//! denial's reason is logged, never a value.
//!
//! - yes / confirm / key 1: confirmed, disposition `confirmed`, goodbye.
//! - no / reschedule / key 2: a callback in an hour, disposition `rescheduled`.
//! - anything else, a low-confidence guess or silence: ask again, at most
//!   twice, then goodbye with disposition `no-answer`.

use std::time::Duration;

use cally_sdk::personal_data::{Denial, Field, Lead};
use cally_sdk::{Action, CallEvent, CallFlow, CallerSpeech, Gather, log};

/// How many times the question is asked again before giving up.
const MAX_RETRIES: u32 = 2;
/// Speech heard with less confidence than this counts as unclear.
const MIN_CONFIDENCE: f32 = 0.6;
/// When to call back a patient who wants another time.
const CALLBACK_AFTER_MINUTES: u32 = 60;
/// The lead's preference the greeting mentions.
const PREFERRED_TIME: &str = "preferred-time";

/// One call's state; the host makes a fresh instance per call.
#[derive(Default)]
pub struct Reminder {
    /// Times the question was asked again after an unclear answer or silence.
    retries: u32,
    /// Set once the flow has hung up: later events get no answer.
    finished: bool,
}

/// What the patient answered.
enum Answer {
    Confirm,
    Reschedule,
    Unclear,
}

impl CallFlow for Reminder {
    fn on_event(&mut self, event: CallEvent) -> Vec<Action> {
        if self.finished {
            return Vec::new();
        }
        match event {
            CallEvent::Started(call) => {
                log::info(format!("reminder call {} started", call.call_id));
                vec![
                    Action::say(Personal::of_current_lead().greeting()),
                    ask("Can you make it?"),
                ]
            }
            // A partial guess may still change: wait for the final words.
            CallEvent::Speech(speech) if !speech.is_final => Vec::new(),
            CallEvent::Speech(speech) => self.answer(heard(&speech)),
            CallEvent::Digits(digits) => self.answer(match digits.as_str() {
                "1" => Answer::Confirm,
                "2" => Answer::Reschedule,
                _ => Answer::Unclear,
            }),
            CallEvent::Silence { ms } => {
                log::debug(format!("silence for {ms} ms"));
                self.retry("Sorry, I didn't hear anything.")
            }
            CallEvent::Ended(reason) => {
                log::info(format!("call ended: {reason}"));
                Vec::new()
            }
            _ => Vec::new(),
        }
    }
}

impl Reminder {
    fn answer(&mut self, answer: Answer) -> Vec<Action> {
        match answer {
            Answer::Confirm => {
                log::info("appointment confirmed");
                self.finish(
                    vec![
                        Action::say("Wonderful, your appointment is confirmed."),
                        Action::disposition("confirmed"),
                    ],
                    "Thank you, and see you tomorrow. Goodbye!",
                )
            }
            Answer::Reschedule => {
                log::info("patient asked to reschedule");
                self.finish(
                    vec![
                        Action::say("No problem. Someone from our team will call you back to find a better time."),
                        Action::callback(CALLBACK_AFTER_MINUTES, "asked-to-reschedule"),
                        Action::disposition("rescheduled"),
                    ],
                    "Thank you. Goodbye!",
                )
            }
            Answer::Unclear => self.retry("Sorry, I didn't catch that."),
        }
    }

    fn retry(&mut self, apology: &str) -> Vec<Action> {
        if self.retries >= MAX_RETRIES {
            log::warn("no clear answer; giving up");
            return self.finish(
                vec![Action::disposition("no-answer")],
                "We'll be in touch another time. Goodbye!",
            );
        }
        self.retries += 1;
        vec![Action::say(apology), ask("Can you make it?")]
    }

    fn finish(&mut self, mut actions: Vec<Action>, goodbye: &str) -> Vec<Action> {
        self.finished = true;
        actions.push(Action::say(goodbye));
        actions.push(Action::hang_up());
        actions
    }
}

/// What the greeting may use of the lead's data: each part only if the host
/// released it.
#[derive(Debug, Default, PartialEq)]
struct Personal {
    first_name: Option<String>,
    preferred_time: Option<String>,
}

impl Personal {
    /// Reads the call's lead, if there is one: `name` (every field the flow
    /// needs goes into this one `get-many`, a single audited round trip) and
    /// the `preferred-time` preference.
    fn of_current_lead() -> Self {
        let Some(lead) = Lead::current() else {
            return Personal::default();
        };
        let mut fields = lead.get_many(&[Field::Name]).into_iter();
        let name = released("name", fields.next().unwrap_or(Ok(None)));
        let preferred_time = released(PREFERRED_TIME, lead.preference(PREFERRED_TIME));
        Personal {
            first_name: name.as_deref().and_then(first_name),
            preferred_time: preferred_time.filter(|time| !time.trim().is_empty()),
        }
    }

    fn greeting(&self) -> String {
        let mut greeting = match &self.first_name {
            Some(name) => format!("Hello {name}!"),
            None => "Hello!".to_string(),
        };
        greeting.push_str(" This is a reminder about your appointment tomorrow.");
        if let Some(time) = &self.preferred_time {
            greeting.push_str(&format!(
                " We kept to your preferred time: {}.",
                time.trim()
            ));
        }
        greeting
    }
}

/// The value of a read the host allowed; on a denial, logs why (the reason
/// only, never a value) and gives `None`.
fn released(what: &str, read: Result<Option<String>, Denial>) -> Option<String> {
    read.unwrap_or_else(|denial| {
        log::info(format!("not using {what}: {}", denial.reason));
        None
    })
}

/// The first word of a full name.
fn first_name(name: &str) -> Option<String> {
    name.split_whitespace().next().map(str::to_owned)
}

/// Ask the question, listening for speech or one key.
fn ask(question: &str) -> Action {
    Action::gather(
        Gather::new()
            .prompt(format!(
                "{question} Say yes or press 1 to confirm, or say reschedule or press 2 for another time."
            ))
            .speech()
            .digits(1)
            .timeout(Duration::from_secs(6)),
    )
}

/// Classify a final utterance. Both kinds of keyword ("yes, but I can't")
/// is as unclear as neither.
fn heard(speech: &CallerSpeech) -> Answer {
    if speech.confidence < MIN_CONFIDENCE {
        return Answer::Unclear;
    }
    let confirm = speech.mentions_any(&["yes", "yeah", "yep", "confirm", "sure", "i'll be there"]);
    let reschedule = speech.mentions_any(&["no", "reschedule", "another time", "can't", "cannot"]);
    match (confirm, reschedule) {
        (true, false) => Answer::Confirm,
        (false, true) => Answer::Reschedule,
        _ => Answer::Unclear,
    }
}

cally_sdk::export_call_flow!(Reminder);

#[cfg(test)]
mod tests {
    use super::*;
    use cally_sdk::personal_data::DenialReason;
    use cally_sdk::personal_data::testing::{self, FakeLead, Read};
    use cally_sdk::{CallStarted, Direction};

    fn started() -> CallEvent {
        CallEvent::Started(CallStarted {
            call_id: "call-1".into(),
            direction: Direction::Outbound,
            campaign: None,
            started_at_ms: 1_700_000_000_000,
            locale: "en-GB".into(),
        })
    }

    fn greeting(actions: &[Action]) -> &str {
        match actions.first() {
            Some(Action::Say(text)) => text,
            other => panic!("expected a greeting, got {other:?}"),
        }
    }

    fn ada() -> FakeLead {
        FakeLead::new("lead-7f3a")
            .with(Field::Name, "Ada Lovelace")
            .with_preference("preferred-time", "mornings")
    }

    #[test]
    fn without_a_lead_the_greeting_is_generic() {
        let actions = Reminder::default().on_event(started());
        assert_eq!(
            greeting(&actions),
            "Hello! This is a reminder about your appointment tomorrow."
        );
        assert!(testing::take_reads().is_empty());
    }

    #[test]
    fn greets_by_first_name_with_the_preferred_time() {
        testing::set_lead(ada());
        let actions = Reminder::default().on_event(started());
        assert_eq!(
            greeting(&actions),
            "Hello Ada! This is a reminder about your appointment tomorrow. \
             We kept to your preferred time: mornings."
        );
        assert_eq!(
            testing::take_reads(),
            [
                Read::GetMany(vec![Field::Name]),
                Read::Preference("preferred-time".into())
            ]
        );
    }

    #[test]
    fn a_denied_name_falls_back_and_logs_only_the_reason() {
        testing::set_lead(ada().deny(Field::Name, DenialReason::NoConsent));
        let actions = Reminder::default().on_event(started());
        assert_eq!(
            greeting(&actions),
            "Hello! This is a reminder about your appointment tomorrow. \
             We kept to your preferred time: mornings."
        );
        let lines = log::take_native_lines();
        assert!(
            lines
                .iter()
                .any(|(_, line)| line == "not using name: no-consent")
        );
        assert!(!lines.iter().any(|(_, line)| line.contains("Ada")));
    }

    #[test]
    fn a_lead_denied_everything_gets_the_generic_greeting() {
        testing::set_lead(ada().deny_all(DenialReason::LeadRestricted));
        let actions = Reminder::default().on_event(started());
        assert_eq!(
            greeting(&actions),
            "Hello! This is a reminder about your appointment tomorrow."
        );
        assert_eq!(actions.len(), 2);
    }

    fn has(actions: &[Action], wanted: &Action) -> bool {
        actions.contains(wanted)
    }

    #[test]
    fn yes_confirms_and_hangs_up() {
        let mut flow = Reminder::default();
        let actions = flow.on_event(CallEvent::speech("Yes please", 0.92));
        assert!(has(&actions, &Action::disposition("confirmed")));
        assert_eq!(actions.last(), Some(&Action::hang_up()));
    }

    #[test]
    fn key_two_reschedules_with_a_callback() {
        let mut flow = Reminder::default();
        let actions = flow.on_event(CallEvent::digits("2"));
        assert!(has(&actions, &Action::callback(60, "asked-to-reschedule")));
        assert!(has(&actions, &Action::disposition("rescheduled")));
    }

    #[test]
    fn gives_up_after_two_retries() {
        let mut flow = Reminder::default();
        assert!(!has(
            &flow.on_event(CallEvent::speech("hmm", 0.9)),
            &Action::hang_up()
        ));
        assert!(!has(
            &flow.on_event(CallEvent::Silence { ms: 6000 }),
            &Action::hang_up()
        ));
        let actions = flow.on_event(CallEvent::speech("yes", 0.2));
        assert!(has(&actions, &Action::disposition("no-answer")));
        assert_eq!(actions.last(), Some(&Action::hang_up()));
    }

    #[test]
    fn partial_speech_gets_no_answer() {
        let mut flow = Reminder::default();
        let partial = CallEvent::Speech(CallerSpeech {
            text: "ye".into(),
            confidence: 0.3,
            is_final: false,
        });
        assert!(flow.on_event(partial).is_empty());
    }
}
