//! The consent model and the one decision every personal-data read, tag and message
//! goes through ([`decide`]). Pure: no I/O, no clock; callers pass the lead's state,
//! its consent records and the time.
//!
//! The vocabulary ([`Purpose`], [`Channel`], [`DataField`], [`Resource`], [`AgeStatus`])
//! lives here; the decision lives in `decide.rs`.

mod decide;

pub use decide::{AccessRequest, Decision, DenyReason, decide};

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Occurs when a purpose, channel, field, resource or age status is spelled in a way
/// this version does not know (in a manifest, a fixture, an API request or the database).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} '{value}': expected one of {allowed}")]
pub struct ParseError {
    /// What was being parsed: `purpose`, `channel`, `field`, ...
    pub kind: &'static str,
    /// The bad input, as given.
    pub value: String,
    /// The accepted spellings, comma separated, for the message.
    pub allowed: String,
}

/// Declares a fieldless enum whose variants have one kebab-case spelling used by serde,
/// `Display`, `FromStr`, the database and the audit log alike.
macro_rules! spelled_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $kind:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        #[schema(rename_all = "kebab-case")]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $text)] $variant ),+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The one spelling of this value (serde, database, audit log, messages).
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = ParseError;

            fn from_str(s: &str) -> Result<Self, ParseError> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(ParseError {
                        kind: $kind,
                        value: s.to_owned(),
                        allowed: [$($text),+].join(", "),
                    }),
                }
            }
        }
    };
}

spelled_enum! {
    /// Why personal data is processed. A manifest declares fields per purpose, a consent
    /// is given per purpose, and every read names one.
    Purpose, "purpose" {
        /// Running the call the lead is on (greeting by name, reading the preferred time).
        CallHandling = "call-handling",
        /// Writing CRM tags about the lead. Profiling: never for minors.
        CrmTagging = "crm-tagging",
        /// Contacting the lead with offers.
        Marketing = "marketing",
        /// Statistics and models built from leads' data. Profiling: never for minors.
        Analytics = "analytics",
    }
}

impl Purpose {
    /// Whether this purpose profiles the lead, which is never allowed for a minor or a
    /// lead of unknown age, whatever consent is on record.
    pub const fn is_profiling(self) -> bool {
        matches!(self, Purpose::CrmTagging | Purpose::Analytics)
    }
}

spelled_enum! {
    /// A channel a message can be sent on. Message sends need consent for that exact
    /// channel.
    Channel, "channel" {
        /// A phone call.
        Voice = "voice",
        /// A text message.
        Sms = "sms",
        /// A WhatsApp message.
        Whatsapp = "whatsapp",
        /// An email.
        Email = "email",
    }
}

spelled_enum! {
    /// A column of the lead record that a plugin can read with `lead.get(field)`.
    DataField, "field" {
        /// Full name.
        Name = "name",
        /// Phone number.
        Phone = "phone",
        /// Email address.
        Email = "email",
        /// Where the lead lives or is.
        Location = "location",
        /// Preferred language.
        Language = "language",
        /// Free-form preferences (a JSON object; reads may name a key).
        Preferences = "preferences",
    }
}

spelled_enum! {
    /// How old the lead is known to be. `Unknown` is treated like `Minor`.
    AgeStatus, "age status" {
        /// Known to be 18 or older.
        Adult = "adult",
        /// Known to be under 18.
        Minor = "minor",
        /// Not known: treated as a minor.
        Unknown = "unknown",
    }
}

/// What a decision is about: a lead field, a call's transcript or recording, writing a
/// tag, or sending a message on a channel.
///
/// Kept apart from [`DataField`] because only the first kind is a column of the lead
/// record (and the WIT `field` enum); transcripts and recordings are handles of their
/// own, and tags and messages are actions. Carrying the channel inside `Message` makes
/// "a message without a channel" and "a field read on a channel" impossible to express.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    /// A read of one lead field.
    Field(DataField),
    /// A read of the current call's transcript.
    Transcript,
    /// A read of the current call's recording.
    Recording,
    /// Writing a CRM tag on the lead (always profiling: never for minors).
    Tag,
    /// Sending a message to the lead on a channel.
    Message(Channel),
}

impl Resource {
    /// The channel of a message send; `None` for reads and tags.
    pub const fn channel(self) -> Option<Channel> {
        match self {
            Resource::Message(channel) => Some(channel),
            _ => None,
        }
    }

    /// Whether acting on this resource profiles the lead whatever the purpose.
    pub const fn is_profiling(self) -> bool {
        matches!(self, Resource::Tag)
    }
}

/// Spelled as in the audit log: `phone`, `transcript`, `recording`, `tag`,
/// `message:whatsapp`.
impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resource::Field(field) => f.write_str(field.as_str()),
            Resource::Transcript => f.write_str("transcript"),
            Resource::Recording => f.write_str("recording"),
            Resource::Tag => f.write_str("tag"),
            Resource::Message(channel) => write!(f, "message:{channel}"),
        }
    }
}

impl FromStr for Resource {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, ParseError> {
        match s {
            "transcript" => Ok(Resource::Transcript),
            "recording" => Ok(Resource::Recording),
            "tag" => Ok(Resource::Tag),
            _ => {
                if let Some(channel) = s.strip_prefix("message:") {
                    return channel.parse().map(Resource::Message);
                }
                s.parse().map(Resource::Field).map_err(|_| ParseError {
                    kind: "resource",
                    value: s.to_owned(),
                    allowed: DataField::ALL
                        .iter()
                        .map(|f| f.as_str().to_owned())
                        .chain(["transcript", "recording", "tag"].map(String::from))
                        .chain(Channel::ALL.iter().map(|c| format!("message:{c}")))
                        .collect::<Vec<_>>()
                        .join(", "),
                })
            }
        }
    }
}

/// One consent a lead gave (or a parent gave for them): for one purpose, optionally one
/// channel, from a time, until an optional expiry or withdrawal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConsentRecord {
    /// Database id; reported with every allowed read so the audit log names the
    /// consent that made it lawful.
    pub id: i64,
    /// The tenant whose lead gave it.
    pub tenant: String,
    /// The tenant-chosen lead id.
    pub lead: String,
    /// What the data may be used for.
    pub purpose: Purpose,
    /// The channel it covers. `None`: reads only; message sends need a consent for
    /// their exact channel.
    pub channel: Option<Channel>,
    /// In force from this time (ms since the Unix epoch).
    pub granted_at_ms: i64,
    /// No longer in force from this time, if it expires.
    pub expires_at_ms: Option<i64>,
    /// No longer in force from this time, if withdrawn. Withdrawing again keeps the
    /// first time.
    pub withdrawn_at_ms: Option<i64>,
    /// Where it was collected (`web-form`, `call`, `crm-import`, ...).
    pub source: String,
    /// What proves it (a form submission id, a recording reference, ...).
    pub evidence: String,
    /// Verifiable parental consent: the only kind that lets a minor's (or a lead of
    /// unknown age's) data be used, and never for profiling.
    pub parental: bool,
}

/// What the decision needs to know about the lead beyond its consents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadState {
    /// Known age; `Unknown` is treated like `Minor`.
    pub age: AgeStatus,
    /// The lead asked to restrict processing: every read is denied while set.
    pub restricted: bool,
    /// The lead was erased: nothing is left to read and nothing may be done.
    pub erased: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip_through_display_fromstr_and_serde() {
        for p in Purpose::ALL {
            assert_eq!(p.to_string().parse::<Purpose>().unwrap(), *p);
            let json = serde_json::to_string(p).unwrap();
            assert_eq!(json, format!("\"{p}\""));
            assert_eq!(serde_json::from_str::<Purpose>(&json).unwrap(), *p);
        }
        assert_eq!(Purpose::CallHandling.as_str(), "call-handling");
        for c in Channel::ALL {
            assert_eq!(c.as_str().parse::<Channel>().unwrap(), *c);
        }
        for f in DataField::ALL {
            assert_eq!(f.as_str().parse::<DataField>().unwrap(), *f);
        }
        for a in AgeStatus::ALL {
            assert_eq!(a.as_str().parse::<AgeStatus>().unwrap(), *a);
        }
    }

    #[test]
    fn a_bad_spelling_names_itself_and_the_allowed_values() {
        let err = "advertising".parse::<Purpose>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown purpose 'advertising': expected one of call-handling, crm-tagging, marketing, analytics"
        );
        let err = "fax".parse::<Channel>().unwrap_err();
        assert!(err.to_string().contains("unknown channel 'fax'"), "{err}");
        assert!(
            serde_json::from_str::<Purpose>("\"CallHandling\"").is_err(),
            "serde takes only the kebab-case spelling"
        );
    }

    #[test]
    fn resources_are_spelled_as_in_the_audit_log() {
        let cases = [
            (Resource::Field(DataField::Phone), "phone"),
            (Resource::Transcript, "transcript"),
            (Resource::Recording, "recording"),
            (Resource::Tag, "tag"),
            (Resource::Message(Channel::Whatsapp), "message:whatsapp"),
        ];
        for (resource, text) in cases {
            assert_eq!(resource.to_string(), text);
            assert_eq!(text.parse::<Resource>().unwrap(), resource);
        }
        assert!(
            "message:fax"
                .parse::<Resource>()
                .unwrap_err()
                .to_string()
                .contains("unknown channel 'fax'")
        );
        let err = "salary".parse::<Resource>().unwrap_err().to_string();
        assert!(
            err.contains("unknown resource 'salary'") && err.contains("message:sms"),
            "{err}"
        );
        assert_eq!(
            Resource::Message(Channel::Sms).channel(),
            Some(Channel::Sms)
        );
        assert_eq!(Resource::Field(DataField::Email).channel(), None);
    }
}
