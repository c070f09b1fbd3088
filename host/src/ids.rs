//! The one grammar every identifier is checked against where it enters the
//! host: call ids, lead ids, tenant ids, campaigns, key ids, plugin names and
//! versions, from API bodies and paths and from `cally simulate` files.
//!
//! An id ends up in log lines, problem documents, CSV exports and audit
//! records. A control character in one (a NUL, a newline) could forge a log
//! line or cut a C string short; an id such as `-` or `--` reads as a command
//! line option. So an id is 1 to [`MAX_ID_LEN`] characters of ASCII letters,
//! digits, `-`, `_`, `.` and `:`, and starts with a letter or a digit.
//!
//! Ids the host only looks up (a path parameter naming a lead, a call, a
//! key) pass [`check_lookup`] instead: no control characters, at most
//! [`MAX_ID_LEN`] characters. A lead stored before this grammar existed, with
//! an id such as `ada@example.com`, stays reachable for access and erasure.

/// The longest id, in characters.
pub const MAX_ID_LEN: usize = 128;

/// The grammar, as error messages state it.
pub const GRAMMAR: &str = "1 to 128 characters of A-Z, a-z, 0-9, '-', '_', '.' and ':', starting with a letter or a digit";

/// The grammar of a looked-up id, as error messages state it.
pub const LOOKUP_GRAMMAR: &str = "1 to 128 characters and no control characters";

/// How many characters of a refused value an error message shows.
const SHOWN: usize = 64;

/// Occurs when an id does not fit its grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {shown} is refused: {problem}; expected {expected}")]
pub struct InvalidId {
    /// Where the id was found, such as `call_id` or `path parameter id`.
    pub field: String,
    /// The value as `{:?}` writes it (control characters escaped), cut to
    /// 64 characters, with its length when it was cut.
    pub shown: String,
    /// What is wrong with it.
    pub problem: String,
    /// The grammar it had to fit.
    pub expected: String,
}

/// Checks an id that enters the host (a new call, lead, tenant, key,
/// campaign) against the grammar; the error names `field`, the value and the
/// grammar.
pub fn check_id(field: &str, value: &str) -> Result<(), InvalidId> {
    let refuse = |problem: String| {
        Err(InvalidId {
            field: field.to_owned(),
            shown: shown(value),
            problem,
            expected: GRAMMAR.into(),
        })
    };
    let Some(first) = value.chars().next() else {
        return refuse("it is empty".into());
    };
    let len = value.chars().count();
    if len > MAX_ID_LEN {
        return refuse(format!("it is {len} characters long"));
    }
    if !first.is_ascii_alphanumeric() {
        return refuse(format!("it starts with {first:?}"));
    }
    if let Some(bad) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
    {
        return refuse(format!("it holds {bad:?}"));
    }
    Ok(())
}

/// Checks an id the host only looks up: at most [`MAX_ID_LEN`] characters,
/// none of them a control character. Ids stored before [`check_id`] existed
/// may hold other characters; they are found (or not) like any other.
pub fn check_lookup(field: &str, value: &str) -> Result<(), InvalidId> {
    let refuse = |problem: String| {
        Err(InvalidId {
            field: field.to_owned(),
            shown: shown(value),
            problem,
            expected: LOOKUP_GRAMMAR.into(),
        })
    };
    let len = value.chars().count();
    if len == 0 {
        return refuse("it is empty".into());
    }
    if len > MAX_ID_LEN {
        return refuse(format!("it is {len} characters long"));
    }
    if let Some(bad) = value.chars().find(|c| c.is_control()) {
        return refuse(format!("it holds the control character {bad:?}"));
    }
    Ok(())
}

/// Checks free text kept for people (a key's label, consent evidence): 1 to
/// `max` characters, not blank, and no control characters, so it cannot
/// forge a log line or a CSV row.
pub fn check_text(field: &str, value: &str, max: usize) -> Result<(), InvalidId> {
    let refuse = |problem: String| {
        Err(InvalidId {
            field: field.to_owned(),
            shown: shown(value),
            problem,
            expected: format!("1 to {max} characters, not blank, no control characters"),
        })
    };
    let len = value.chars().count();
    if value.trim().is_empty() {
        return refuse("it is empty or blank".into());
    }
    if len > max {
        return refuse(format!("it is {len} characters long, the limit is {max}"));
    }
    if let Some(bad) = value.chars().find(|c| c.is_control()) {
        return refuse(format!("it holds the control character {bad:?}"));
    }
    Ok(())
}

/// `value` as `{:?}` writes it, cut to 64 characters (a refusal
/// never echoes a megabyte back).
pub fn shown(value: &str) -> String {
    let len = value.chars().count();
    if len <= SHOWN {
        format!("{value:?}")
    } else {
        let head: String = value.chars().take(SHOWN).collect();
        format!("{head:?}… ({len} characters)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_ids_fit() {
        for id in [
            "call-1",
            "lead-ada",
            "0044207946000",
            "CA1234abcd",
            "v3:abc_DEF-9.x",
            "a",
            &"x".repeat(MAX_ID_LEN),
        ] {
            check_id("call_id", id).unwrap_or_else(|e| panic!("{id:?}: {e}"));
        }
    }

    #[test]
    fn control_characters_options_and_odd_starts_are_refused_by_name() {
        let err = check_id("call_id", "call-1\nWARN forged").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "call_id \"call-1\\nWARN forged\" is refused: it holds '\\n'; expected {GRAMMAR}"
            )
        );
        assert!(
            check_id("lead_id", "a\0b")
                .unwrap_err()
                .to_string()
                .contains("\"a\\0b\"")
        );
        for bad in [
            "-",
            "--",
            "-rf",
            ".hidden",
            "=HYPERLINK(1)",
            "+1",
            "@x",
            " a",
            "",
        ] {
            let err = check_id("tenant id", bad).unwrap_err();
            assert!(err.to_string().starts_with("tenant id "), "{err}");
        }
        assert!(check_id("x", &"a".repeat(MAX_ID_LEN + 1)).is_err());
        assert!(check_id("x", "naïve").is_err());
    }

    #[test]
    fn lookups_refuse_only_control_characters_and_length() {
        check_lookup("path parameter id", "ada@example.com").unwrap();
        let err = check_lookup("path parameter id", "a\rb").unwrap_err();
        assert!(err.to_string().contains("'\\r'"), "{err}");
        assert!(check_lookup("id", "").is_err());
        assert!(check_lookup("id", &"a".repeat(MAX_ID_LEN + 1)).is_err());
    }

    #[test]
    fn text_must_be_present_bounded_and_printable() {
        check_text("evidence", "form-2291, signed", 100).unwrap();
        assert!(check_text("evidence", "", 100).is_err());
        assert!(check_text("evidence", "   ", 100).is_err());
        assert!(check_text("evidence", "a\nb", 100).is_err());
        let err = check_text("evidence", &"e".repeat(101), 100).unwrap_err();
        assert!(err.to_string().contains("101 characters long"), "{err}");
    }

    #[test]
    fn long_values_are_cut_in_messages() {
        let err = check_id("call_id", &"=".repeat(1_000_000)).unwrap_err();
        assert!(err.to_string().len() < 400, "{}", err.to_string().len());
        assert!(err.to_string().contains("(1000000 characters)"));
    }
}
