//! Secrets the host keeps in files of their own under its data directory,
//! outside the database: 32 random bytes each, created mode 0600 on first use
//! and refused at start if others may read or replace them. Used to MAC what
//! the host writes where an insider could edit it (precompiled artifacts, the
//! records that bind a plugin version to its reviewed bytes), so a change made
//! without the key is detected.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::secret_file::{IfShared, Secret, SecretFileError, load_or_create_secret, read_secret};

/// How long every host key is, in bytes.
pub const KEY_LEN: usize = crate::secret_file::SECRET_LEN;

/// Which key file, and what to tell an operator about it.
#[derive(Debug, Clone, Copy)]
pub struct KeySpec {
    /// The file's name inside the data directory.
    pub file: &'static str,
    /// What the key is for, in messages: `artifact key`, `approval key`.
    pub name: &'static str,
    /// What to do when the file holds a wrong number of bytes.
    pub if_damaged: &'static str,
}

/// Occurs when a host key cannot be read or created.
#[derive(Debug, thiserror::Error)]
pub enum HostKeyError {
    /// Occurs when the key file cannot be read, created or written.
    #[error("cannot {action} {name} '{path}': {source}")]
    Io {
        /// `read`, `create`, ...
        action: &'static str,
        /// Which key.
        name: &'static str,
        /// The key file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Occurs when the key file does not hold exactly 32 bytes.
    #[error("{name} '{path}' holds {len} bytes, expected {KEY_LEN}; {if_damaged}")]
    Length {
        /// Which key.
        name: &'static str,
        /// The key file.
        path: PathBuf,
        /// What it holds.
        len: usize,
        /// What to do about it.
        if_damaged: &'static str,
    },
    /// Occurs when others than the host's user may read or write the key file.
    #[error(
        "{name} '{path}' has mode {mode:o}, so other users can read or replace it; run `chmod 600 {path}`"
    )]
    Mode {
        /// Which key.
        name: &'static str,
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Occurs when the operating system's random source fails.
    #[error("cannot generate the {name}: {detail}")]
    Random {
        /// Which key.
        name: &'static str,
        /// Why.
        detail: String,
    },
}

impl HostKeyError {
    /// The shared key file error, named and explained for `spec`'s key.
    fn from_secret_file(error: SecretFileError, spec: KeySpec) -> Self {
        match error {
            SecretFileError::Io {
                action,
                path,
                source,
            } => Self::Io {
                action,
                name: spec.name,
                path,
                source,
            },
            SecretFileError::Length { path, len } => Self::Length {
                name: spec.name,
                path,
                len,
                if_damaged: spec.if_damaged,
            },
            SecretFileError::Shared { path, mode } => Self::Mode {
                name: spec.name,
                path,
                mode,
            },
            SecretFileError::Random(detail) => Self::Random {
                name: spec.name,
                detail,
            },
        }
    }
}

/// A 32-byte secret from a key file, and whether this start created it.
#[derive(Clone)]
pub struct HostKey {
    key: [u8; KEY_LEN],
    created: bool,
}

impl fmt::Debug for HostKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HostKey { key: <redacted> }")
    }
}

impl HostKey {
    /// A key from raw bytes (tests and embedders that keep the key elsewhere).
    pub fn from_bytes(key: [u8; KEY_LEN]) -> Self {
        Self {
            key,
            created: false,
        }
    }

    /// Whether [`HostKey::load_or_create`] made the key file just now (it did
    /// not exist before this start).
    pub fn created(&self) -> bool {
        self.created
    }

    /// Reads `<data_dir>/<spec.file>`, creating it (and the data directory)
    /// with 32 random bytes (mode 0600) on first use.
    pub fn load_or_create(data_dir: &Path, spec: KeySpec) -> Result<Self, HostKeyError> {
        let error = |e| HostKeyError::from_secret_file(e, spec);
        let path = data_dir.join(spec.file);
        if let Some(key) = read_secret(&path, IfShared::Refuse).map_err(error)? {
            return Ok(Self {
                key,
                created: false,
            });
        }
        fs::create_dir_all(data_dir).map_err(|source| HostKeyError::Io {
            action: "create",
            name: spec.name,
            path: path.clone(),
            source,
        })?;
        let Secret { bytes, created } =
            load_or_create_secret(data_dir, spec.file, IfShared::Refuse).map_err(error)?;
        Ok(Self {
            key: bytes,
            created,
        })
    }

    /// HMAC-SHA256 over each of `parts`, each preceded by its length so no
    /// two different lists of parts give the same input.
    pub fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        self.hmac(parts).finalize().into_bytes().into()
    }

    /// Whether `tag` is the MAC of `parts`, compared in constant time.
    pub fn verify(&self, parts: &[&[u8]], tag: &[u8]) -> bool {
        self.hmac(parts).verify_slice(tag).is_ok()
    }

    fn hmac(&self, parts: &[&[u8]]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    const SPEC: KeySpec = KeySpec {
        file: "test.key",
        name: "test key",
        if_damaged: "delete it",
    };

    #[test]
    fn the_key_file_is_created_0600_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = HostKey::load_or_create(dir.path(), SPEC).unwrap();
        assert!(first.created());
        let path = dir.path().join(SPEC.file);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = HostKey::load_or_create(dir.path(), SPEC).unwrap();
        assert!(!again.created());
        assert_eq!(first.key, again.key);
    }

    #[test]
    fn a_key_file_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        HostKey::load_or_create(dir.path(), SPEC).unwrap();
        let path = dir.path().join(SPEC.file);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = HostKey::load_or_create(dir.path(), SPEC).unwrap_err();
        assert!(err.to_string().contains("test key"), "{err}");
        assert!(err.to_string().contains("has mode 644"), "{err}");
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }

    #[test]
    fn parts_are_length_prefixed() {
        let key = HostKey::from_bytes([7; KEY_LEN]);
        assert_ne!(key.mac(&[b"ab", b"c"]), key.mac(&[b"a", b"bc"]));
        let tag = key.mac(&[b"ab", b"c"]);
        assert!(key.verify(&[b"ab", b"c"], &tag));
        assert!(!HostKey::from_bytes([8; KEY_LEN]).verify(&[b"ab", b"c"], &tag));
    }
}
