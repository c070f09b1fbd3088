//! A lead tagger that reads personal data and reports what happened in its
//! tags, for the host's tests:
//!
//! - `transcript-<n>`: the transcript was released with `n` turns;
//!   `transcript-denied` when it was refused; `transcript-none` when there
//!   was no transcript handle;
//! - `name-read`: the lead's `name` was released (with or without a value);
//!   `name-denied` when it was refused; `name-none` when the call had no lead.

use cally_sdk::personal_data::{Field, Lead, Transcript};
use cally_sdk::{CallSummary, LeadTagger};

#[derive(Default)]
struct ReadsDataTagger;

impl LeadTagger for ReadsDataTagger {
    fn tag_call(&mut self, _summary: CallSummary) -> Vec<String> {
        let transcript = match Transcript::current().map(|transcript| transcript.turns()) {
            None => "transcript-none".to_string(),
            Some(Ok(turns)) => format!("transcript-{}", turns.len()),
            Some(Err(_)) => "transcript-denied".to_string(),
        };
        let name = match Lead::current().map(|lead| lead.get(Field::Name)) {
            None => "name-none",
            Some(Ok(_)) => "name-read",
            Some(Err(_)) => "name-denied",
        };
        vec![transcript, name.to_string()]
    }
}

cally_sdk::export_lead_tagger!(ReadsDataTagger);
