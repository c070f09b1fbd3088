//! Precompiled components on disk, so a restart does not recompile every plugin.
//!
//! An artifact is named by the component's digest and the engine's
//! compatibility hash, so an engine with other settings never picks up another
//! engine's code. Each file starts with a MAC (HMAC-SHA256 under the host's
//! [`ArtifactKey`], kept outside the database and this directory) over the
//! component digest, the engine's compatibility hash and the machine code:
//! machine code is only deserialized when this host wrote it for exactly that
//! component and engine. Anything else (a torn write, a flipped bit, a file
//! from another engine, another plugin's artifact copied over this one's) is
//! removed and the component compiled again from its approved bytes.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::Path;

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use super::{ArtifactKey, ComponentDigest};

/// Marks a file as a Cally artifact (format 2: keyed MAC), before its MAC.
const MAGIC: &[u8; 8] = b"CALLYAR2";
const HEADER_LEN: usize = MAGIC.len() + 32;
/// Separates artifact MACs from any other use of the key.
const MAC_CONTEXT: &[u8] = b"cally precompiled artifact v2";

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
    /// SHA-256 of the engine's compatibility hash: bound into each MAC, and
    /// its first 8 bytes name the files.
    engine_hash: [u8; 32],
    key: ArtifactKey,
}

impl ArtifactStore {
    /// Opens (creating if needed) the artifact directory `path` for `engine`,
    /// with artifacts authenticated under `key`.
    pub fn open(path: &Path, engine: &Engine, key: ArtifactKey) -> std::io::Result<Self> {
        std::fs::create_dir_all(path)?;
        let dir = Dir::open_ambient_dir(path, ambient_authority())?;
        Ok(Self {
            dir,
            engine_hash: engine_hash(engine),
            key,
        })
    }

    /// The file name of `digest`'s artifact for this engine.
    pub fn file_name(&self, digest: &ComponentDigest) -> String {
        format!(
            "{}-{}.cwasm",
            digest.hex(),
            hex::encode(&self.engine_hash[..8])
        )
    }

    /// What the MAC of `digest`'s artifact covers, besides the machine code.
    fn mac_parts<'a>(&'a self, digest: &'a [u8], payload: &'a [u8]) -> [&'a [u8]; 4] {
        [MAC_CONTEXT, digest, &self.engine_hash, payload]
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
        let digest_bytes = digest.hex();
        let Some(payload) = self.authenticated(digest_bytes.as_bytes(), &bytes) else {
            return self.refuse(
                &name,
                format!(
                    "its MAC does not match: this host did not write it for component {digest} and this engine"
                ),
            );
        };
        // SAFETY: the MAC, under a key only this host holds, proves these are
        // the bytes this host wrote from `Engine::precompile_component` for
        // this component digest and engine; wasmtime itself also checks that
        // they were built by a compatible engine and refuses them otherwise.
        match unsafe { Component::deserialize(engine, payload) } {
            Ok(component) => (Some(component), ArtifactLoad::Reused),
            Err(e) => self.refuse(&name, format!("the engine refused it: {e:#}")),
        }
    }

    fn refuse(&self, name: &str, reason: String) -> (Option<Component>, ArtifactLoad) {
        tracing::warn!(artifact = name, %reason, "discarding precompiled artifact; compiling the component again from its bytes");
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
            let digest_bytes = digest.hex();
            let mac = self
                .key
                .mac(&self.mac_parts(digest_bytes.as_bytes(), compiled));
            file.write_all(MAGIC)?;
            file.write_all(&mac)?;
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

impl ArtifactStore {
    /// The machine code in artifact file `bytes`, if its MAC proves this host
    /// wrote it for the component with hex digest `digest` and this engine.
    fn authenticated<'a>(&self, digest: &[u8], bytes: &'a [u8]) -> Option<&'a [u8]> {
        if bytes.len() < HEADER_LEN || &bytes[..MAGIC.len()] != MAGIC {
            return None;
        }
        let (mac, payload) = bytes[MAGIC.len()..].split_at(32);
        self.key
            .verify(&self.mac_parts(digest, payload), mac)
            .then_some(payload)
    }
}

/// A stable SHA-256 of the engine's compatibility hash.
fn engine_hash(engine: &Engine) -> [u8; 32] {
    let mut hasher = Sha256Hasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hasher.0.finalize().into()
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

    fn store(dir: &Path, key: u8) -> (ArtifactStore, Engine) {
        let engine = Engine::default();
        let store = ArtifactStore::open(dir, &engine, ArtifactKey::from_bytes([key; 32])).unwrap();
        (store, engine)
    }

    #[test]
    fn the_mac_binds_key_digest_and_machine_code() {
        let dir = tempfile::tempdir().unwrap();
        let (ours, _) = store(dir.path(), 1);
        let a = ComponentDigest::of(b"a").hex();
        let b = ComponentDigest::of(b"b").hex();
        let mut file = MAGIC.to_vec();
        file.extend_from_slice(&ours.key.mac(&ours.mac_parts(a.as_bytes(), b"machine code")));
        file.extend_from_slice(b"machine code");
        assert_eq!(
            ours.authenticated(a.as_bytes(), &file),
            Some(&b"machine code"[..])
        );
        // Another component's name: refused, though the file is intact.
        assert_eq!(ours.authenticated(b.as_bytes(), &file), None);
        // Another host's key: refused.
        let (theirs, _) = store(dir.path(), 2);
        assert_eq!(theirs.authenticated(a.as_bytes(), &file), None);
        // A flipped bit: refused.
        let last = file.len() - 1;
        file[last] ^= 1;
        assert_eq!(ours.authenticated(a.as_bytes(), &file), None);
        assert_eq!(ours.authenticated(a.as_bytes(), b"short"), None);
    }
}
