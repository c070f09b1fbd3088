//! A probe for the personal-data capability: every read it makes is echoed
//! into its actions, so a test can compare what the host released with the
//! audit log.
//!
//! On `started` it only says `ready`. Every `speech` event is a command (or
//! several, separated by `;`), each answered with one `say` per result:
//!
//! - `<what>=<value>` for a released value (`<value>` is `none` when the
//!   record has no value for it);
//! - `<what>!<reason>` for a denial, the reason in the WIT's kebab case
//!   (`not-declared`, `no-consent`, ..., `audit-unavailable`);
//! - `<what>?no-handle` when `current-*` returned no handle (or nothing was
//!   kept, for `reuse`);
//! - `<command>?bad-command` for a command it does not understand.
//!
//! | command                 | reads                                    | `<what>`          |
//! |-------------------------|------------------------------------------|-------------------|
//! | `get <field>`           | one `lead.get`                           | `<field>`         |
//! | `many <field> <field>…` | one `lead.get-many`, one `say` per field | each `<field>`    |
//! | `pref <key>`            | `lead.preference`                        | `pref:<key>`      |
//! | `transcript`            | `transcript.turns`, as `caller:text\|agent:text` | `transcript` |
//! | `recording`             | `recording.reference`                    | `recording`       |
//! | `pseudonym`             | `lead.pseudonym` (not audited)           | `pseudonym`       |
//! | `keep`                  | keeps `current-lead`'s handle in a static; says `kept` | |
//! | `reuse <field>`         | `lead.get` through the kept handle       | `<field>`         |
//! | `forge <n>`             | `lead.get(name)` on a handle made from the raw number `n` | `name` |
//! | `tag <name>`            | nothing: returns `tag-lead(<name>)`      |                   |
//! | `transfer <target>`     | nothing: returns `transfer(<target>)`    |                   |
//! | `message <channel>`     | nothing: returns `send-message(<channel>, "follow-up", [])` | |
//!
//! Field names are the WIT's (`name`, `phone`, `email`, `location`,
//! `language`, `preferences`); an unknown one gets `<field>?bad-field` and
//! nothing is read (for `many`: one `say` per unknown field, and no read at
//! all). Channels are `sms`, `whatsapp` and `email`. A transcript with no
//! turns is `transcript=` (empty).

use std::sync::Mutex;

use cally_sdk::personal_data::{Denial, Field, Lead, Recording, Transcript};
use cally_sdk::{Action, CallEvent, CallFlow, Channel};

/// The handle `keep` stored, for `reuse`.
static KEPT: Mutex<Option<Lead>> = Mutex::new(None);

#[derive(Default)]
struct ReadsData;

impl CallFlow for ReadsData {
    fn on_event(&mut self, event: CallEvent) -> Vec<Action> {
        match event {
            CallEvent::Started(_) => vec![Action::say("ready")],
            CallEvent::Speech(speech) => speech
                .text
                .split(';')
                .filter(|command| !command.trim().is_empty())
                .flat_map(run)
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// Runs one command, giving its actions.
fn run(command: &str) -> Vec<Action> {
    let words: Vec<&str> = command.split_whitespace().collect();
    let bad = || vec![Action::say(format!("{}?bad-command", command.trim()))];
    match words.as_slice() {
        ["get", field] => vec![with_field(field, |field| {
            current_lead(field.as_str(), |lead| lead.get(field))
        })],
        ["many", fields @ ..] if !fields.is_empty() => {
            let parsed: Vec<Option<Field>> = fields.iter().map(|f| f.parse().ok()).collect();
            if parsed.contains(&None) {
                // Nothing is read when any field is unknown.
                return fields
                    .iter()
                    .zip(&parsed)
                    .filter(|(_, field)| field.is_none())
                    .map(|(name, _)| Action::say(format!("{name}?bad-field")))
                    .collect();
            }
            let parsed: Vec<Field> = parsed.into_iter().flatten().collect();
            match Lead::current() {
                None => fields
                    .iter()
                    .map(|field| Action::say(format!("{field}?no-handle")))
                    .collect(),
                Some(lead) => fields
                    .iter()
                    .zip(lead.get_many(&parsed))
                    .map(|(field, result)| say_read(field, result))
                    .collect(),
            }
        }
        ["pref", key] => vec![current_lead(&format!("pref:{key}"), |lead| {
            lead.preference(key)
        })],
        ["transcript"] => vec![match Transcript::current() {
            None => Action::say("transcript?no-handle"),
            Some(transcript) => say_read(
                "transcript",
                transcript.turns().map(|turns| {
                    Some(
                        turns
                            .iter()
                            .map(|turn| format!("{}:{}", turn.speaker, turn.text))
                            .collect::<Vec<_>>()
                            .join("|"),
                    )
                }),
            ),
        }],
        ["recording"] => vec![match Recording::current() {
            None => Action::say("recording?no-handle"),
            Some(recording) => say_read("recording", recording.reference().map(Some)),
        }],
        ["pseudonym"] => vec![current_lead("pseudonym", |lead| Ok(Some(lead.pseudonym())))],
        ["keep"] => vec![match Lead::current() {
            None => Action::say("keep?no-handle"),
            Some(lead) => {
                *kept() = Some(lead);
                Action::say("kept")
            }
        }],
        ["reuse", field] => vec![with_field(field, |field| match kept().as_ref() {
            None => Action::say(format!("{field}?no-handle")),
            Some(lead) => say_read(field.as_str(), lead.get(field)),
        })],
        ["forge", n] => match n.parse::<u32>() {
            Ok(n) => vec![say_read("name", forged_name(n))],
            Err(_) => bad(),
        },
        ["tag", name] => vec![Action::tag(*name)],
        ["transfer", target] => vec![Action::transfer(*target)],
        ["message", channel] => match *channel {
            "sms" => vec![message(Channel::Sms)],
            "whatsapp" => vec![message(Channel::Whatsapp)],
            "email" => vec![message(Channel::Email)],
            _ => bad(),
        },
        _ => bad(),
    }
}

/// `read` on the current lead, answered for `what`.
fn current_lead(what: &str, read: impl FnOnce(&Lead) -> Result<Option<String>, Denial>) -> Action {
    match Lead::current() {
        None => Action::say(format!("{what}?no-handle")),
        Some(lead) => say_read(what, read(&lead)),
    }
}

/// `then` for the field named `name`, or `<name>?bad-field` if there is no
/// such field.
fn with_field(name: &str, then: impl FnOnce(Field) -> Action) -> Action {
    match name.parse::<Field>() {
        Ok(field) => then(field),
        Err(_) => Action::say(format!("{name}?bad-field")),
    }
}

/// The `say` reporting one read.
fn say_read(what: &str, result: Result<Option<String>, Denial>) -> Action {
    Action::say(match result {
        Ok(Some(value)) => format!("{what}={value}"),
        Ok(None) => format!("{what}=none"),
        Err(denial) => format!("{what}!{}", denial.reason.code()),
    })
}

/// The kept handle; a poisoned lock (a panic while holding it) still yields it.
fn kept() -> std::sync::MutexGuard<'static, Option<Lead>> {
    KEPT.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn message(channel: Channel) -> Action {
    Action::send_message(channel, "follow-up", [] as [(&str, &str); 0])
}

/// `get(name)` on a lead handle forged from the raw number `n`, through the
/// SDK's hidden bindings: the host must refuse it (trap) unless `n` happens to
/// be a handle this instance legitimately holds. The forged value is never
/// dropped, so it cannot close a handle the plugin does own.
fn forged_name(n: u32) -> Result<Option<String>, Denial> {
    use cally_sdk::wit::personal_data as wit;
    // SAFETY: deliberately not: forging a handle is what this probe tests.
    let forged = std::mem::ManuallyDrop::new(unsafe { wit::Lead::from_handle(n) });
    forged.get(wit::Field::Name).map_err(Denial::from)
}

cally_sdk::export_call_flow!(ReadsData);

#[cfg(test)]
mod tests {
    use super::*;
    use cally_sdk::personal_data::testing::{self, FakeLead};
    use cally_sdk::personal_data::{DenialReason, Turn};

    fn said(text: &str) -> Vec<String> {
        ReadsData
            .on_event(CallEvent::speech(text, 1.0))
            .into_iter()
            .map(|action| match action {
                Action::Say(text) => text,
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn echoes_every_read() {
        assert_eq!(said("get name"), ["name?no-handle"]);
        testing::set_lead(
            FakeLead::new("lead-p")
                .with(Field::Name, "Ada Lovelace")
                .with_preference("preferred-time", "mornings")
                .deny(Field::Phone, DenialReason::NotDeclared),
        );
        assert_eq!(said("get name"), ["name=Ada Lovelace"]);
        assert_eq!(
            said("many phone email name"),
            ["phone!not-declared", "email=none", "name=Ada Lovelace"]
        );
        assert_eq!(
            said("pref preferred-time"),
            ["pref:preferred-time=mornings"]
        );
        assert_eq!(
            said("pseudonym; get ssn"),
            ["pseudonym=lead-p", "ssn?bad-field"]
        );
        assert_eq!(said("many name ssn"), ["ssn?bad-field"]);
        assert_eq!(said("reuse name"), ["name?no-handle"]);
        assert_eq!(said("keep; reuse name"), ["kept", "name=Ada Lovelace"]);
        assert_eq!(said("recording"), ["recording?no-handle"]);
        testing::set_transcript([Turn::agent("Hi"), Turn::caller("Hello")]);
        assert_eq!(said("transcript"), ["transcript=agent:Hi|caller:Hello"]);
        testing::deny_recording(DenialReason::AuditUnavailable);
        assert_eq!(said("recording"), ["recording!audit-unavailable"]);
        assert_eq!(said("fly away"), ["fly away?bad-command"]);
        assert_eq!(
            ReadsData.on_event(CallEvent::speech("tag hot", 1.0)),
            [Action::tag("hot")]
        );
    }
}
