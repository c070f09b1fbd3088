//! The demo tenant of `cally serve --demo`: the bundled examples uploaded,
//! approved and active, a few leads with consents, and one key per role, so the
//! README's walkthrough works by copy and paste.

use serde_json::{Map, Value};

use super::registry::RegistryError;
use super::{ApiError, ApiHost, IssuedKey, Role, issue_key};
use crate::consent::{AgeStatus, Channel, Purpose};
use crate::manifest::{ApprovalError, ReleaseState};
use crate::store::{Lead, NewConsent};

/// The demo tenant's id.
pub const DEMO_TENANT: &str = "demo";

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

/// Creates (or completes) the demo tenant and returns a fresh key for each
/// tenant role. Running it again keeps what exists and issues new keys.
pub async fn seed(host: &ApiHost) -> Result<Vec<IssuedKey>, ApiError> {
    let store = host.store();
    let now = crate::session::now_ms() as i64;
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
        let plugin = host.registry.get(DEMO_TENANT, example.name).await?;
        for version in &plugin.versions {
            let number =
                semver::Version::parse(&version.version).map_err(|e| ApiError::internal(&e))?;
            if version.state == ReleaseState::Uploaded {
                host.registry
                    .approve(
                        DEMO_TENANT,
                        example.name,
                        &number,
                        "demo-reviewer",
                        &version.component_digest,
                        &version.manifest_digest,
                    )
                    .await?;
            }
            if plugin.active_version.is_none() {
                host.registry
                    .activate(DEMO_TENANT, example.name, &number, "demo-reviewer")
                    .await?;
            }
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
    let mut keys = Vec::new();
    for role in [
        Role::TenantAdmin,
        Role::Developer,
        Role::Reviewer,
        Role::Runtime,
    ] {
        let label = format!("demo-{role}");
        keys.push(issue_key(store, Some(DEMO_TENANT), role, &label).await?);
    }
    Ok(keys)
}
