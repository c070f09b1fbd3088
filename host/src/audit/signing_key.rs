//! The host's checkpoint signing key: an Ed25519 key in a file of its own under the
//! data directory, outside the database, so that someone who can rewrite the database
//! cannot also sign a chain head (unless they read this file too: keep it 0600).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use crate::secret_file::{IfShared, SecretFileError, load_or_create_secret, read_secret};

/// The signing key file's name inside the data directory.
pub const SIGNING_KEY_FILE_NAME: &str = "audit-signing.key";

/// How a public key is written: `ed25519:` then its 32 bytes in lowercase hex.
const PUBLIC_KEY_PREFIX: &str = "ed25519:";

const SECRET_LEN: usize = crate::secret_file::SECRET_LEN;

/// Occurs when the signing key cannot be read, created or trusted.
#[derive(Debug, thiserror::Error)]
pub enum SigningKeyError {
    /// Occurs when the key file cannot be read, created or written.
    #[error("cannot {action} the audit signing key '{path}': {source}")]
    Io {
        /// `read`, `create`, ...
        action: &'static str,
        /// The key file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Occurs when the key file does not hold exactly 32 bytes (truncated or
    /// replaced): checkpoints signed before could no longer be checked against it.
    #[error(
        "audit signing key '{path}' holds {len} bytes, expected {SECRET_LEN}; restore it from \
         backup (or move it away to start a new key: checkpoints kept so far then need \
         `--public-key` with the old key)"
    )]
    Length {
        /// The key file.
        path: PathBuf,
        /// What it holds.
        len: usize,
    },
    /// Occurs when group or others may read or write the key file: whoever reads it
    /// can sign checkpoints for a rewritten log.
    #[error(
        "audit signing key '{path}' has mode {mode:04o}: group or others may read or write it, \
         and whoever reads it can sign checkpoints; run `chmod 600 '{path}'` (and treat the \
         key as exposed: start a new one if others may have read it)",
        path = path.display()
    )]
    Exposed {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Occurs when there is no key file where one must already exist (`cally audit
    /// verify` reads the key; it never creates one).
    #[error(
        "no audit signing key at '{path}'; pass the public key the checkpoints were signed \
         with (`--public-key ed25519:<hex>`, shown by `GET /v1/audit/checkpoint`)",
        path = path.display()
    )]
    Missing {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// Occurs when the operating system's random source fails.
    #[error("cannot generate an audit signing key: {0}")]
    Random(String),
}

impl From<SecretFileError> for SigningKeyError {
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
            SecretFileError::Shared { path, mode } => Self::Exposed { path, mode },
            SecretFileError::Random(detail) => Self::Random(detail),
        }
    }
}

/// Occurs when a public key is not `ed25519:` and 64 hex digits of a valid point.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("public key '{found}' {detail}; expected `ed25519:` and 64 hex digits")]
pub struct PublicKeyError {
    /// What was given.
    pub found: String,
    /// What is wrong with it.
    pub detail: &'static str,
}

/// An Ed25519 public key, written `ed25519:<64 hex digits>`: what a reviewer keeps to
/// check checkpoints with, and what each checkpoint names as its signer.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Whether `signature` is this key's (strict Ed25519: no malleable or small-order
    /// encodings) over `message`.
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(signature) = Signature::from_slice(signature) else {
            return false;
        };
        self.0.verify_strict(message, &signature).is_ok()
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PUBLIC_KEY_PREFIX}{}", hex::encode(self.0.to_bytes()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl FromStr for PublicKey {
    type Err = PublicKeyError;

    fn from_str(s: &str) -> Result<PublicKey, PublicKeyError> {
        let error = |detail| PublicKeyError {
            found: s.chars().take(80).collect(),
            detail,
        };
        let hex_part = s
            .strip_prefix(PUBLIC_KEY_PREFIX)
            .ok_or_else(|| error("does not start with `ed25519:`"))?;
        if hex_part.len() != 64 || hex_part.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(error("is not 64 lowercase hex digits"));
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex_part, &mut bytes)
            .map_err(|_| error("is not 64 lowercase hex digits"))?;
        VerifyingKey::from_bytes(&bytes)
            .map(PublicKey)
            .map_err(|_| error("is not a valid Ed25519 point"))
    }
}

/// The host's Ed25519 signing key, read from (or created in) the data directory.
pub struct HostSigningKey {
    key: SigningKey,
}

impl fmt::Debug for HostSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "HostSigningKey {{ public: {}, secret: <redacted> }}",
            self.public_key()
        )
    }
}

impl HostSigningKey {
    /// Reads `<data_dir>/audit-signing.key`, creating it with 32 random bytes (mode
    /// 0600) on first use. Refuses a key file that group or others may read or write
    /// ([`SigningKeyError::Exposed`]) and one of the wrong length.
    pub fn load_or_create(data_dir: &Path) -> Result<HostSigningKey, SigningKeyError> {
        let secret = load_or_create_secret(data_dir, SIGNING_KEY_FILE_NAME, IfShared::Refuse)?;
        Ok(Self::from_secret(secret.bytes))
    }

    /// Reads `<data_dir>/audit-signing.key`, which must exist (with the same checks as
    /// [`HostSigningKey::load_or_create`]).
    pub fn load(data_dir: &Path) -> Result<HostSigningKey, SigningKeyError> {
        let path = data_dir.join(SIGNING_KEY_FILE_NAME);
        match read_secret(&path, IfShared::Refuse)? {
            Some(secret) => Ok(Self::from_secret(secret)),
            None => Err(SigningKeyError::Missing { path }),
        }
    }

    /// A key with given secret bytes (tests, fixtures).
    pub fn from_secret(secret: [u8; SECRET_LEN]) -> HostSigningKey {
        HostSigningKey {
            key: SigningKey::from_bytes(&secret),
        }
    }

    /// The public half, for checking what this key signed.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.key.verifying_key())
    }

    /// The Ed25519 signature of `message` (64 bytes).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn the_key_file_is_created_once_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = HostSigningKey::load_or_create(dir.path()).unwrap();
        let path = dir.path().join(SIGNING_KEY_FILE_NAME);
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(meta.len(), 32);
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let again = HostSigningKey::load_or_create(dir.path()).unwrap();
        assert_eq!(first.public_key(), again.public_key());
        assert_eq!(
            HostSigningKey::load(dir.path()).unwrap().public_key(),
            first.public_key()
        );
        let entries: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(entries.len(), 1, "no temporary file left behind");
        let other = tempfile::tempdir().unwrap();
        assert_ne!(
            HostSigningKey::load_or_create(other.path())
                .unwrap()
                .public_key(),
            first.public_key(),
            "keys are random"
        );
        assert!(!format!("{first:?}").contains(&hex::encode(first.key.to_bytes())));
    }

    #[test]
    fn a_key_file_others_may_read_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        HostSigningKey::load_or_create(dir.path()).unwrap();
        let path = dir.path().join(SIGNING_KEY_FILE_NAME);
        for mode in [0o640, 0o604, 0o620] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            let err = HostSigningKey::load_or_create(dir.path()).unwrap_err();
            let message = err.to_string();
            assert!(
                message.contains(&format!("mode {mode:04o}"))
                    && message.contains(&format!("chmod 600 '{}'", path.display())),
                "{message}"
            );
            assert!(HostSigningKey::load(dir.path()).is_err());
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).unwrap();
        HostSigningKey::load(dir.path()).expect("owner-only is fine");
    }

    #[test]
    fn a_damaged_or_missing_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = HostSigningKey::load(dir.path()).unwrap_err();
        assert!(err.to_string().contains("--public-key"), "{err}");
        let path = dir.path().join(SIGNING_KEY_FILE_NAME);
        fs::write(&path, b"short").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let err = HostSigningKey::load_or_create(dir.path()).unwrap_err();
        assert!(err.to_string().contains("holds 5 bytes"), "{err}");
    }

    #[test]
    fn public_keys_round_trip_and_check_signatures() {
        let key = HostSigningKey::from_secret([3; 32]);
        let public = key.public_key();
        let text = public.to_string();
        assert!(
            text.starts_with("ed25519:") && text.len() == 8 + 64,
            "{text}"
        );
        assert_eq!(text.parse::<PublicKey>().unwrap(), public);
        let signature = key.sign(b"head");
        assert!(public.verifies(b"head", &signature));
        assert!(!public.verifies(b"heads", &signature));
        assert!(!public.verifies(b"head", &signature[..63]));
        let other = HostSigningKey::from_secret([4; 32]).public_key();
        assert!(!other.verifies(b"head", &signature));
        for bad in [
            "",
            "ed25519:",
            &text[8..],
            &text.to_uppercase(),
            &format!("{text}00"),
        ] {
            assert!(bad.parse::<PublicKey>().is_err(), "{bad}");
        }
    }
}
