//! Appointment reminder: calls a patient, asks them to confirm tomorrow's
//! appointment, and records the answer.
//!
//! - yes / confirm / key 1: confirmed, disposition `confirmed`, goodbye.
//! - no / reschedule / key 2: a callback in an hour, disposition `rescheduled`.
//! - anything else, a low-confidence guess or silence: ask again, at most
//!   twice, then goodbye with disposition `no-answer`.

use std::time::Duration;

use cally_sdk::{Action, CallEvent, CallFlow, CallerSpeech, Gather, log};

/// How many times the question is asked again before giving up.
const MAX_RETRIES: u32 = 2;
/// Speech heard with less confidence than this counts as unclear.
const MIN_CONFIDENCE: f32 = 0.6;
/// When to call back a patient who wants another time.
const CALLBACK_AFTER_MINUTES: u32 = 60;

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
                    Action::say("Hello! This is a reminder about your appointment tomorrow."),
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
                log::info(format!("call ended: {reason:?}"));
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
