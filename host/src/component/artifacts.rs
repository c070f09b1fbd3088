//! Precompiled components on disk, so a restart does not recompile every plugin.
//!
//! An artifact is named by the component's digest and the engine's
//! compatibility hash, so an engine with other settings never picks up another
//! engine's code. Each file starts with a checksum of its contents: machine
//! code is only loaded when it is exactly what this host wrote, and anything
//! else (a torn write, a flipped bit, a file from another engine) is removed
//! and the component compiled again.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::Path;

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use super::ComponentDigest;

/// Marks a file as a Cally artifact, before its checksum.
const MAGIC: &[u8; 8] = b"CALLYART";
const HEADER_LEN: usize = MAGIC.len() + 32;

/// Where a compiled plugin came from; reported so operators and tests can see
/// whether artifacts are reused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArtifactLoad {
    /// A valid artifact was loaded from disk.
    Reused,
    /// No artifact existed.
    Missing,
    /// An artifact existed but was refused (and removed) for this reason.
    Refused(String),
}

/// A directory of precompiled components, reached only through a capability
/// handle on that directory (cap-std), never by ambient paths.
pub struct ArtifactStore {
    dir: Dir,
    engine_hash: String,
}

impl ArtifactStore {
    /// Opens (creating if needed) the artifact directory `path` for `engine`.
    pub fn open(path: &Path, engine: &Engine) -> std::io::Result<Self> {
        std::fs::create_dir_all(path)?;
        let dir = Dir::open_ambient_dir(path, ambient_authority())?;
        Ok(Self {
            dir,
            engine_hash: engine_hash(engine),
        })
    }

    /// The file name of `digest`'s artifact for this engine.
    pub fn file_name(&self, digest: &ComponentDigest) -> String {
        format!("{}-{}.cwasm", digest.hex(), self.engine_hash)
    }

    /// Loads `digest`'s artifact if a valid one exists; a refused one is
    /// removed so it is rewritten.
    pub fn load(
        &self,
        engine: &Engine,
        digest: &ComponentDigest,
    ) -> (Option<Component>, ArtifactLoad) {
        let name = self.file_name(digest);
        let bytes = match self.dir.read(&name) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return (None, ArtifactLoad::Missing);
            }
            Err(e) => return self.refuse(&name, format!("cannot read it: {e}")),
        };
        let Some(payload) = checked_payload(&bytes) else {
            return self.refuse(&name, "its checksum does not match its contents".into());
        };
        // SAFETY: the checksum proves these are the bytes this host wrote from
        // `Engine::precompile_component`; wasmtime itself checks that they were
        // built by a compatible engine and refuses them otherwise.
        match unsafe { Component::deserialize(engine, payload) } {
            Ok(component) => (Some(component), ArtifactLoad::Reused),
            Err(e) => self.refuse(&name, format!("the engine refused it: {e:#}")),
        }
    }

    fn refuse(&self, name: &str, reason: String) -> (Option<Component>, ArtifactLoad) {
        tracing::warn!(artifact = name, %reason, "discarding precompiled artifact");
        let _ = self.dir.remove_file(name);
        (None, ArtifactLoad::Refused(reason))
    }

    /// Writes `digest`'s artifact atomically (a temporary file, then a rename).
    /// A failure is logged, not returned: the plugin still runs, it is only
    /// compiled again next time.
    pub fn save(&self, digest: &ComponentDigest, compiled: &[u8]) {
        let name = self.file_name(digest);
        let temporary = format!("{name}.tmp-{}", std::process::id());
        let result = (|| -> std::io::Result<()> {
            let mut file = self.dir.create(&temporary)?;
            file.write_all(MAGIC)?;
            file.write_all(&Sha256::digest(compiled))?;
            file.write_all(compiled)?;
            file.sync_all()?;
            self.dir.rename(&temporary, &self.dir, &name)
        })();
        if let Err(error) = result {
            tracing::warn!(artifact = name, %error, "cannot write precompiled artifact");
            let _ = self.dir.remove_file(&temporary);
        }
    }
}

/// The payload of an artifact file whose checksum matches, if any.
fn checked_payload(bytes: &[u8]) -> Option<&[u8]> {
    if bytes.len() < HEADER_LEN || &bytes[..MAGIC.len()] != MAGIC {
        return None;
    }
    let (checksum, payload) = bytes[MAGIC.len()..].split_at(32);
    (Sha256::digest(payload).as_slice() == checksum).then_some(payload)
}

/// A stable hex digest of the engine's compatibility hash.
fn engine_hash(engine: &Engine) -> String {
    let mut hasher = Sha256Hasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hex::encode(&hasher.0.finalize()[..8])
}

/// Feeds `Hash` output into SHA-256, which, unlike `DefaultHasher`, is stable
/// across Rust releases.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        unreachable!("only the full SHA-256 digest is used")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_needs_magic_and_matching_checksum() {
        let payload = b"machine code";
        let mut file = MAGIC.to_vec();
        file.extend_from_slice(&Sha256::digest(payload));
        file.extend_from_slice(payload);
        assert_eq!(checked_payload(&file), Some(&payload[..]));

        let last = file.len() - 1;
        file[last] ^= 1;
        assert_eq!(checked_payload(&file), None);
        assert_eq!(checked_payload(b"short"), None);
    }
}
