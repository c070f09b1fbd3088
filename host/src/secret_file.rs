//! Small files under the data directory that only the host's account may use:
//! a 32-byte secret read from (or created in) its own file, and a file written
//! whole, mode 0600, in place of an older one. Every host key (artifact,
//! approval, pseudonym, audit signing) and the demo keys file go through here,
//! so "created 0600, never half-written, refused or repaired when others may
//! read it" is decided once.
//!
//! Errors are [`SecretFileError`]; each key type converts them into its own
//! error, with its own name for the file and its own advice.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// How long every secret is, in bytes.
pub const SECRET_LEN: usize = 32;

/// What to do with a secret file that group or others may read or write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfShared {
    /// Refuse it ([`SecretFileError::Shared`]): the operator must fix the mode
    /// and decide whether the key is exposed.
    Refuse,
    /// Make it 0600 (with a warning in the log) and use it: for keys an earlier
    /// version may have left readable.
    MakePrivate,
}

/// Occurs when a secret file cannot be read, created or trusted.
#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    /// Occurs when the file cannot be read, created, written or have its mode set.
    #[error("cannot {action} '{path}': {source}")]
    Io {
        /// `read`, `create`, `set mode 0600 on`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Occurs when the file does not hold exactly [`SECRET_LEN`] bytes.
    #[error("'{path}' holds {len} bytes, expected {SECRET_LEN}")]
    Length {
        /// The file.
        path: PathBuf,
        /// What it holds.
        len: usize,
    },
    /// Occurs, with [`IfShared::Refuse`], when group or others may read or
    /// write the file.
    #[error("'{path}' has mode {mode:04o}; run `chmod 600 '{path}'`", path = path.display())]
    Shared {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Occurs when the operating system's random source fails.
    #[error("cannot generate a secret: {0}")]
    Random(String),
}

/// A secret from its file, and whether this call created the file.
#[derive(Clone)]
pub struct Secret {
    /// The secret's bytes.
    pub bytes: [u8; SECRET_LEN],
    /// Whether the file did not exist before this call.
    pub created: bool,
}

/// Reads the secret at `path`: `None` if there is no file, the bytes if it
/// holds exactly [`SECRET_LEN`] of them and only the owner may use it (or,
/// with [`IfShared::MakePrivate`], once it has been made so).
pub fn read_secret(
    path: &Path,
    if_shared: IfShared,
) -> Result<Option<[u8; SECRET_LEN]>, SecretFileError> {
    let io_error = |action, source| SecretFileError::Io {
        action,
        path: path.to_owned(),
        source,
    };
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(io_error("read", source)),
    };
    match if_shared {
        IfShared::Refuse => {
            let mode = fs::metadata(path)
                .map_err(|source| io_error("read", source))?
                .permissions()
                .mode()
                & 0o777;
            if mode & 0o077 != 0 {
                return Err(SecretFileError::Shared {
                    path: path.to_owned(),
                    mode,
                });
            }
        }
        IfShared::MakePrivate => {
            crate::store::ensure_owner_only(path)
                .map_err(|source| io_error("set mode 0600 on", source))?;
        }
    }
    let secret = bytes
        .as_slice()
        .try_into()
        .map_err(|_| SecretFileError::Length {
            path: path.to_owned(),
            len: bytes.len(),
        })?;
    Ok(Some(secret))
}

/// Reads `<data_dir>/<file_name>` as [`read_secret`] does, or, when there is
/// no such file, creates it with [`SECRET_LEN`] random bytes, mode 0600.
///
/// The new file is written in full under a temporary name and hard-linked into
/// place, so nobody reads a half-written secret, and when another process
/// created the file meanwhile the link fails and its secret is read instead.
/// `data_dir` must exist.
pub fn load_or_create_secret(
    data_dir: &Path,
    file_name: &str,
    if_shared: IfShared,
) -> Result<Secret, SecretFileError> {
    let path = data_dir.join(file_name);
    if let Some(bytes) = read_secret(&path, if_shared)? {
        return Ok(Secret {
            bytes,
            created: false,
        });
    }
    let io_error = |action, source| SecretFileError::Io {
        action,
        path: path.clone(),
        source,
    };
    let mut bytes = [0u8; SECRET_LEN];
    getrandom::fill(&mut bytes).map_err(|e| SecretFileError::Random(e.to_string()))?;
    let tmp = write_private_temp(data_dir, file_name, &bytes)
        .map_err(|source| io_error("create", source))?;
    let linked = fs::hard_link(&tmp, &path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            sync_dir(data_dir);
            Ok(Secret {
                bytes,
                created: true,
            })
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => read_secret(&path, if_shared)?
            .map(|bytes| Secret {
                bytes,
                created: false,
            })
            .ok_or_else(|| io_error("read", io::ErrorKind::NotFound.into())),
        Err(source) => Err(io_error("create", source)),
    }
}

/// Writes `contents` to `<data_dir>/<file_name>`, mode 0600, replacing the
/// file if there is one: written in full under a temporary name, then renamed
/// over it, so a reader sees the old file or the new one, never a mix.
pub fn replace_private_file(data_dir: &Path, file_name: &str, contents: &[u8]) -> io::Result<()> {
    let tmp = write_private_temp(data_dir, file_name, contents)?;
    fs::rename(&tmp, data_dir.join(file_name)).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

/// Writes `contents` to a new file `<data_dir>/<file_name>.<pid>.tmp`, mode
/// 0600 from its creation, synced to disk; removes it again on failure.
fn write_private_temp(data_dir: &Path, file_name: &str, contents: &[u8]) -> io::Result<PathBuf> {
    let tmp = data_dir.join(format!("{file_name}.{}.tmp", std::process::id()));
    let write = || -> io::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()
    };
    match write() {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Syncs the directory, so a new file's name survives a crash; best effort.
fn sync_dir(dir: &Path) {
    if let Ok(dir) = fs::File::open(dir) {
        let _ = dir.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_secret_is_created_once_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create_secret(dir.path(), "k", IfShared::Refuse).unwrap();
        assert!(first.created);
        assert_eq!(mode(&dir.path().join("k")), 0o600);
        let again = load_or_create_secret(dir.path(), "k", IfShared::Refuse).unwrap();
        assert!(!again.created);
        assert_eq!(first.bytes, again.bytes);
        let entries: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(entries.len(), 1, "no temporary file left behind");
    }

    #[test]
    fn a_shared_secret_is_refused_or_made_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let first = load_or_create_secret(dir.path(), "k", IfShared::Refuse).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let err = read_secret(&path, IfShared::Refuse).unwrap_err();
        assert!(
            matches!(err, SecretFileError::Shared { mode: 0o640, .. }),
            "{err}"
        );
        let bytes = read_secret(&path, IfShared::MakePrivate).unwrap();
        assert_eq!(bytes, Some(first.bytes));
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn a_missing_secret_is_none_and_a_short_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        assert!(read_secret(&path, IfShared::Refuse).unwrap().is_none());
        fs::write(&path, b"short").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let err = read_secret(&path, IfShared::Refuse).unwrap_err();
        assert!(
            matches!(err, SecretFileError::Length { len: 5, .. }),
            "{err}"
        );
    }

    #[test]
    fn a_replaced_file_is_private_and_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.json");
        fs::write(&path, b"old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        replace_private_file(dir.path(), "f.json", b"new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert_eq!(mode(&path), 0o600);
        let entries: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(entries.len(), 1, "no temporary file left behind");
    }
}
