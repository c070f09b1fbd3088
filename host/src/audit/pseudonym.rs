//! Lead pseudonyms: a keyed hash of tenant and lead id, so the audit log can say which
//! lead a record is about without holding anything that identifies the person once the
//! lead is erased.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::secret_file::{IfShared, SECRET_LEN, SecretFileError, load_or_create_secret};

/// The key file's name inside the data directory.
pub const KEY_FILE_NAME: &str = "pseudonym.key";

const KEY_LEN: usize = SECRET_LEN;

/// Occurs when the pseudonym key cannot be read or created.
#[derive(Debug, thiserror::Error)]
pub enum PseudonymKeyError {
    /// Occurs when the key file cannot be read, created or written.
    #[error("cannot {action} pseudonym key '{path}': {source}")]
    Io {
        /// `read`, `create`, ...
        action: &'static str,
        /// The key file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Occurs when the key file exists but does not hold exactly 32 bytes (truncated or
    /// replaced): pseudonyms made with another key would not match earlier records.
    #[error("pseudonym key '{path}' holds {len} bytes, expected {KEY_LEN}; restore it from backup")]
    Length {
        /// The key file.
        path: PathBuf,
        /// What it holds.
        len: usize,
    },
    /// Occurs when the operating system's random source fails.
    #[error("cannot generate a pseudonym key: {0}")]
    Random(String),
}

impl From<SecretFileError> for PseudonymKeyError {
    fn from(error: SecretFileError) -> Self {
        match error {
            SecretFileError::Io {
                action,
                path,
                source,
            } => Self::Io {
                action,
                path,
                source,
            },
            SecretFileError::Length { path, len } => Self::Length { path, len },
            // Not returned with `IfShared::MakePrivate`; kept total all the same.
            SecretFileError::Shared { path, mode } => Self::Io {
                action: "set mode 0600 on",
                path,
                source: io::Error::other(format!("it still has mode {mode:04o}")),
            },
            SecretFileError::Random(detail) => Self::Random(detail),
        }
    }
}

/// Turns (tenant, lead id) into `lead-` + 16 hex chars with HMAC-SHA256 under a secret
/// key. The same lead always gets the same pseudonym (so a reviewer can follow one lead
/// through the log), different tenants' leads never share one by construction of the
/// input, and without the key a pseudonym cannot be linked back to a lead id, even by
/// trying likely ids.
#[derive(Clone)]
pub struct Pseudonymizer {
    key: [u8; KEY_LEN],
}

impl fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pseudonymizer { key: <redacted> }")
    }
}

impl Pseudonymizer {
    /// Reads `<data_dir>/pseudonym.key`, creating it with 32 random bytes (mode 0600) on
    /// first use, and making it 0600 (with a warning) if it was readable by others. Losing the key breaks the link between old and new records of a lead;
    /// back it up with the database.
    pub fn load_or_create(data_dir: &Path) -> Result<Pseudonymizer, PseudonymKeyError> {
        // A key left readable by others (by an earlier version, or a copy) would let
        // them link pseudonyms to lead ids: made owner only.
        let secret = load_or_create_secret(data_dir, KEY_FILE_NAME, IfShared::MakePrivate)
            .map_err(PseudonymKeyError::from)?;
        Ok(Pseudonymizer { key: secret.bytes })
    }

    /// A pseudonymizer with a given key (tests, fixtures).
    pub fn from_key(key: [u8; KEY_LEN]) -> Pseudonymizer {
        Pseudonymizer { key }
    }

    /// The pseudonym of a tenant's lead: `lead-` + the first 8 bytes of
    /// HMAC-SHA256(key, len(tenant) ‖ tenant ‖ len(lead id) ‖ lead id) in hex, lengths as
    /// u64 big-endian so `("ab", "c")` and `("a", "bc")` differ.
    pub fn pseudonym(&self, tenant: &str, lead_id: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .expect("HMAC takes a key of any length");
        for part in [tenant, lead_id] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        let tag = mac.finalize().into_bytes();
        format!("lead-{}", hex::encode(&tag[..8]))
    }

    /// A keyed hash of a string a plugin chose that its manifest does not
    /// declare (a preference key, a tag), for the audit log: 16 hex chars, the
    /// first 8 bytes of HMAC-SHA256 under a key derived from this one for this
    /// use only, over len(tenant) ‖ tenant ‖ len(kind) ‖ kind ‖ len(text) ‖ text.
    ///
    /// Two different strings get different hashes (so a reviewer can tell two
    /// undeclared keys apart and count them), the same string in another
    /// tenant gets another hash, and without the key the hash reveals nothing
    /// of the text: not even by trying likely names or phone numbers.
    pub fn undeclared_label(&self, tenant: &str, kind: &str, text: &str) -> String {
        // A separate key, so a label can never equal a lead pseudonym's hash.
        let mut derive = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .expect("HMAC takes a key of any length");
        derive.update(b"cally-audit-undeclared-label-v1");
        let label_key = derive.finalize().into_bytes();
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&label_key)
            .expect("HMAC takes a key of any length");
        for part in [tenant, kind, text] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        let tag = mac.finalize().into_bytes();
        hex::encode(&tag[..8])
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn pseudonyms_are_stable_keyed_and_tenant_scoped() {
        let p = Pseudonymizer::from_key([7; 32]);
        let a = p.pseudonym("acme", "lead-42");
        assert_eq!(a, p.pseudonym("acme", "lead-42"));
        assert!(a.starts_with("lead-") && a.len() == 21, "{a}");
        assert!(
            a[5..]
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(
            a,
            p.pseudonym("other", "lead-42"),
            "tenants do not share pseudonyms"
        );
        assert_ne!(
            p.pseudonym("ab", "c"),
            p.pseudonym("a", "bc"),
            "inputs are length-prefixed"
        );
        assert_ne!(
            a,
            Pseudonymizer::from_key([8; 32]).pseudonym("acme", "lead-42")
        );
        assert!(!format!("{p:?}").contains('7'), "the key is not printed");
    }

    #[test]
    fn undeclared_labels_are_keyed_distinct_and_hold_no_text() {
        let p = Pseudonymizer::from_key([7; 32]);
        let label = p.undeclared_label("acme", "tag", "ada-lovelace");
        assert_eq!(label, p.undeclared_label("acme", "tag", "ada-lovelace"));
        assert_eq!(label.len(), 16, "{label}");
        assert!(
            label
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        for other in [
            p.undeclared_label("acme", "tag", "ada-lovelac"),
            p.undeclared_label("acme", "preference", "ada-lovelace"),
            p.undeclared_label("other", "tag", "ada-lovelace"),
            p.undeclared_label("acmetag", "", "ada-lovelace"),
            Pseudonymizer::from_key([8; 32]).undeclared_label("acme", "tag", "ada-lovelace"),
        ] {
            assert_ne!(label, other);
        }
    }

    #[test]
    fn the_key_file_is_created_once_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = Pseudonymizer::load_or_create(dir.path()).unwrap();
        let path = dir.path().join(KEY_FILE_NAME);
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(meta.len(), 32);
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let again = Pseudonymizer::load_or_create(dir.path()).unwrap();
        assert_eq!(first.pseudonym("t", "l"), again.pseudonym("t", "l"));
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left behind");

        let other = tempfile::tempdir().unwrap();
        let fresh = Pseudonymizer::load_or_create(other.path()).unwrap();
        assert_ne!(
            first.pseudonym("t", "l"),
            fresh.pseudonym("t", "l"),
            "keys are random"
        );
    }

    /// A key an earlier version (or a careless copy) left readable by every local
    /// account is made owner-only when it is loaded, and still used.
    #[test]
    fn a_key_file_readable_by_others_is_made_private() {
        let dir = tempfile::tempdir().unwrap();
        let first = Pseudonymizer::load_or_create(dir.path()).unwrap();
        let path = dir.path().join(KEY_FILE_NAME);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let again = Pseudonymizer::load_or_create(dir.path()).unwrap();
        assert_eq!(first.pseudonym("t", "l"), again.pseudonym("t", "l"));
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn a_damaged_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(KEY_FILE_NAME), b"short").unwrap();
        let err = Pseudonymizer::load_or_create(dir.path()).unwrap_err();
        assert!(
            err.to_string().contains("holds 5 bytes, expected 32"),
            "{err}"
        );
    }
}
