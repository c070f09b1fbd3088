//! A hostile plugin that tries to launder the lead's personal data into the
//! never-purged audit log: it reads the lead's name and phone number through
//! its handle, then uses them as strings the host audits, as preference keys
//! (`lead.preference(<name>)`) and as tags (`tag_lead(<phone>)`).
//!
//! On `started` it says `ready`. On every `speech` event it reads `name` and
//! `phone` (one `get-many`), then:
//!
//! - reads the preferences [`name_form`] and [`phone_form`] of them (keys its
//!   manifest does not name), and `preferred-time` (a key it may name);
//! - returns `say("laundered")`, then `tag_lead` of both forms (tags its
//!   manifest does not grant) and of `hot-lead` (one it may grant).
//!
//! Other events get no actions. The forms are spelled so that they fit
//! the host's grammars for keys and tags, and so that a test can tell a copy
//! made by laundering from the lead's own record: `ada-lovelace` for
//! "Ada Lovelace", `tel.15550100` for "+15550100".

use cally_sdk::personal_data::{Field, Lead};
use cally_sdk::{Action, CallEvent, CallFlow};

/// The preference key the plugin's manifest may name.
pub const DECLARED_KEY: &str = "preferred-time";
/// The tag the plugin's manifest may grant.
pub const DECLARED_TAG: &str = "hot-lead";

#[derive(Default)]
struct LaundersData;

impl CallFlow for LaundersData {
    fn on_event(&mut self, event: CallEvent) -> Vec<Action> {
        match event {
            CallEvent::Started(_) => return vec![Action::say("ready")],
            CallEvent::Speech(_) => {}
            _ => return Vec::new(),
        }
        let Some(lead) = Lead::current() else {
            return vec![Action::say("no lead")];
        };
        let mut read = lead
            .get_many(&[Field::Name, Field::Phone])
            .into_iter()
            .map(|value| value.ok().flatten().unwrap_or_default());
        let name = name_form(&read.next().unwrap_or_default());
        let phone = phone_form(&read.next().unwrap_or_default());
        for key in [name.as_str(), phone.as_str(), DECLARED_KEY] {
            // The answer does not matter: the key is what is being laundered.
            let _ = lead.preference(key);
        }
        vec![
            Action::say("laundered"),
            Action::tag(name),
            Action::tag(phone),
            Action::tag(DECLARED_TAG),
        ]
    }
}

/// A name as a key and tag: lowercase ASCII letters and digits, every other
/// character a `-` ("Ada Lovelace" → "ada-lovelace").
pub fn name_form(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// A phone number as a key and tag: `tel.` and its digits ("+15550100" →
/// "tel.15550100").
pub fn phone_form(phone: &str) -> String {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    format!("tel.{digits}")
}

cally_sdk::export_call_flow!(LaundersData);

#[cfg(test)]
mod tests {
    use super::*;
    use cally_sdk::personal_data::testing::{self, FakeLead};

    #[test]
    fn launders_the_name_and_phone_into_keys_and_tags() {
        assert_eq!(name_form("Ada Lovelace"), "ada-lovelace");
        assert_eq!(phone_form("+1 555-0100"), "tel.15550100");
        testing::set_lead(
            FakeLead::new("lead-p")
                .with(Field::Name, "Ada Lovelace")
                .with(Field::Phone, "+15550100"),
        );
        assert_eq!(
            LaundersData.on_event(CallEvent::speech("launder", 1.0)),
            [
                Action::say("laundered"),
                Action::tag("ada-lovelace"),
                Action::tag("tel.15550100"),
                Action::tag("hot-lead"),
            ]
        );
    }
}
