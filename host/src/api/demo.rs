//! The demo tenant of `cally serve --demo`: the bundled examples uploaded,
//! approved and active, a few leads with consents, and one key per role, so the
//! README's walkthrough works by copy and paste.
//!
//! The demo approves only the bundled examples' own bytes: a version is
//! approved on the demo reviewer's behalf only when its component and manifest
//! digests are those of the example built into this binary, so whatever else a
//! developer uploads waits for a real reviewer, restart or not. The demo keys'
//! secrets are kept in `<data_dir>/demo-keys.json` (mode 0600; the database
//! keeps only their hashes), so a restart prints the same working keys instead
//! of minting four more.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::registry::RegistryError;
use super::{ApiError, ApiHost, IssuedKey, Role, issue_key, key_hash, key_id};
use crate::component::ComponentDigest;
use crate::consent::{AgeStatus, Channel, Purpose};
use crate::manifest::{ApprovalError, ManifestDigest, ReleaseState};
use crate::secret_file::replace_private_file;
use crate::store::{Lead, NewConsent};

/// The demo tenant's id.
pub const DEMO_TENANT: &str = "demo";

/// The file, inside the data directory, that keeps the demo keys' secrets.
pub const DEMO_KEYS_FILE: &str = "demo-keys.json";

/// One demo lead: id, name, phone, preferred time, and the consents it gave.
type DemoLead = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [(Purpose, Option<Channel>)],
);

/// The demo's leads.
const LEADS: &[DemoLead] = &[
    (
        "lead-ada",
        "Ada Lovelace",
        "+15550100",
        "mornings",
        &[
            (Purpose::CallHandling, None),
            (Purpose::CrmTagging, None),
            (Purpose::Marketing, Some(Channel::Whatsapp)),
        ],
    ),
    (
        "lead-grace",
        "Grace Hopper",
        "+15550101",
        "afternoons",
        &[(Purpose::CallHandling, None)],
    ),
    ("lead-alan", "Alan Turing", "+15550102", "evenings", &[]),
];

/// Creates (or completes) the demo tenant and returns a key for each tenant
/// role. Running it again keeps what exists: the keys kept in
/// `<data_dir>/demo-keys.json` are returned again while the store still knows
/// them for the demo tenant and their role; only a missing one is issued anew.
pub async fn seed(host: &ApiHost, data_dir: &Path) -> Result<Vec<IssuedKey>, ApiError> {
    let store = host.store();
    let now = crate::clock::now_ms();
    store.create_tenant(DEMO_TENANT, now).await?;
    for example in crate::examples::BUNDLED {
        let uploaded = host
            .registry
            .upload(
                DEMO_TENANT,
                "demo-developer",
                example.manifest.to_owned(),
                example.component.to_vec(),
            )
            .await;
        match uploaded {
            Ok(_) | Err(RegistryError::Approval(ApprovalError::AlreadyUploaded { .. })) => {}
            Err(error) => return Err(error.into()),
        }
        // Only the bundled bytes are approved here; any other version of the
        // plugin (a developer's upload) is left for a real reviewer.
        let component_digest = ComponentDigest::of(example.component).to_string();
        let manifest_digest = ManifestDigest::of(example.manifest.as_bytes()).to_string();
        let plugin = host.registry.get(DEMO_TENANT, example.name).await?;
        let Some(bundled) = plugin.versions.iter().find(|v| {
            v.component_digest == component_digest
                && v.manifest_digest == manifest_digest
                && v.refused.is_none()
        }) else {
            // The bundled version number holds other bytes (uploaded before
            // this binary's example, or edited in the database since): nothing
            // is approved on its behalf.
            tracing::warn!(
                plugin = example.name,
                "the demo tenant's version of a bundled example is not the bundled bytes; leaving it for a reviewer"
            );
            continue;
        };
        let number =
            semver::Version::parse(&bundled.version).map_err(|e| ApiError::internal(&e))?;
        if bundled.state == ReleaseState::Uploaded {
            host.registry
                .approve(
                    DEMO_TENANT,
                    example.name,
                    &number,
                    "demo-reviewer",
                    &component_digest,
                    &manifest_digest,
                )
                .await?;
        }
        if plugin.active_version.is_none() {
            host.registry
                .activate(DEMO_TENANT, example.name, &number, "demo-reviewer")
                .await?;
        }
    }
    for (lead_id, name, phone, preferred_time, consents) in LEADS {
        if store.lead(DEMO_TENANT, lead_id).await?.is_some() {
            continue;
        }
        let mut lead = Lead::new(DEMO_TENANT, *lead_id);
        lead.name = Some((*name).to_owned());
        lead.phone = Some((*phone).to_owned());
        lead.language = Some("en".to_owned());
        lead.age = AgeStatus::Adult;
        let mut preferences = Map::new();
        preferences.insert("preferred-time".into(), Value::from(*preferred_time));
        lead.preferences = Some(preferences);
        store.upsert_lead(&lead).await?;
        for (purpose, channel) in *consents {
            store
                .grant_consent(&NewConsent {
                    tenant: DEMO_TENANT.into(),
                    lead_id: (*lead_id).into(),
                    purpose: *purpose,
                    channel: *channel,
                    granted_at_ms: now,
                    expires_at_ms: None,
                    source: "demo".into(),
                    evidence: "seeded by cally serve --demo".into(),
                    parental: false,
                })
                .await?;
        }
    }
    demo_keys(host, data_dir).await
}

/// One demo key as kept in [`DEMO_KEYS_FILE`].
#[derive(Debug, Serialize, Deserialize)]
struct KeptKey {
    role: Role,
    key: String,
}

/// The demo tenant's four keys: those kept in the data directory that the
/// store still holds for the demo tenant and the same role, and new ones for
/// the rest (the file is then rewritten).
async fn demo_keys(host: &ApiHost, data_dir: &Path) -> Result<Vec<IssuedKey>, ApiError> {
    let store = host.store();
    let path = data_dir.join(DEMO_KEYS_FILE);
    let kept = read_kept(&path).map_err(|e| ApiError::internal(&e))?;
    let mut keys = Vec::new();
    let mut changed = false;
    for role in [
        Role::TenantAdmin,
        Role::Developer,
        Role::Reviewer,
        Role::Runtime,
    ] {
        let mut reused = None;
        for candidate in kept.iter().filter(|k| k.role == role) {
            let hash = key_hash(&candidate.key);
            if let Some(record) = store.api_key(&hash).await?
                && record.tenant.as_deref() == Some(DEMO_TENANT)
                && record.role == role.as_str()
            {
                reused = Some(IssuedKey {
                    id: key_id(&hash),
                    key: candidate.key.clone(),
                    role,
                    tenant: record.tenant,
                    label: record.label,
                    created_at_ms: record.created_at_ms,
                });
                break;
            }
        }
        let key = match reused {
            Some(key) => key,
            None => {
                changed = true;
                let label = format!("demo-{role}");
                issue_key(store, Some(DEMO_TENANT), role, &label).await?
            }
        };
        keys.push(key);
    }
    if changed {
        let kept: Vec<KeptKey> = keys
            .iter()
            .map(|k| KeptKey {
                role: k.role,
                key: k.key.clone(),
            })
            .collect();
        write_kept(data_dir, &path, &kept).map_err(|e| ApiError::internal(&e))?;
    }
    Ok(keys)
}

/// Occurs when the demo keys file cannot be read or written.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot {action} the demo keys file '{path}': {detail}; delete it to have new demo keys issued"
)]
struct KeptKeysError {
    action: &'static str,
    path: PathBuf,
    detail: String,
}

fn read_kept(path: &Path) -> Result<Vec<KeptKey>, KeptKeysError> {
    let error = |action, detail: String| KeptKeysError {
        action,
        path: path.to_owned(),
        detail,
    };
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| error("parse", e.to_string())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(error("read", e.to_string())),
    }
}

/// Writes the keys to a new 0600 file, then renames it over `path`.
fn write_kept(data_dir: &Path, path: &Path, kept: &[KeptKey]) -> Result<(), KeptKeysError> {
    serde_json::to_vec_pretty(kept)
        .map_err(io::Error::other)
        .and_then(|json| replace_private_file(data_dir, DEMO_KEYS_FILE, &json))
        .map_err(|e| KeptKeysError {
            action: "write",
            path: path.to_owned(),
            detail: e.to_string(),
        })
}
