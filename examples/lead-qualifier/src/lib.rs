//! Lead qualifier: tags a lead from the summary of its finished call and from
//! what the caller said in its transcript.
//!
//! | tag                     | when                                              |
//! |-------------------------|---------------------------------------------------|
//! | `engaged`               | the call lasted over a minute                     |
//! | `confirmed-appointment` | the flow's disposition is `confirmed`             |
//! | `needs-callback`        | the flow's disposition is `rescheduled`           |
//! | `unreachable`           | the call never connected                          |
//! | `pressed-keys`          | the caller pressed keypad keys                    |
//! | `interested`            | the caller said "interested", "price", "buy", ... |
//! | `not-interested`        | the caller said "not interested"                  |
//! | `asked-for-human`       | the caller asked for an agent, a person, ...      |
//!
//! The transcript is personal data: the host releases it only if the lead
//! consented to `crm-tagging` (and is not restricted, erased or a minor). When
//! it is denied, the qualifier logs the reason and tags from the summary alone.

use std::time::Duration;

use cally_sdk::personal_data::{Speaker, Transcript, Turn};
use cally_sdk::{CallSummary, EndReason, LeadTagger, log};

/// Calls longer than this count as engaged.
const ENGAGED_AFTER: Duration = Duration::from_secs(60);
/// Words of a caller who wants to hear more.
const INTERESTED: &[&str] = &[
    "interested",
    "price",
    "prices",
    "pricing",
    "how much",
    "buy",
    "sign up",
];
/// Words of a caller who does not.
const NOT_INTERESTED: &[&str] = &["not interested", "no interest"];
/// Words of a caller who wants a person rather than the flow.
const HUMAN: &[&str] = &[
    "agent",
    "person",
    "human",
    "someone",
    "representative",
    "operator",
];

#[derive(Default)]
struct Qualifier;

impl LeadTagger for Qualifier {
    fn tag_call(&mut self, summary: CallSummary) -> Vec<String> {
        let mut tags = Vec::new();
        if summary.duration() > ENGAGED_AFTER {
            tags.push("engaged");
        }
        match summary.disposition.as_deref() {
            Some("confirmed") => tags.push("confirmed-appointment"),
            Some("rescheduled") => tags.push("needs-callback"),
            _ => {}
        }
        if summary.end_reason == EndReason::NotConnected {
            tags.push("unreachable");
        }
        if !summary.digits.is_empty() {
            tags.push("pressed-keys");
        }
        tags.extend(transcript_tags());
        log::info(format!("call {}: tags {tags:?}", summary.call_id));
        tags.into_iter().map(String::from).collect()
    }
}

/// Tags from what the caller said; none when there is no transcript or the
/// host denies it.
fn transcript_tags() -> Vec<&'static str> {
    let Some(transcript) = Transcript::current() else {
        return Vec::new();
    };
    let turns = match transcript.turns() {
        Ok(turns) => turns,
        Err(denial) => {
            log::info(format!(
                "transcript not used: {} ({})",
                denial.reason, denial.message
            ));
            return Vec::new();
        }
    };
    let caller: Vec<&Turn> = turns
        .iter()
        .filter(|turn| turn.speaker == Speaker::Caller)
        .collect();
    let said = |phrases: &[&str]| caller.iter().any(|turn| turn.mentions_any(phrases));
    let mut tags = Vec::new();
    if said(NOT_INTERESTED) {
        tags.push("not-interested");
    } else if said(INTERESTED) {
        tags.push("interested");
    }
    if said(HUMAN) {
        tags.push("asked-for-human");
    }
    tags
}

cally_sdk::export_lead_tagger!(Qualifier);

#[cfg(test)]
mod tests {
    use super::*;
    use cally_sdk::Direction;
    use cally_sdk::personal_data::DenialReason;
    use cally_sdk::personal_data::testing;

    fn summary() -> CallSummary {
        CallSummary {
            call_id: "call-1".into(),
            direction: Direction::Outbound,
            campaign: Some("spring-checkups".into()),
            duration_ms: 95_000,
            end_reason: EndReason::FlowHungUp,
            disposition: Some("confirmed".into()),
            digits: vec!["1".into()],
            event_count: 4,
        }
    }

    #[test]
    fn a_long_confirmed_call() {
        let tags = Qualifier.tag_call(summary());
        assert_eq!(tags, ["engaged", "confirmed-appointment", "pressed-keys"]);
    }

    #[test]
    fn a_call_that_never_connected() {
        let tags = Qualifier.tag_call(CallSummary {
            duration_ms: 0,
            end_reason: EndReason::NotConnected,
            disposition: None,
            digits: vec![],
            ..summary()
        });
        assert_eq!(tags, ["unreachable"]);
    }

    #[test]
    fn the_transcript_adds_tags_from_what_the_caller_said() {
        testing::set_transcript([
            Turn::agent("Would you like to hear about our plans? A person can help too."),
            Turn::caller("What's the price?"),
            Turn::caller("Can I talk to a real person?"),
        ]);
        let tags = Qualifier.tag_call(CallSummary {
            digits: vec![],
            ..summary()
        });
        assert_eq!(
            tags,
            [
                "engaged",
                "confirmed-appointment",
                "interested",
                "asked-for-human"
            ]
        );
    }

    #[test]
    fn the_agent_s_words_and_a_refusal_do_not_count_as_interest() {
        testing::set_transcript([
            Turn::agent("Are you interested in our prices?"),
            Turn::caller("No, I'm not interested."),
        ]);
        let tags = Qualifier.tag_call(CallSummary {
            duration_ms: 10_000,
            disposition: None,
            digits: vec![],
            ..summary()
        });
        assert_eq!(tags, ["not-interested"]);
    }

    #[test]
    fn a_denied_transcript_leaves_the_summary_tags() {
        testing::deny_transcript(DenialReason::NoConsent);
        let tags = Qualifier.tag_call(summary());
        assert_eq!(tags, ["engaged", "confirmed-appointment", "pressed-keys"]);
        assert!(
            cally_sdk::log::take_native_lines()
                .iter()
                .any(|(_, line)| line.starts_with("transcript not used: no-consent"))
        );
    }
}
