//! Precompiled artifacts: written on first load, reused after a restart, and
//! detected and replaced when corrupt, built by an incompatible engine, or
//! not authenticated by this host's artifact key.

use std::path::{Path, PathBuf};

use cally_host::component::{
    ArtifactKey, ArtifactLoad, ArtifactStore, ComponentCache, ComponentDigest,
};
use cally_host::sandbox::{Sandbox, SandboxConfig};

use crate::common::*;

/// The artifact store of data directory `data_dir` for `engine`, as a host
/// opens it: `<data_dir>/artifacts`, under the key in `<data_dir>/artifact.key`.
fn open(data_dir: &Path, sandbox: &Sandbox) -> ArtifactStore {
    let key = ArtifactKey::load_or_create(data_dir).unwrap();
    ArtifactStore::open(&artifacts(data_dir), sandbox.engine(), key).unwrap()
}

fn artifacts(data_dir: &Path) -> PathBuf {
    data_dir.join("artifacts")
}

/// A "host start": a new sandbox and cache over the data directory `dir`.
fn host_start(dir: &Path, config: SandboxConfig) -> ComponentCache {
    let sandbox = Sandbox::new(config).unwrap();
    let artifacts = open(dir, &sandbox);
    ComponentCache::new(sandbox, Some(artifacts))
}

fn small() -> SandboxConfig {
    SandboxConfig {
        max_concurrent_calls: 16,
        ..SandboxConfig::default()
    }
}

/// An engine whose compiled code differs from [`small`]'s: a pool this large
/// cannot give every memory a 4 GiB reservation, so its code bounds-checks
/// every memory access.
fn other_engine() -> SandboxConfig {
    SandboxConfig {
        max_concurrent_calls: 20_000,
        ..SandboxConfig::default()
    }
}

fn component() -> Vec<u8> {
    std::fs::read(cally_tests::plugin("well-behaved")).unwrap()
}

/// Proves the loaded plugin still runs.
async fn runs(cache: &ComponentCache, wasm: &[u8]) {
    let plugin = cache.load(wasm).unwrap();
    let mut call = start(cache, &plugin).await;
    assert_eq!(
        said(&call.handle(&started("artifact-call")).await),
        ["started"]
    );
}

#[tokio::test]
async fn an_artifact_is_written_once_and_reused_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = component();
    let first = host_start(dir.path(), small());
    assert_eq!(first.load(&wasm).unwrap().artifact, ArtifactLoad::Missing);
    let files: Vec<_> = std::fs::read_dir(artifacts(dir.path())).unwrap().collect();
    assert_eq!(
        files.len(),
        1,
        "one artifact file, no temporary left behind"
    );

    let restarted = host_start(dir.path(), small());
    assert_eq!(
        restarted.load(&wasm).unwrap().artifact,
        ArtifactLoad::Reused
    );
    runs(&restarted, &wasm).await;
}

#[tokio::test]
async fn a_corrupted_artifact_is_detected_and_recompiled() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = component();
    let first = host_start(dir.path(), small());
    first.load(&wasm).unwrap();
    let name = open(dir.path(), first.sandbox()).file_name(&ComponentDigest::of(&wasm));
    let path = artifacts(dir.path()).join(&name);
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();

    let restarted = host_start(dir.path(), small());
    let plugin = restarted.load(&wasm).unwrap();
    assert_eq!(
        plugin.artifact,
        ArtifactLoad::Refused(format!(
            "its MAC does not match: this host did not write it for component {} and this engine",
            ComponentDigest::of(&wasm)
        ))
    );
    runs(&restarted, &wasm).await;
    let again = host_start(dir.path(), small());
    assert_eq!(
        again.load(&wasm).unwrap().artifact,
        ArtifactLoad::Reused,
        "the artifact was rewritten"
    );
}

#[tokio::test]
async fn an_artifact_from_an_incompatible_engine_is_detected_and_recompiled() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = component();
    // An engine with other settings compiles code this host must not run.
    let other = Sandbox::new(other_engine()).unwrap();
    let foreign = other.engine().precompile_component(&wasm).unwrap();
    let ours = host_start(dir.path(), small());
    // Written under this host's name with a valid MAC, as a stale file
    // left by an older build would be.
    let store = open(dir.path(), ours.sandbox());
    store.save(&ComponentDigest::of(&wasm), &foreign);

    let plugin = ours.load(&wasm).unwrap();
    match &plugin.artifact {
        ArtifactLoad::Refused(reason) => {
            assert!(reason.starts_with("the engine refused it"), "{reason}")
        }
        other => panic!("expected the foreign artifact to be refused, got {other:?}"),
    }
    runs(&ours, &wasm).await;
    let restarted = host_start(dir.path(), small());
    assert_eq!(
        restarted.load(&wasm).unwrap().artifact,
        ArtifactLoad::Reused
    );
}

#[test]
fn engines_with_other_settings_use_other_artifact_names() {
    let dir = tempfile::tempdir().unwrap();
    let a = Sandbox::new(small()).unwrap();
    let b = Sandbox::new(other_engine()).unwrap();
    let digest = ComponentDigest::of(b"x");
    let name_a = open(dir.path(), &a).file_name(&digest);
    let name_b = open(dir.path(), &b).file_name(&digest);
    assert_ne!(name_a, name_b);
}

/// An artifact this host wrote for one component, copied over another
/// component's artifact: intact, but its MAC names the other component, so it
/// is refused and the component compiled from its own bytes.
#[tokio::test]
async fn an_artifact_copied_over_another_components_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ours = component();
    let theirs = std::fs::read(cally_tests::plugin("stateful-counter")).unwrap();
    let first = host_start(dir.path(), small());
    first.load(&ours).unwrap();
    first.load(&theirs).unwrap();
    let store = open(dir.path(), first.sandbox());
    let target = artifacts(dir.path()).join(store.file_name(&ComponentDigest::of(&ours)));
    let source = artifacts(dir.path()).join(store.file_name(&ComponentDigest::of(&theirs)));
    std::fs::copy(&source, &target).unwrap();

    let restarted = host_start(dir.path(), small());
    match &restarted.load(&ours).unwrap().artifact {
        ArtifactLoad::Refused(reason) => {
            assert!(reason.contains("its MAC does not match"), "{reason}")
        }
        other => panic!("expected the copied artifact to be refused, got {other:?}"),
    }
    runs(&restarted, &ours).await;
}

/// An artifact written under another host's key is refused.
#[test]
fn an_artifact_written_under_another_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = component();
    let sandbox = Sandbox::new(small()).unwrap();
    let compiled = sandbox.engine().precompile_component(&wasm).unwrap();
    let foreign = ArtifactKey::from_bytes([9; 32]);
    ArtifactStore::open(&artifacts(dir.path()), sandbox.engine(), foreign)
        .unwrap()
        .save(&ComponentDigest::of(&wasm), &compiled);
    let ours = open(dir.path(), &sandbox);
    let (component, load) = ours.load(sandbox.engine(), &ComponentDigest::of(&wasm));
    assert!(component.is_none());
    assert!(matches!(load, ArtifactLoad::Refused(_)), "{load:?}");
}
