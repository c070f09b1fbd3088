//! Lead qualifier: tags a lead from the summary of its finished call.
//!
//! | tag                     | when                                  |
//! |-------------------------|---------------------------------------|
//! | `engaged`               | the call lasted over a minute         |
//! | `confirmed-appointment` | the flow's disposition is `confirmed`   |
//! | `needs-callback`        | the flow's disposition is `rescheduled` |
//! | `unreachable`           | the call never connected              |
//! | `pressed-keys`          | the caller pressed keypad keys        |

use std::time::Duration;

use cally_sdk::{CallSummary, EndReason, LeadTagger, log};

/// Calls longer than this count as engaged.
const ENGAGED_AFTER: Duration = Duration::from_secs(60);

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
        log::info(format!("call {}: tags {tags:?}", summary.call_id));
        tags.into_iter().map(String::from).collect()
    }
}

cally_sdk::export_lead_tagger!(Qualifier);

#[cfg(test)]
mod tests {
    use super::*;
    use cally_sdk::Direction;

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
}
