//! The host key that authenticates precompiled artifacts: 32 random bytes in
//! `<data_dir>/artifact.key` (mode 0600), kept outside the database and outside
//! the artifact directory, so neither a database edit nor a file copied between
//! artifacts can make this host load machine code it did not compile.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The key file's name inside the data directory.
pub const ARTIFACT_KEY_FILE: &str = "artifact.key";

const KEY_LEN: usize = 32;

/// Occurs when the artifact key cannot be read or created.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactKeyError {
    /// Occurs when the key file cannot be read, created or written.
    #[error("cannot {action} artifact key '{path}': {source}")]
    Io {
        /// `read`, `create`, ...
        action: &'static str,
        /// The key file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Occurs when the key file does not hold exactly 32 bytes.
    #[error(
        "artifact key '{path}' holds {len} bytes, expected {KEY_LEN}; delete it (and the artifacts directory) to have a new one made"
    )]
    Length {
        /// The key file.
        path: PathBuf,
        /// What it holds.
        len: usize,
    },
    /// Occurs when others than the host's user may read or write the key file.
    #[error(
        "artifact key '{path}' has mode {mode:o}, so other users can read or replace it; run `chmod 600 {path}`"
    )]
    Mode {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Occurs when the operating system's random source fails.
    #[error("cannot generate an artifact key: {0}")]
    Random(String),
}

/// The secret under which this host MACs the artifacts it writes.
#[derive(Clone)]
pub struct ArtifactKey {
    key: [u8; KEY_LEN],
}

impl fmt::Debug for ArtifactKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ArtifactKey { key: <redacted> }")
    }
}

impl ArtifactKey {
    /// A key from raw bytes (tests and embedders that keep the key elsewhere).
    pub fn from_bytes(key: [u8; KEY_LEN]) -> Self {
        Self { key }
    }

    /// Reads `<data_dir>/artifact.key`, creating it with 32 random bytes (mode
    /// 0600) on first use. Losing it costs only a recompile of every plugin.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, ArtifactKeyError> {
        let path = data_dir.join(ARTIFACT_KEY_FILE);
        let io_error = |action, source| ArtifactKeyError::Io {
            action,
            path: path.clone(),
            source,
        };
        match fs::read(&path) {
            Ok(bytes) => return Self::from_file(&path, &bytes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(io_error("read", source)),
        }
        fs::create_dir_all(data_dir).map_err(|source| io_error("create", source))?;
        let mut key = [0u8; KEY_LEN];
        getrandom::fill(&mut key).map_err(|e| ArtifactKeyError::Random(e.to_string()))?;
        // A temporary file hard-linked into place: the link fails if another
        // process made the key meanwhile, and nobody reads a half-written key.
        let tmp = data_dir.join(format!("{ARTIFACT_KEY_FILE}.{}.tmp", std::process::id()));
        let write = || -> io::Result<()> {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            file.write_all(&key)?;
            file.sync_all()
        };
        if let Err(source) = write() {
            let _ = fs::remove_file(&tmp);
            return Err(io_error("create", source));
        }
        let linked = fs::hard_link(&tmp, &path);
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(Self { key }),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let bytes = fs::read(&path).map_err(|source| io_error("read", source))?;
                Self::from_file(&path, &bytes)
            }
            Err(source) => Err(io_error("create", source)),
        }
    }

    fn from_file(path: &Path, bytes: &[u8]) -> Result<Self, ArtifactKeyError> {
        let mode = fs::metadata(path)
            .map_err(|source| ArtifactKeyError::Io {
                action: "read",
                path: path.to_owned(),
                source,
            })?
            .permissions()
            .mode()
            & 0o777;
        if mode & 0o077 != 0 {
            return Err(ArtifactKeyError::Mode {
                path: path.to_owned(),
                mode,
            });
        }
        let key = bytes.try_into().map_err(|_| ArtifactKeyError::Length {
            path: path.to_owned(),
            len: bytes.len(),
        })?;
        Ok(Self { key })
    }

    /// HMAC-SHA256 over each of `parts`, each preceded by its length so no
    /// two different lists of parts give the same input.
    pub(super) fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// Whether `tag` is the MAC of `parts`, compared in constant time.
    pub(super) fn verify(&self, parts: &[&[u8]], tag: &[u8]) -> bool {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.verify_slice(tag).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_file_is_created_0600_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = ArtifactKey::load_or_create(dir.path()).unwrap();
        let path = dir.path().join(ARTIFACT_KEY_FILE);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = ArtifactKey::load_or_create(dir.path()).unwrap();
        assert_eq!(first.key, again.key);
    }

    #[test]
    fn a_key_file_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        ArtifactKey::load_or_create(dir.path()).unwrap();
        let path = dir.path().join(ARTIFACT_KEY_FILE);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = ArtifactKey::load_or_create(dir.path()).unwrap_err();
        assert!(err.to_string().contains("has mode 644"), "{err}");
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }

    #[test]
    fn parts_are_length_prefixed() {
        let key = ArtifactKey::from_bytes([7; KEY_LEN]);
        assert_ne!(key.mac(&[b"ab", b"c"]), key.mac(&[b"a", b"bc"]));
        let tag = key.mac(&[b"ab", b"c"]);
        assert!(key.verify(&[b"ab", b"c"], &tag));
        assert!(!ArtifactKey::from_bytes([8; KEY_LEN]).verify(&[b"ab", b"c"], &tag));
    }
}
