//! One sentence per audit record, for people reading a lead's access report: who
//! (a plugin, a person's API key, a host task), did what to which fields, when,
//! from where, and whether it was allowed.

use super::AuditRecord;

/// The record as one sentence, such as
/// ``lead.read by the tenant-admin key `0123456789abcdef` from 10.0.0.7 at
/// 2026-11-30T03:40:40.123Z: name,phone,email (allowed)`` or
/// ``plugin `reminder` 1.0.0 on call `c-1` at 2026-11-30T03:40:41.000Z: phone for
/// call-handling (denied: no-consent)``.
pub fn describe(record: &AuditRecord) -> String {
    let at = utc(record.time_ms);
    let outcome = match &record.reason {
        Some(reason) => format!("{}: {reason}", record.decision),
        None => record.decision.clone(),
    };
    match &record.actor {
        Some(actor) => {
            let call = match record.call_id.as_str() {
                "-" => String::new(),
                call => format!(" on call `{call}`"),
            };
            format!(
                "{} by the {} key `{}` from {}{call} at {at}: {} ({outcome})",
                actor.operation, actor.role, actor.key_id, actor.address, record.resource
            )
        }
        None => format!(
            "plugin `{}` {} on call `{}` at {at}: {} for {} ({outcome})",
            record.plugin, record.plugin_version, record.call_id, record.resource, record.purpose
        ),
    }
}

/// `ms` since the Unix epoch as an RFC 3339 UTC time with milliseconds
/// (`2026-11-30T03:40:40.123Z`), in the proleptic Gregorian calendar.
pub fn utc(ms: i64) -> String {
    let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (year, month, day) = civil_from_days(days);
    let seconds = ms_of_day / 1000;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60,
        ms_of_day % 1000
    )
}

/// The calendar date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AuditActor, GENESIS_HASH};

    #[test]
    fn times_are_rfc_3339_utc() {
        assert_eq!(utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(utc(1_796_009_040_123), "2026-11-30T03:24:00.123Z");
        assert_eq!(utc(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(utc(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
    }

    fn record(actor: Option<AuditActor>) -> AuditRecord {
        AuditRecord {
            tenant: "acme".into(),
            seq: 1,
            time_ms: 0,
            plugin: "reminder".into(),
            plugin_version: "1.0.0".into(),
            component_digest: "sha256:ab".into(),
            call_id: "c-1".into(),
            lead: None,
            resource: "phone".into(),
            purpose: "call-handling".into(),
            decision: "denied".into(),
            reason: Some("no-consent".into()),
            consent_id: None,
            actor,
            prev_hash: GENESIS_HASH.into(),
            hash: String::new(),
        }
    }

    #[test]
    fn plugins_and_people_read_as_sentences() {
        assert_eq!(
            describe(&record(None)),
            "plugin `reminder` 1.0.0 on call `c-1` at 1970-01-01T00:00:00.000Z: phone for call-handling (denied: no-consent)"
        );
        let mut person = record(Some(AuditActor {
            key_id: "0123456789abcdef".into(),
            role: "tenant-admin".into(),
            address: "10.0.0.7".into(),
            operation: "lead.read".into(),
        }));
        person.call_id = "-".into();
        person.decision = "allowed".into();
        person.reason = None;
        person.resource = "name,phone".into();
        assert_eq!(
            describe(&person),
            "lead.read by the tenant-admin key `0123456789abcdef` from 10.0.0.7 at 1970-01-01T00:00:00.000Z: name,phone (allowed)"
        );
    }
}
