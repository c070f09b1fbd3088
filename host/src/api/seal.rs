//! Seals on the records that bind a plugin version to its reviewed bytes.
//!
//! Each upload row (tenant, plugin, version, world, component and manifest
//! digests, uploader, time) and each reviewer decision (tenant, plugin, kind,
//! version, reviewer, digests, time) carries an HMAC-SHA256 under the host's
//! approval key, `<data_dir>/approval.key`: 32 random bytes, mode 0600, never
//! in the database. The host computes it when it writes the record and checks
//! it each time it rebuilds a plugin from the store, before anything is
//! compiled or run. So an insider who can write the database but not read the
//! key cannot rewrite a version's bytes together with every digest recorded
//! for them, nor copy an approval from one plugin, version or tenant to
//! another: the record's MAC no longer matches, and the version is refused.
//!
//! A separate key from the artifact key: losing `artifact.key` costs only a
//! recompile, losing `approval.key` refuses every version until it is restored
//! (or the versions re-uploaded and reviewed); and the creation of this file
//! is what marks the one start at which records written before the upgrade are
//! trusted and signed ([`seal_at_upgrade`]).

use std::path::Path;

use crate::host_key::{HostKey, HostKeyError, KEY_LEN, KeySpec};
use crate::manifest::BindingError;
use crate::store::{PluginStore, ReleaseEvent, StoreError, StoredPluginVersion};

/// The approval key's file name inside the data directory.
pub const APPROVAL_KEY_FILE: &str = "approval.key";

const SPEC: KeySpec = KeySpec {
    file: APPROVAL_KEY_FILE,
    name: "approval key",
    if_damaged: "restore it from a backup of the data directory: without it every plugin version is refused until it is uploaded and reviewed again",
};

/// Separate the two kinds of record, and both from any other use of the key.
const UPLOAD_CONTEXT: &[u8] = b"cally plugin upload v1";
const EVENT_CONTEXT: &[u8] = b"cally release event v1";

/// The secret under which this host signs the records that bind a version.
#[derive(Debug, Clone)]
pub struct ApprovalKey(HostKey);

impl ApprovalKey {
    /// A key from raw bytes (tests and embedders that keep the key elsewhere).
    pub fn from_bytes(key: [u8; KEY_LEN]) -> Self {
        Self(HostKey::from_bytes(key))
    }

    /// Reads `<data_dir>/approval.key`, creating it (32 random bytes, mode
    /// 0600) on first use; a key file others may read is refused.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, HostKeyError> {
        HostKey::load_or_create(data_dir, SPEC).map(Self)
    }

    /// Whether the key file was created at this start.
    pub fn created(&self) -> bool {
        self.0.created()
    }

    /// The MAC (hex) of an upload row: every field but its bytes, which its
    /// digests stand for (they are checked against the bytes at each load).
    pub fn seal_upload(&self, row: &StoredPluginVersion) -> String {
        upload_parts(row, |parts| hex::encode(self.0.mac(parts)))
    }

    /// The MAC (hex) of a reviewer decision: every field.
    pub fn seal_event(&self, event: &ReleaseEvent) -> String {
        event_parts(event, |parts| hex::encode(self.0.mac(parts)))
    }

    /// Whether `row` carries its MAC under this key.
    pub fn check_upload(&self, row: &StoredPluginVersion) -> Result<(), SealFault> {
        upload_parts(row, |parts| self.check(row.mac.as_deref(), parts))
    }

    /// Whether `event` carries its MAC under this key.
    pub fn check_event(&self, event: &ReleaseEvent) -> Result<(), SealFault> {
        event_parts(event, |parts| self.check(event.mac.as_deref(), parts))
    }

    fn check(&self, mac: Option<&str>, parts: &[&[u8]]) -> Result<(), SealFault> {
        let mac = mac.ok_or(SealFault::Missing)?;
        let tag = hex::decode(mac).map_err(|_| SealFault::Wrong)?;
        if self.0.verify(parts, &tag) {
            Ok(())
        } else {
            Err(SealFault::Wrong)
        }
    }
}

/// Calls `f` with an upload row's fields as MAC input.
fn upload_parts<T>(row: &StoredPluginVersion, f: impl FnOnce(&[&[u8]]) -> T) -> T {
    f(&[
        UPLOAD_CONTEXT,
        row.tenant.as_bytes(),
        row.plugin.as_bytes(),
        row.version.as_bytes(),
        row.world.as_bytes(),
        row.component_digest.as_bytes(),
        row.manifest_digest.as_bytes(),
        row.uploaded_by.as_bytes(),
        &row.uploaded_at_ms.to_be_bytes(),
    ])
}

/// Calls `f` with a decision's fields as MAC input; an absent value and an
/// empty one differ.
fn event_parts<T>(event: &ReleaseEvent, f: impl FnOnce(&[&[u8]]) -> T) -> T {
    let optional = |value: &Option<String>| match value {
        None => vec![0],
        Some(text) => [&[1u8][..], text.as_bytes()].concat(),
    };
    f(&[
        EVENT_CONTEXT,
        event.tenant.as_bytes(),
        event.plugin.as_bytes(),
        event.kind.as_str().as_bytes(),
        &optional(&event.version),
        event.actor.as_bytes(),
        &optional(&event.component_digest),
        &optional(&event.manifest_digest),
        &event.at_ms.to_be_bytes(),
    ])
}

/// What is wrong with a record's MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealFault {
    /// It has none.
    Missing,
    /// It has one that is not this record's MAC under this host's key.
    Wrong,
}

/// Occurs when a record that binds a version (its upload, or a reviewer's
/// decision about it) is not signed under this host's approval key: it was
/// written or changed without the key. The version does not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "plugin {plugin} version {version} is refused: the record of {record} {}. Restore the database from a backup taken before the change, or upload the reviewed bytes as a new version for review",
    match fault {
        SealFault::Missing => "has no MAC, and this host signs every such record it writes (those from before the upgrade were signed at the first start after it), so it was not written by this host",
        SealFault::Wrong => "has a wrong MAC under this host's approval key (approval.key): its tenant, plugin, version, digests, reviewer or time were changed, or it was copied from another record, by someone without the key",
    }
)]
pub struct SealError {
    /// The plugin.
    pub plugin: String,
    /// The version refused.
    pub version: semver::Version,
    /// Which record: `its upload by dev@acme`, `its approval by rita@acme`.
    pub record: String,
    /// What is wrong with its MAC.
    pub fault: SealFault,
}

/// Why a version is refused and never runs: its bytes are not the bytes
/// recorded for it, or a record that binds it is not signed by this host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A record that binds it has a missing or wrong MAC.
    #[error(transparent)]
    Seal(SealError),
    /// Its bytes do not hash to a digest recorded for it.
    #[error(transparent)]
    Bytes(BindingError),
}

impl Refusal {
    /// The version refused.
    pub fn version(&self) -> &semver::Version {
        match self {
            Refusal::Seal(error) => &error.version,
            Refusal::Bytes(error) => &error.version,
        }
    }
}

/// What [`seal_at_upgrade`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpgradeSeal {
    /// Every record had a MAC already.
    NothingUnsigned,
    /// The key was created at this start and no record had a MAC: the
    /// records (written before the upgrade) were trusted and signed.
    Signed {
        /// Upload rows signed.
        uploads: usize,
        /// Reviewer decisions signed.
        events: usize,
    },
    /// Records without a MAC were left unsigned (so their versions are
    /// refused): the key existed before this start, or other records carry
    /// MACs under an earlier key.
    LeftUnsigned {
        /// How many.
        records: usize,
    },
}

/// The upgrade path for records written before records were signed: they are
/// trusted and signed once, at the start that creates `approval.key`, if no
/// record carries a MAC yet (a database from before the upgrade). Any other
/// unsigned record is left as it is, so its version is refused: with the key
/// in place, only the host writes records, and it signs each one.
pub async fn seal_at_upgrade(
    store: &dyn PluginStore,
    key: &ApprovalKey,
) -> Result<UpgradeSeal, StoreError> {
    let unsealed = store.unsealed_release_records().await?;
    let records = unsealed.uploads.len() + unsealed.events.len();
    if records == 0 {
        return Ok(UpgradeSeal::NothingUnsigned);
    }
    if !key.created() {
        tracing::error!(
            records,
            "release records without a MAC found, though approval.key existed before this start: they were not written by this host, and the plugin versions they name are refused"
        );
        return Ok(UpgradeSeal::LeftUnsigned { records });
    }
    if unsealed.sealed > 0 {
        tracing::error!(
            records,
            signed = unsealed.sealed,
            "approval.key was created at this start, but the database holds records signed under an earlier key (was approval.key lost or replaced?): nothing is signed, and every plugin version is refused until approval.key is restored or the versions are uploaded and reviewed again"
        );
        return Ok(UpgradeSeal::LeftUnsigned { records });
    }
    let uploads: Vec<(i64, String)> = unsealed
        .uploads
        .iter()
        .map(|(id, row)| (*id, key.seal_upload(row)))
        .collect();
    let events: Vec<(i64, String)> = unsealed
        .events
        .iter()
        .map(|(id, event)| (*id, key.seal_event(event)))
        .collect();
    store.seal_release_records(&uploads, &events).await?;
    for (_, row) in &unsealed.uploads {
        tracing::warn!(tenant = %row.tenant, plugin = %row.plugin, version = %row.version, component_digest = %row.component_digest, manifest_digest = %row.manifest_digest, "trusted at upgrade: a plugin version recorded before release records were signed is signed now, as it stands in the database");
    }
    tracing::warn!(
        uploads = uploads.len(),
        events = events.len(),
        "trusted at upgrade: release records written before they were signed were signed now under the new approval.key; review them if the database may have been edited before the upgrade"
    );
    Ok(UpgradeSeal::Signed {
        uploads: uploads.len(),
        events: events.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ReleaseEventKind, SqliteStore};

    fn key(byte: u8) -> ApprovalKey {
        ApprovalKey::from_bytes([byte; KEY_LEN])
    }

    fn upload() -> StoredPluginVersion {
        StoredPluginVersion {
            tenant: "acme".into(),
            plugin: "greeter".into(),
            version: "1.0.0".into(),
            world: "call-flow".into(),
            component: vec![0, 97, 115, 109],
            manifest: "name = \"greeter\"".into(),
            component_digest: "sha256:c".into(),
            manifest_digest: "sha256:m".into(),
            uploaded_by: "dev@acme".into(),
            uploaded_at_ms: 4,
            mac: None,
        }
    }

    fn approval() -> ReleaseEvent {
        ReleaseEvent {
            tenant: "acme".into(),
            plugin: "greeter".into(),
            kind: ReleaseEventKind::Approve,
            version: Some("1.0.0".into()),
            actor: "rita@acme".into(),
            component_digest: Some("sha256:c".into()),
            manifest_digest: Some("sha256:m".into()),
            at_ms: 5,
            mac: None,
        }
    }

    #[test]
    fn every_field_that_binds_a_version_is_under_the_mac() {
        let key = key(1);
        let mut row = upload();
        assert_eq!(key.check_upload(&row), Err(SealFault::Missing));
        row.mac = Some(key.seal_upload(&row));
        assert_eq!(key.check_upload(&row), Ok(()));
        // The bytes are not under it (their digests are, and are checked
        // against the bytes at each load).
        let rebuilt = StoredPluginVersion {
            component: vec![1],
            ..row.clone()
        };
        assert_eq!(key.check_upload(&rebuilt), Ok(()));
        let edits: [fn(&mut StoredPluginVersion); 8] = [
            |r| r.tenant = "other".into(),
            |r| r.plugin = "other".into(),
            |r| r.version = "1.0.1".into(),
            |r| r.world = "lead-tagger".into(),
            |r| r.component_digest = "sha256:x".into(),
            |r| r.manifest_digest = "sha256:x".into(),
            |r| r.uploaded_by = "mallory".into(),
            |r| r.uploaded_at_ms = 6,
        ];
        for edit in edits {
            let mut edited = row.clone();
            edit(&mut edited);
            assert_eq!(
                key.check_upload(&edited),
                Err(SealFault::Wrong),
                "{edited:?}"
            );
        }
        // Another host's key, and a MAC that is not hex.
        assert_eq!(self::key(2).check_upload(&row), Err(SealFault::Wrong));
        row.mac = Some("not hex".into());
        assert_eq!(key.check_upload(&row), Err(SealFault::Wrong));
    }

    #[test]
    fn a_decision_cannot_be_moved_to_another_version_plugin_tenant_or_kind() {
        let key = key(1);
        let mut event = approval();
        event.mac = Some(key.seal_event(&event));
        assert_eq!(key.check_event(&event), Ok(()));
        let edits: [fn(&mut ReleaseEvent); 9] = [
            |e| e.tenant = "other".into(),
            |e| e.plugin = "other".into(),
            |e| e.kind = ReleaseEventKind::Activate,
            |e| e.version = Some("1.1.0".into()),
            |e| e.actor = "mallory".into(),
            |e| e.component_digest = Some("sha256:x".into()),
            |e| e.manifest_digest = None,
            |e| e.manifest_digest = Some(String::new()),
            |e| e.at_ms = 6,
        ];
        for edit in edits {
            let mut edited = event.clone();
            edit(&mut edited);
            assert_eq!(
                key.check_event(&edited),
                Err(SealFault::Wrong),
                "{edited:?}"
            );
        }
        // An upload's MAC is not a decision's, even over the same strings.
        let mut row = upload();
        row.mac = event.mac.clone();
        assert_eq!(key.check_upload(&row), Err(SealFault::Wrong));
    }

    #[test]
    fn the_refusal_names_the_record_and_what_to_do() {
        let error = SealError {
            plugin: "greeter".into(),
            version: semver::Version::new(1, 0, 0),
            record: "its approval by rita@acme at 5 ms".into(),
            fault: SealFault::Wrong,
        };
        assert_eq!(
            error.to_string(),
            "plugin greeter version 1.0.0 is refused: the record of its approval by rita@acme at 5 ms has a wrong MAC under this host's approval key (approval.key): its tenant, plugin, version, digests, reviewer or time were changed, or it was copied from another record, by someone without the key. Restore the database from a backup taken before the change, or upload the reviewed bytes as a new version for review"
        );
    }

    /// A store holding one upload and its approval, without MACs (as written
    /// before the upgrade).
    async fn unsigned_store(dir: &Path) -> SqliteStore {
        let store = SqliteStore::open(dir).await.unwrap();
        store.insert_plugin_version(&upload()).await.unwrap();
        store.append_release_event(&approval()).await.unwrap();
        store
    }

    #[tokio::test]
    async fn records_from_before_the_upgrade_are_signed_only_by_the_start_that_creates_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = unsigned_store(dir.path()).await;
        let key = ApprovalKey::load_or_create(dir.path()).unwrap();
        assert!(key.created());
        assert_eq!(
            seal_at_upgrade(&store, &key).await.unwrap(),
            UpgradeSeal::Signed {
                uploads: 1,
                events: 1
            }
        );
        let rows = store.plugin_versions("acme", "greeter").await.unwrap();
        assert_eq!(key.check_upload(&rows[0]), Ok(()));
        let events = store.release_events("acme", "greeter").await.unwrap();
        assert_eq!(key.check_event(&events[0]), Ok(()));
        assert_eq!(
            seal_at_upgrade(&store, &key).await.unwrap(),
            UpgradeSeal::NothingUnsigned
        );

        // Later (the key file exists): a record written without a MAC stays so.
        let again = ApprovalKey::load_or_create(dir.path()).unwrap();
        assert!(!again.created());
        let forged = ReleaseEvent {
            kind: ReleaseEventKind::Activate,
            ..approval()
        };
        store.append_release_event(&forged).await.unwrap();
        assert_eq!(
            seal_at_upgrade(&store, &again).await.unwrap(),
            UpgradeSeal::LeftUnsigned { records: 1 }
        );
        let events = store.release_events("acme", "greeter").await.unwrap();
        assert_eq!(events[1].mac, None);
    }

    #[tokio::test]
    async fn a_new_key_over_records_signed_under_an_earlier_one_signs_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = unsigned_store(dir.path()).await;
        let first = ApprovalKey::load_or_create(dir.path()).unwrap();
        seal_at_upgrade(&store, &first).await.unwrap();
        // The key file is lost, and an insider adds an unsigned approval.
        std::fs::remove_file(dir.path().join(APPROVAL_KEY_FILE)).unwrap();
        let forged = ReleaseEvent {
            version: Some("1.1.0".into()),
            ..approval()
        };
        store.append_release_event(&forged).await.unwrap();
        let second = ApprovalKey::load_or_create(dir.path()).unwrap();
        assert!(second.created());
        assert_eq!(
            seal_at_upgrade(&store, &second).await.unwrap(),
            UpgradeSeal::LeftUnsigned { records: 1 }
        );
        let events = store.release_events("acme", "greeter").await.unwrap();
        assert_eq!(events[1].mac, None);
    }
}
