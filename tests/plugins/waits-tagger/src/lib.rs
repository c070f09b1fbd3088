//! A lead tagger that sleeps through WASI (a monotonic-clock timer and a
//! poll) for 100,000 seconds before it tags the call `woke`.

use std::time::Duration;

use cally_sdk::{CallSummary, LeadTagger};

#[derive(Default)]
struct WaitsTagger;

impl LeadTagger for WaitsTagger {
    fn tag_call(&mut self, _summary: CallSummary) -> Vec<String> {
        std::thread::sleep(Duration::from_secs(100_000));
        vec!["woke".to_string()]
    }
}

cally_sdk::export_lead_tagger!(WaitsTagger);
