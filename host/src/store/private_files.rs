//! Files that hold personal data or keys (the database, its WAL and shared-memory
//! files, the pseudonym key) are readable and writable by their owner only: another
//! local account must not read a lead's data, or the key that links pseudonyms to
//! leads, from the data directory.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The mode of every file under the data directory that holds personal data or keys.
pub const OWNER_ONLY: u32 = 0o600;

/// Makes `path` mode 0600 if it exists and group or others may use it; returns the
/// mode it had when it was changed (so the caller can say so), `None` when it was
/// private already or does not exist.
pub fn ensure_owner_only(path: &Path) -> io::Result<Option<u32>> {
    let metadata = match fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 == 0 {
        return Ok(None);
    }
    fs::set_permissions(path, fs::Permissions::from_mode(OWNER_ONLY))?;
    tracing::warn!(
        path = %path.display(),
        was = format_args!("{mode:04o}"),
        "a file holding personal data or keys was readable by other accounts; it is now 0600"
    );
    Ok(Some(mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_file_is_made_private_and_a_private_one_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        assert_eq!(
            ensure_owner_only(&path).unwrap(),
            None,
            "missing: nothing to do"
        );
        fs::write(&path, b"x").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(ensure_owner_only(&path).unwrap(), Some(0o644));
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, OWNER_ONLY);
        assert_eq!(ensure_owner_only(&path).unwrap(), None);
    }
}
