//! The one decision every personal-data read, tag and message goes through.

use std::fmt;

use super::{AgeStatus, Channel, ConsentRecord, LeadState, Purpose, Resource};

/// One attempt to use a lead's data: what, why, and whether the manifest allows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessRequest {
    /// What is read, written or sent. A message carries its channel
    /// ([`Resource::Message`]); see [`Resource`] for why it is not a separate field.
    pub resource: Resource,
    /// The purpose the plugin runs for (from its manifest and the world it runs in).
    pub purpose: Purpose,
    /// Whether the plugin's manifest declares this resource for this purpose. Computed
    /// by the caller from the manifest, so this module needs no manifest types.
    pub declared: bool,
    /// The host's clock, ms since the Unix epoch: consents are judged at this instant.
    pub now_ms: i64,
}

/// Why a use of personal data was denied. [`DenyReason::as_str`] is the stable code (WIT,
/// audit log); `Display` tells a tenant developer what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DenyReason {
    /// The manifest does not declare this resource for this purpose.
    NotDeclared {
        /// What was asked for.
        resource: Resource,
        /// The purpose it was asked for.
        purpose: Purpose,
    },
    /// No consent for the purpose (and channel, for messages) is on record.
    NoConsent {
        /// The purpose asked for.
        purpose: Purpose,
        /// The channel of a message send.
        channel: Option<Channel>,
    },
    /// The only matching consents have expired.
    ConsentExpired {
        /// The matching consent that expired last.
        consent_id: i64,
        /// The purpose asked for.
        purpose: Purpose,
        /// When it expired.
        expired_at_ms: i64,
    },
    /// The matching consents were withdrawn (and none is in force).
    ConsentWithdrawn {
        /// The matching consent withdrawn last.
        consent_id: i64,
        /// The purpose asked for.
        purpose: Purpose,
        /// When it was withdrawn.
        withdrawn_at_ms: i64,
    },
    /// The lead restricted processing of their data.
    LeadRestricted,
    /// The lead was erased.
    LeadErased,
    /// The lead is a minor or of unknown age, and this use is profiling or has no
    /// verifiable parental consent.
    LeadIsMinor {
        /// `Minor` or `Unknown`.
        age: AgeStatus,
        /// The purpose asked for.
        purpose: Purpose,
        /// Whether the use profiles the lead (then no consent can allow it).
        profiling: bool,
    },
    /// The audit record could not be made durable, so nothing is released (fail
    /// closed). Never returned by [`decide`]; produced by callers of the audit writer.
    AuditUnavailable,
}

impl DenyReason {
    /// The stable kebab-case code, as in the WIT `denied` enum and the audit log.
    pub const fn as_str(&self) -> &'static str {
        match self {
            DenyReason::NotDeclared { .. } => "not-declared",
            DenyReason::NoConsent { .. } => "no-consent",
            DenyReason::ConsentExpired { .. } => "consent-expired",
            DenyReason::ConsentWithdrawn { .. } => "consent-withdrawn",
            DenyReason::LeadRestricted => "lead-restricted",
            DenyReason::LeadErased => "lead-erased",
            DenyReason::LeadIsMinor { .. } => "lead-is-minor",
            DenyReason::AuditUnavailable => "audit-unavailable",
        }
    }

    /// Every code [`DenyReason::as_str`] can return.
    pub const CODES: &'static [&'static str] = &[
        "not-declared",
        "no-consent",
        "consent-expired",
        "consent-withdrawn",
        "lead-restricted",
        "lead-erased",
        "lead-is-minor",
        "audit-unavailable",
    ];
}

impl fmt::Display for DenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DenyReason::NotDeclared { resource, purpose } => write!(
                f,
                "`{resource}` is not declared in the plugin's manifest (purpose `{purpose}`): \
                 add its entry to cally.toml"
            ),
            DenyReason::NoConsent { purpose, channel } => {
                write!(f, "no consent on record for purpose {purpose}")?;
                if let Some(channel) = channel {
                    write!(f, " on channel {channel}")?;
                }
                f.write_str(": the lead must give consent before their data is used for it")
            }
            DenyReason::ConsentExpired {
                consent_id,
                purpose,
                expired_at_ms,
            } => write!(
                f,
                "consent {consent_id} for purpose {purpose} expired at {expired_at_ms} ms: \
                 the lead must renew it"
            ),
            DenyReason::ConsentWithdrawn {
                consent_id,
                purpose,
                withdrawn_at_ms,
            } => write!(
                f,
                "the lead withdrew consent {consent_id} for purpose {purpose} at \
                 {withdrawn_at_ms} ms: stop using their data for it"
            ),
            DenyReason::LeadRestricted => f.write_str(
                "the lead restricted processing of their data: every read is denied until \
                 the restriction is lifted",
            ),
            DenyReason::LeadErased => {
                f.write_str("the lead was erased: no data is left and nothing may be done with it")
            }
            DenyReason::LeadIsMinor {
                age,
                purpose,
                profiling,
            } => {
                match age {
                    AgeStatus::Unknown => {
                        f.write_str("the lead's age is unknown, so they are treated as a minor")?
                    }
                    _ => f.write_str("the lead is a minor")?,
                }
                if *profiling {
                    write!(f, ": {purpose} (tagging or profiling) is never allowed")
                } else {
                    write!(
                        f,
                        ": purpose {purpose} needs a verifiable parental consent on record"
                    )
                }
            }
            DenyReason::AuditUnavailable => f.write_str(
                "the audit log cannot be written right now, so nothing was released; retry later",
            ),
        }
    }
}

/// The outcome of [`decide`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed; the consent that makes it lawful goes into the audit record.
    Allow {
        /// The id of the deciding [`ConsentRecord`].
        consent_id: i64,
    },
    /// Denied, and why.
    Deny(DenyReason),
}

impl Decision {
    /// Whether the use is allowed.
    pub const fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow { .. })
    }

    /// The consent that allowed it, if allowed.
    pub const fn consent_id(&self) -> Option<i64> {
        match self {
            Decision::Allow { consent_id } => Some(*consent_id),
            Decision::Deny(_) => None,
        }
    }

    /// The reason it was denied, if denied.
    pub const fn deny_reason(&self) -> Option<&DenyReason> {
        match self {
            Decision::Allow { .. } => None,
            Decision::Deny(reason) => Some(reason),
        }
    }
}

/// Where a matching consent stands at the request's instant.
enum Standing {
    Active,
    Withdrawn(i64),
    Expired(i64),
}

fn standing(consent: &ConsentRecord, now_ms: i64) -> Standing {
    match (consent.withdrawn_at_ms, consent.expires_at_ms) {
        (Some(at), _) if at <= now_ms => Standing::Withdrawn(at),
        (_, Some(at)) if at <= now_ms => Standing::Expired(at),
        _ => Standing::Active,
    }
}

/// Decides one read, tag or message send. Every personal-data path in the host calls
/// this and audits the result.
///
/// `consents` are the lead's consent records (all of them, withdrawn and expired ones
/// included); records for other purposes are ignored here.
///
/// Checks, in this order; the first that fails decides:
/// 1. **not declared**: the manifest must declare the resource for the purpose
///    (a plugin bug, reported first so the developer sees it whatever the lead's state);
/// 2. **erased**, then 3. **restricted**: the lead's own wishes, whatever consent says;
/// 4. **minor rules** (`minor` or `unknown` age): tagging and the profiling purposes
///    (`crm-tagging`, `analytics`) are denied `lead-is-minor` always; for other
///    purposes only consents with `parental == true` count from here on, and if no
///    matching one exists the denial is `lead-is-minor` (what is missing is a parent's
///    consent, not just any consent);
/// 5. **consent**: a record for the purpose, in force (`granted_at_ms <= now_ms`), and
///    for a message send one for that exact channel (a consent with `channel: None`
///    covers reads only; a channel consent also covers reads for its purpose);
///    none → `no-consent`;
/// 6. **withdrawn**, then 7. **expired**: when several records match, the best decides:
///    any active one allows (the most recently granted is named), otherwise a withdrawn
///    one is reported before an expired one. A record withdrawn at or before `now_ms`
///    is withdrawn; one expiring at or before `now_ms` is expired.
pub fn decide(request: &AccessRequest, lead: &LeadState, consents: &[ConsentRecord]) -> Decision {
    let AccessRequest {
        resource,
        purpose,
        declared,
        now_ms,
    } = *request;
    if !declared {
        return Decision::Deny(DenyReason::NotDeclared { resource, purpose });
    }
    if lead.erased {
        return Decision::Deny(DenyReason::LeadErased);
    }
    if lead.restricted {
        return Decision::Deny(DenyReason::LeadRestricted);
    }
    let minor = lead.age != AgeStatus::Adult;
    if minor && (purpose.is_profiling() || resource.is_profiling()) {
        return Decision::Deny(DenyReason::LeadIsMinor {
            age: lead.age,
            purpose,
            profiling: true,
        });
    }

    let channel = resource.channel();
    let matching = consents.iter().filter(|c| {
        c.purpose == purpose
            && c.granted_at_ms <= now_ms
            && (channel.is_none() || c.channel == channel)
            && (!minor || c.parental)
    });

    let mut active: Option<&ConsentRecord> = None;
    let mut withdrawn: Option<(&ConsentRecord, i64)> = None;
    let mut expired: Option<(&ConsentRecord, i64)> = None;
    for consent in matching {
        match standing(consent, now_ms) {
            Standing::Active => {
                let newer = active.is_none_or(|best| {
                    (consent.granted_at_ms, consent.id) > (best.granted_at_ms, best.id)
                });
                if newer {
                    active = Some(consent);
                }
            }
            Standing::Withdrawn(at) => {
                if withdrawn.is_none_or(|(best, best_at)| (at, consent.id) > (best_at, best.id)) {
                    withdrawn = Some((consent, at));
                }
            }
            Standing::Expired(at) => {
                if expired.is_none_or(|(best, best_at)| (at, consent.id) > (best_at, best.id)) {
                    expired = Some((consent, at));
                }
            }
        }
    }

    match (active, withdrawn, expired) {
        (Some(consent), _, _) => Decision::Allow {
            consent_id: consent.id,
        },
        (None, Some((consent, at)), _) => Decision::Deny(DenyReason::ConsentWithdrawn {
            consent_id: consent.id,
            purpose,
            withdrawn_at_ms: at,
        }),
        (None, None, Some((consent, at))) => Decision::Deny(DenyReason::ConsentExpired {
            consent_id: consent.id,
            purpose,
            expired_at_ms: at,
        }),
        (None, None, None) if minor => Decision::Deny(DenyReason::LeadIsMinor {
            age: lead.age,
            purpose,
            profiling: false,
        }),
        (None, None, None) => Decision::Deny(DenyReason::NoConsent { purpose, channel }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::DataField;

    const NOW: i64 = 1_000_000;

    /// A consent record for the tables below: `id`, purpose, channel, parental; in force
    /// since long before `NOW` unless a builder method says otherwise.
    fn consent(id: i64, purpose: Purpose, channel: Option<Channel>) -> ConsentRecord {
        ConsentRecord {
            id,
            tenant: "acme".into(),
            lead: "lead-1".into(),
            purpose,
            channel,
            granted_at_ms: NOW - 10_000,
            expires_at_ms: None,
            withdrawn_at_ms: None,
            source: "web-form".into(),
            evidence: "form-42".into(),
            parental: false,
        }
    }

    trait Tweak {
        fn parental(self) -> Self;
        fn withdrawn(self, at: i64) -> Self;
        fn expires(self, at: i64) -> Self;
        fn granted(self, at: i64) -> Self;
    }

    impl Tweak for ConsentRecord {
        fn parental(mut self) -> Self {
            self.parental = true;
            self
        }
        fn withdrawn(mut self, at: i64) -> Self {
            self.withdrawn_at_ms = Some(at);
            self
        }
        fn expires(mut self, at: i64) -> Self {
            self.expires_at_ms = Some(at);
            self
        }
        fn granted(mut self, at: i64) -> Self {
            self.granted_at_ms = at;
            self
        }
    }

    const ADULT: LeadState = LeadState {
        age: AgeStatus::Adult,
        restricted: false,
        erased: false,
    };
    const MINOR: LeadState = LeadState {
        age: AgeStatus::Minor,
        ..ADULT
    };
    const UNKNOWN_AGE: LeadState = LeadState {
        age: AgeStatus::Unknown,
        ..ADULT
    };
    const RESTRICTED: LeadState = LeadState {
        restricted: true,
        ..ADULT
    };
    const ERASED_AND_RESTRICTED: LeadState = LeadState {
        erased: true,
        restricted: true,
        age: AgeStatus::Minor,
    };

    use Channel::*;
    use Purpose::*;

    const PHONE: Resource = Resource::Field(DataField::Phone);
    const NAME: Resource = Resource::Field(DataField::Name);

    fn read(resource: Resource, purpose: Purpose) -> AccessRequest {
        AccessRequest {
            resource,
            purpose,
            declared: true,
            now_ms: NOW,
        }
    }

    fn allow(consent_id: i64) -> Decision {
        Decision::Allow { consent_id }
    }

    fn deny(reason: DenyReason) -> Decision {
        Decision::Deny(reason)
    }

    fn minor(age: AgeStatus, purpose: Purpose, profiling: bool) -> Decision {
        deny(DenyReason::LeadIsMinor {
            age,
            purpose,
            profiling,
        })
    }

    fn no_consent(purpose: Purpose, channel: Option<Channel>) -> Decision {
        deny(DenyReason::NoConsent { purpose, channel })
    }

    #[test]
    fn every_branch_in_order() {
        let undeclared = AccessRequest {
            declared: false,
            ..read(PHONE, CallHandling)
        };
        #[rustfmt::skip]
        let cases: Vec<(&str, AccessRequest, LeadState, Vec<ConsentRecord>, Decision)> = vec![
            // 1. not declared: first, whatever else is wrong.
            ("undeclared beats erased", undeclared, ERASED_AND_RESTRICTED, vec![],
             deny(DenyReason::NotDeclared { resource: PHONE, purpose: CallHandling })),
            ("undeclared with consent", undeclared, ADULT, vec![consent(1, CallHandling, None)],
             deny(DenyReason::NotDeclared { resource: PHONE, purpose: CallHandling })),
            // 2. erased beats restricted and minor.
            ("erased", read(PHONE, CallHandling), ERASED_AND_RESTRICTED,
             vec![consent(1, CallHandling, None).parental()], deny(DenyReason::LeadErased)),
            // 3. restricted beats consent.
            ("restricted", read(PHONE, CallHandling), RESTRICTED,
             vec![consent(1, CallHandling, None)], deny(DenyReason::LeadRestricted)),
            // 4. minor rules.
            ("minor: crm-tagging never, even with parental consent", read(NAME, CrmTagging), MINOR,
             vec![consent(1, CrmTagging, None).parental()], minor(AgeStatus::Minor, CrmTagging, true)),
            ("unknown age: analytics never", read(NAME, Analytics), UNKNOWN_AGE,
             vec![consent(1, Analytics, None).parental()], minor(AgeStatus::Unknown, Analytics, true)),
            ("minor: writing a tag never, whatever the purpose", read(Resource::Tag, CallHandling), MINOR,
             vec![consent(1, CallHandling, None).parental()], minor(AgeStatus::Minor, CallHandling, true)),
            ("minor: ordinary consent is not enough", read(PHONE, CallHandling), MINOR,
             vec![consent(1, CallHandling, None)], minor(AgeStatus::Minor, CallHandling, false)),
            ("unknown age: no consent at all asks for parental consent", read(PHONE, CallHandling), UNKNOWN_AGE,
             vec![], minor(AgeStatus::Unknown, CallHandling, false)),
            ("minor: parental consent allows", read(PHONE, CallHandling), MINOR,
             vec![consent(1, CallHandling, None), consent(2, CallHandling, None).parental()], allow(2)),
            ("unknown age: parental consent allows a message", read(Resource::Message(Sms), Marketing), UNKNOWN_AGE,
             vec![consent(3, Marketing, Some(Sms)).parental()], allow(3)),
            ("minor: withdrawn parental consent reports withdrawal", read(PHONE, CallHandling), MINOR,
             vec![consent(1, CallHandling, None), consent(2, CallHandling, None).parental().withdrawn(NOW - 1)],
             deny(DenyReason::ConsentWithdrawn { consent_id: 2, purpose: CallHandling, withdrawn_at_ms: NOW - 1 })),
            ("adult: parental flag is irrelevant", read(PHONE, CrmTagging), ADULT,
             vec![consent(4, CrmTagging, None).parental()], allow(4)),
            // 5. consent for the purpose (and channel for messages).
            ("adult: nothing on record", read(PHONE, CallHandling), ADULT, vec![],
             no_consent(CallHandling, None)),
            ("adult: consent for another purpose", read(PHONE, Marketing), ADULT,
             vec![consent(1, CallHandling, None), consent(2, Analytics, Some(Email))], no_consent(Marketing, None)),
            ("adult: consent not yet in force", read(PHONE, CallHandling), ADULT,
             vec![consent(1, CallHandling, None).granted(NOW + 1)], no_consent(CallHandling, None)),
            ("consent granted exactly now is in force", read(PHONE, CallHandling), ADULT,
             vec![consent(1, CallHandling, None).granted(NOW)], allow(1)),
            ("read: any consent for the purpose", read(PHONE, CallHandling), ADULT,
             vec![consent(1, CallHandling, None)], allow(1)),
            ("read: a channel consent covers reads", read(PHONE, Marketing), ADULT,
             vec![consent(5, Marketing, Some(Whatsapp))], allow(5)),
            ("message: channel-less consent does not cover sends", read(Resource::Message(Whatsapp), Marketing), ADULT,
             vec![consent(1, Marketing, None)], no_consent(Marketing, Some(Whatsapp))),
            ("message: another channel does not cover it", read(Resource::Message(Whatsapp), Marketing), ADULT,
             vec![consent(1, Marketing, Some(Sms))], no_consent(Marketing, Some(Whatsapp))),
            ("message: exact channel allows", read(Resource::Message(Whatsapp), Marketing), ADULT,
             vec![consent(1, Marketing, Some(Sms)), consent(2, Marketing, Some(Whatsapp))], allow(2)),
            ("message: exact channel for another purpose does not", read(Resource::Message(Whatsapp), Marketing), ADULT,
             vec![consent(2, CallHandling, Some(Whatsapp))], no_consent(Marketing, Some(Whatsapp))),
            ("transcript and recording go through the same rules", read(Resource::Transcript, Analytics), ADULT,
             vec![consent(7, Analytics, None)], allow(7)),
            ("recording without consent", read(Resource::Recording, CallHandling), ADULT,
             vec![], no_consent(CallHandling, None)),
            // 6. withdrawn.
            ("withdrawn", read(PHONE, CallHandling), ADULT,
             vec![consent(1, CallHandling, None).withdrawn(NOW)],
             deny(DenyReason::ConsentWithdrawn { consent_id: 1, purpose: CallHandling, withdrawn_at_ms: NOW })),
            ("withdrawal scheduled later is not yet in effect", read(PHONE, CallHandling), ADULT,
             vec![consent(1, CallHandling, None).withdrawn(NOW + 1)], allow(1)),
            ("withdrawn and expired on one record reports withdrawn", read(PHONE, CallHandling), ADULT,
             vec![consent(1, CallHandling, None).withdrawn(NOW - 5).expires(NOW - 10)],
             deny(DenyReason::ConsentWithdrawn { consent_id: 1, purpose: CallHandling, withdrawn_at_ms: NOW - 5 })),
            ("withdrawn is reported over expired", read(PHONE, CallHandling), ADULT,
             vec![consent(1, CallHandling, None).expires(NOW - 1), consent(2, CallHandling, None).withdrawn(NOW - 100)],
             deny(DenyReason::ConsentWithdrawn { consent_id: 2, purpose: CallHandling, withdrawn_at_ms: NOW - 100 })),
            ("the latest withdrawal is named", read(PHONE, CallHandling), ADULT,
             vec![consent(1, CallHandling, None).withdrawn(NOW - 1), consent(2, CallHandling, None).withdrawn(NOW - 100)],
             deny(DenyReason::ConsentWithdrawn { consent_id: 1, purpose: CallHandling, withdrawn_at_ms: NOW - 1 })),
            ("an active consent beats a withdrawn one", read(PHONE, CallHandling), ADULT,
             vec![consent(1, CallHandling, None).withdrawn(NOW - 1), consent(2, CallHandling, None)], allow(2)),
            // 7. expired.
            ("expired exactly now", read(PHONE, CallHandling), ADULT,
             vec![consent(1, CallHandling, None).expires(NOW)],
             deny(DenyReason::ConsentExpired { consent_id: 1, purpose: CallHandling, expired_at_ms: NOW })),
            ("expiring later is active", read(PHONE, CallHandling), ADULT,
             vec![consent(1, CallHandling, None).expires(NOW + 1)], allow(1)),
            ("the latest expiry is named", read(PHONE, CallHandling), ADULT,
             vec![consent(1, CallHandling, None).expires(NOW - 50), consent(2, CallHandling, None).expires(NOW - 5)],
             deny(DenyReason::ConsentExpired { consent_id: 2, purpose: CallHandling, expired_at_ms: NOW - 5 })),
            ("an active consent beats an expired one", read(PHONE, CallHandling), ADULT,
             vec![consent(1, CallHandling, None).expires(NOW - 1), consent(2, CallHandling, None).expires(NOW + 99)],
             allow(2)),
            ("several active: the most recently granted is named", read(PHONE, CallHandling), ADULT,
             vec![consent(3, CallHandling, None).granted(NOW - 5), consent(1, CallHandling, None).granted(NOW - 2),
                  consent(2, CallHandling, None).granted(NOW - 9)], allow(1)),
        ];
        for (name, request, lead, consents, expected) in cases {
            assert_eq!(decide(&request, &lead, &consents), expected, "case: {name}");
        }
    }

    #[test]
    fn withdrawal_takes_effect_on_the_next_read() {
        let mut consents = vec![consent(1, CallHandling, None)];
        let request = read(PHONE, CallHandling);
        assert_eq!(decide(&request, &ADULT, &consents), allow(1));
        consents[0].withdrawn_at_ms = Some(NOW);
        assert_eq!(
            decide(&request, &ADULT, &consents)
                .deny_reason()
                .unwrap()
                .as_str(),
            "consent-withdrawn"
        );
    }

    #[test]
    fn codes_and_messages_tell_what_to_do() {
        let cases = [
            (
                DenyReason::NotDeclared {
                    resource: PHONE,
                    purpose: CallHandling,
                },
                "not-declared",
                "`phone` is not declared in the plugin's manifest (purpose `call-handling`): add its entry to cally.toml",
            ),
            (
                DenyReason::NoConsent {
                    purpose: Marketing,
                    channel: Some(Whatsapp),
                },
                "no-consent",
                "no consent on record for purpose marketing on channel whatsapp: the lead must give consent before their data is used for it",
            ),
            (
                DenyReason::NoConsent {
                    purpose: Analytics,
                    channel: None,
                },
                "no-consent",
                "no consent on record for purpose analytics: the lead must give consent before their data is used for it",
            ),
            (
                DenyReason::ConsentExpired {
                    consent_id: 7,
                    purpose: Marketing,
                    expired_at_ms: 99,
                },
                "consent-expired",
                "consent 7 for purpose marketing expired at 99 ms: the lead must renew it",
            ),
            (
                DenyReason::ConsentWithdrawn {
                    consent_id: 7,
                    purpose: Marketing,
                    withdrawn_at_ms: 99,
                },
                "consent-withdrawn",
                "the lead withdrew consent 7 for purpose marketing at 99 ms: stop using their data for it",
            ),
            (
                DenyReason::LeadRestricted,
                "lead-restricted",
                "the lead restricted processing of their data: every read is denied until the restriction is lifted",
            ),
            (
                DenyReason::LeadErased,
                "lead-erased",
                "the lead was erased: no data is left and nothing may be done with it",
            ),
            (
                DenyReason::LeadIsMinor {
                    age: AgeStatus::Minor,
                    purpose: CrmTagging,
                    profiling: true,
                },
                "lead-is-minor",
                "the lead is a minor: crm-tagging (tagging or profiling) is never allowed",
            ),
            (
                DenyReason::LeadIsMinor {
                    age: AgeStatus::Unknown,
                    purpose: CallHandling,
                    profiling: false,
                },
                "lead-is-minor",
                "the lead's age is unknown, so they are treated as a minor: purpose call-handling needs a verifiable parental consent on record",
            ),
            (
                DenyReason::AuditUnavailable,
                "audit-unavailable",
                "the audit log cannot be written right now, so nothing was released; retry later",
            ),
        ];
        for (reason, code, message) in cases {
            assert_eq!(reason.as_str(), code);
            assert!(DenyReason::CODES.contains(&code));
            assert_eq!(reason.to_string(), message);
        }
    }
}
