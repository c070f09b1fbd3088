//! The host clock: the one reading of wall-clock time that records (audit,
//! consents, calls, keys, checkpoints) are stamped with, in milliseconds since
//! the Unix epoch. A leaf: it imports nothing of the crate, so any module may
//! use it without pulling in another.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in ms since the Unix epoch (0 on a clock set before 1970), as every
/// stored `*_ms` column and record field holds it.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// [`now_ms`] as the WIT interface and WASI's wall clock take it (unsigned):
/// what a plugin is told the time is.
pub fn now_ms_unsigned() -> u64 {
    u64::try_from(now_ms()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn both_readings_agree_and_are_after_2020() {
        let signed = super::now_ms();
        let unsigned = super::now_ms_unsigned();
        assert!(signed > 1_577_836_800_000, "{signed}");
        assert!(unsigned >= signed as u64 && unsigned - (signed as u64) < 60_000);
    }
}
