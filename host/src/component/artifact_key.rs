//! The host key that authenticates precompiled artifacts: 32 random bytes in
//! `<data_dir>/artifact.key` (mode 0600), kept outside the database and outside
//! the artifact directory, so neither a database edit nor a file copied between
//! artifacts can make this host load machine code it did not compile.

use std::path::Path;

use crate::host_key::{HostKey, HostKeyError, KEY_LEN, KeySpec};

/// The key file's name inside the data directory.
pub const ARTIFACT_KEY_FILE: &str = "artifact.key";

const SPEC: KeySpec = KeySpec {
    file: ARTIFACT_KEY_FILE,
    name: "artifact key",
    if_damaged: "delete it (and the artifacts directory) to have a new one made",
};

/// The secret under which this host MACs the artifacts it writes.
#[derive(Debug, Clone)]
pub struct ArtifactKey(HostKey);

impl ArtifactKey {
    /// A key from raw bytes (tests and embedders that keep the key elsewhere).
    pub fn from_bytes(key: [u8; KEY_LEN]) -> Self {
        Self(HostKey::from_bytes(key))
    }

    /// Reads `<data_dir>/artifact.key`, creating it with 32 random bytes (mode
    /// 0600) on first use. Losing it costs only a recompile of every plugin.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, HostKeyError> {
        HostKey::load_or_create(data_dir, SPEC).map(Self)
    }

    /// HMAC-SHA256 over each of `parts`, each length-prefixed.
    pub(super) fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        self.0.mac(parts)
    }

    /// Whether `tag` is the MAC of `parts`, compared in constant time.
    pub(super) fn verify(&self, parts: &[&[u8]], tag: &[u8]) -> bool {
        self.0.verify(parts, tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_others_can_read_is_refused_naming_the_artifact_key() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        ArtifactKey::load_or_create(dir.path()).unwrap();
        let path = dir.path().join(ARTIFACT_KEY_FILE);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = ArtifactKey::load_or_create(dir.path()).unwrap_err();
        assert!(
            err.to_string().starts_with("artifact key '") && err.to_string().contains("chmod 600"),
            "{err}"
        );
    }
}
