//! Precompiled artifacts: written on first load, reused after a restart, and
//! detected and replaced when corrupt or built by an incompatible engine.

use cally_host::component::{ArtifactLoad, ArtifactStore, ComponentCache, ComponentDigest};
use cally_host::sandbox::{Sandbox, SandboxConfig};

use crate::common::*;

/// A "host start": a new sandbox and cache over the artifact directory `dir`.
fn host_start(dir: &std::path::Path, config: SandboxConfig) -> ComponentCache {
    let sandbox = Sandbox::new(config).unwrap();
    let artifacts = ArtifactStore::open(dir, sandbox.engine()).unwrap();
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
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
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
    let name = ArtifactStore::open(dir.path(), first.sandbox().engine())
        .unwrap()
        .file_name(&ComponentDigest::of(&wasm));
    let path = dir.path().join(&name);
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();

    let restarted = host_start(dir.path(), small());
    let plugin = restarted.load(&wasm).unwrap();
    assert_eq!(
        plugin.artifact,
        ArtifactLoad::Refused("its checksum does not match its contents".into())
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
    // Written under this host's name with a valid checksum, as a stale file
    // left by an older build would be.
    let store = ArtifactStore::open(dir.path(), ours.sandbox().engine()).unwrap();
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
    let name_a = ArtifactStore::open(dir.path(), a.engine())
        .unwrap()
        .file_name(&digest);
    let name_b = ArtifactStore::open(dir.path(), b.engine())
        .unwrap()
        .file_name(&digest);
    assert_ne!(name_a, name_b);
}
