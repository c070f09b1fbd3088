//! Each tenant's plugins as the API sees them: uploaded versions (the exact bytes
//! checked), and their release state under the approval model
//! ([`PluginReleases`]), persisted so a restart keeps it.
//!
//! The store keeps the uploads and every reviewer decision (approve, activate,
//! roll back) in order; a plugin's state is rebuilt by replaying those decisions
//! through [`PluginReleases`] the first time it is needed, then kept in memory.
//! Every change is tried on a copy, written to the store, and only then made
//! visible, so a refused or failed request changes nothing.
//!
//! What runs is what was reviewed: each time a plugin is loaded from the store
//! (the first use after every start), the digests of each version's stored
//! component and manifest bytes are checked against the digests recorded at its
//! upload and at its approval ([`check_binding`]). A version whose bytes changed
//! is refused: it never runs, a call to it gets the default fallback, and the
//! reason names the digest expected and the one found.
//!
//! And the records that say so are the host's: each upload row and reviewer
//! decision carries a MAC under the host's approval key ([`ApprovalKey`],
//! outside the database), set when the host writes it and checked at the same
//! load, so bytes rewritten together with every digest recorded for them, or
//! an approval copied to another version, refuse the version too ([`SealError`]).

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::Mutex;

use super::seal::{ApprovalKey, Refusal, SealError};
use crate::component::{
    ComponentCache, ComponentDigest, ComponentError, ComponentInterface, World,
};
use crate::manifest::{
    self, Approval, ApprovalError, BoundDigests, DigestKind, InspectReport, Manifest, ManifestDiff,
    ManifestDigest, ManifestErrors, PluginReleases, Problem, ReleaseState, check_binding,
};
use crate::sandbox::SandboxConfig;
use crate::store::{PluginStore, ReleaseEvent, ReleaseEventKind, StoreError, StoredPluginVersion};

/// Occurs when a plugin operation is refused or fails.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Occurs when the tenant has no such plugin or version.
    #[error("no {0}")]
    NotFound(String),
    /// Occurs when a call or diff needs an active version and there is none.
    #[error("plugin '{plugin}' has no active version")]
    NoActiveVersion {
        /// The plugin.
        plugin: String,
    },
    /// Occurs when an uploaded manifest fails its checks.
    #[error(transparent)]
    Manifest(#[from] ManifestErrors),
    /// Occurs when an uploaded component is not a usable component.
    #[error(transparent)]
    Component(#[from] ComponentError),
    /// Occurs when a component does not match its manifest (imports, exports,
    /// limits above the platform's maxima).
    #[error("the component does not match its manifest")]
    Rejected {
        /// Every problem found.
        problems: Vec<Problem>,
    },
    /// Occurs when the approval model refuses an upload, approval, activation
    /// or roll-back.
    #[error(transparent)]
    Approval(#[from] ApprovalError),
    /// Occurs when a version's stored bytes are not the bytes recorded at its
    /// upload or approval, or a record that binds it is not signed by this
    /// host: it is refused and never runs.
    #[error(transparent)]
    Refused(#[from] Box<Refusal>),
    /// Occurs when the store fails.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Occurs when a plugin's stored history cannot be replayed (a database
    /// edited by hand, or written by a newer version).
    #[error("cannot rebuild plugin '{plugin}' of tenant '{tenant}' from the store: {detail}")]
    Replay {
        /// The tenant.
        tenant: String,
        /// The plugin.
        plugin: String,
        /// What failed.
        detail: String,
    },
}

/// One uploaded version, parsed and checked, ready to inspect, diff or run.
pub struct PluginVersion {
    /// The parsed manifest.
    pub manifest: Manifest,
    /// The manifest's text, exactly as uploaded (its digest is approved).
    pub manifest_text: String,
    /// The component's bytes.
    pub component: Arc<[u8]>,
    /// What the component imports and exports.
    pub interface: ComponentInterface,
    /// `sha256:` of the component.
    pub component_digest: ComponentDigest,
    /// `sha256:` of the manifest text.
    pub manifest_digest: ManifestDigest,
    /// Who uploaded it.
    pub uploaded_by: String,
    /// When.
    pub uploaded_at_ms: i64,
}

/// A version as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VersionView {
    /// The version.
    pub version: String,
    /// Its world.
    pub world: World,
    /// Where it is in its life.
    pub state: ReleaseState,
    /// `sha256:` of the component.
    pub component_digest: String,
    /// `sha256:` of the manifest.
    pub manifest_digest: String,
    /// Who uploaded it.
    pub uploaded_by: String,
    /// When.
    pub uploaded_at_ms: i64,
    /// Who approved it, if anyone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    /// When it was approved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_at_ms: Option<i64>,
    /// Set when the version is refused because its stored bytes are not the
    /// bytes recorded at its upload or approval (names both digests), or a
    /// record that binds it has a missing or wrong MAC (names the record). A
    /// refused version never runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

/// A plugin as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PluginView {
    /// The plugin's name.
    pub name: String,
    /// The active version, if any.
    pub active_version: Option<String>,
    /// Every version, in upload order.
    pub versions: Vec<VersionView>,
}

/// A plugin in memory: its release state and its versions' contents.
#[derive(Clone)]
struct PluginEntry {
    releases: PluginReleases,
    versions: HashMap<semver::Version, Arc<PluginVersion>>,
    /// Versions refused when loaded: a record binding them failed its MAC,
    /// or their stored bytes failed [`check_binding`].
    refused: HashMap<semver::Version, Box<Refusal>>,
}

impl PluginEntry {
    fn version(
        &self,
        plugin: &str,
        version: &semver::Version,
    ) -> Result<&Arc<PluginVersion>, RegistryError> {
        self.versions.get(version).ok_or_else(|| {
            RegistryError::NotFound(format!("version {version} of plugin '{plugin}'"))
        })
    }

    fn active(&self) -> Option<&Arc<PluginVersion>> {
        self.releases
            .active()
            .and_then(|v| self.versions.get(&v.version))
    }

    /// Fails if `version`'s bytes were refused when loaded.
    fn runnable(&self, version: &semver::Version) -> Result<(), RegistryError> {
        match self.refused.get(version) {
            Some(refusal) => Err(RegistryError::Refused(refusal.clone())),
            None => Ok(()),
        }
    }

    fn view(&self, name: &str) -> PluginView {
        let versions = self
            .releases
            .versions()
            .iter()
            .filter_map(|uploaded| {
                let contents = self.versions.get(&uploaded.version)?;
                Some(VersionView {
                    version: uploaded.version.to_string(),
                    world: contents.manifest.world,
                    state: uploaded.state(),
                    component_digest: uploaded.component_digest.to_string(),
                    manifest_digest: uploaded.manifest_digest.to_string(),
                    uploaded_by: contents.uploaded_by.clone(),
                    uploaded_at_ms: contents.uploaded_at_ms,
                    approved_by: uploaded.approval().map(|a| a.reviewer.clone()),
                    approved_at_ms: uploaded.approval().map(|a| a.approved_at_ms),
                    refused: self.refused.get(&uploaded.version).map(|r| r.to_string()),
                })
            })
            .collect();
        PluginView {
            name: name.to_owned(),
            active_version: self.releases.active().map(|v| v.version.to_string()),
            versions,
        }
    }
}

/// The diff from `old` to `new` under `platform`.
fn diff_versions(
    old: &PluginVersion,
    new: &PluginVersion,
    platform: &SandboxConfig,
) -> ManifestDiff {
    manifest::diff_under(
        (&old.manifest, &old.interface),
        (&new.manifest, &new.interface),
        platform,
    )
    .with_component_digests(&old.component_digest, &new.component_digest)
}

/// The answer to an upload: which plugin, and the version as stored.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Uploaded {
    /// The plugin's name, from the manifest.
    pub plugin: String,
    /// The version, its digests and state.
    #[serde(flatten)]
    pub version: VersionView,
}

/// Every tenant's plugins; one per host.
pub struct PluginRegistry {
    store: Arc<dyn PluginStore>,
    cache: Arc<ComponentCache>,
    /// Signs the records this registry writes and checks those it reads.
    key: ApprovalKey,
    /// Loaded plugins by (tenant, plugin). One lock for all: plugin changes are
    /// rare, and holding it across the store write keeps them in order.
    plugins: Mutex<HashMap<(String, String), PluginEntry>>,
}

impl PluginRegistry {
    /// A registry over `store`, compiling uploads with `cache`, signing and
    /// checking release records with `key`.
    pub fn new(store: Arc<dyn PluginStore>, cache: Arc<ComponentCache>, key: ApprovalKey) -> Self {
        Self {
            store,
            cache,
            key,
            plugins: Mutex::new(HashMap::new()),
        }
    }

    fn platform(&self) -> &SandboxConfig {
        self.cache.sandbox().config()
    }

    /// Checks and stores an upload: the manifest ([`Manifest::parse`]), the
    /// component (read, checked against the manifest with
    /// [`manifest::check_component`], compiled and linked), the limits against
    /// this host's maxima. A refused upload stores nothing, and everything that
    /// can refuse it without compiling (the manifest, the imports, the limits,
    /// a version number uploaded before) is checked first, so such an upload
    /// compiles nothing and leaves no artifact.
    pub async fn upload(
        &self,
        tenant: &str,
        uploaded_by: &str,
        manifest_text: String,
        component: Vec<u8>,
    ) -> Result<Uploaded, RegistryError> {
        let manifest = Manifest::parse(&manifest_text, "cally.toml")?;
        let interface = ComponentInterface::read(&component)?;
        let mut problems = manifest::check_component(&manifest, &interface);
        if let Err(errors) = manifest.plugin_limits(self.platform()) {
            problems.extend(errors.problems);
        }
        if !problems.is_empty() {
            return Err(RegistryError::Rejected { problems });
        }
        {
            let mut plugins = self.plugins.lock().await;
            match self.load(&mut plugins, tenant, &manifest.name).await {
                Ok(entry) => {
                    if let Some(existing) = entry.releases.get(&manifest.version) {
                        return Err(ApprovalError::AlreadyUploaded {
                            plugin: manifest.name.clone(),
                            version: manifest.version.clone(),
                            component: existing.component_digest.to_string(),
                            manifest: existing.manifest_digest.to_string(),
                        }
                        .into());
                    }
                }
                Err(RegistryError::NotFound(_)) => {}
                Err(other) => return Err(other),
            }
        }
        let component: Arc<[u8]> = component.into();
        // Compiling is CPU-bound (and leaves a precompiled artifact for the first call).
        let cache = self.cache.clone();
        let bytes = component.clone();
        tokio::task::spawn_blocking(move || cache.load(&bytes))
            .await
            .map_err(|e| RegistryError::Replay {
                tenant: tenant.to_owned(),
                plugin: manifest.name.clone(),
                detail: format!("the compiling task failed: {e}"),
            })??;
        let version = PluginVersion {
            component_digest: ComponentDigest::of(&component),
            manifest_digest: ManifestDigest::of(manifest_text.as_bytes()),
            manifest,
            manifest_text,
            component,
            interface,
            uploaded_by: uploaded_by.to_owned(),
            uploaded_at_ms: crate::clock::now_ms(),
        };
        let name = version.manifest.name.clone();
        let mut plugins = self.plugins.lock().await;
        let mut entry = match self.load(&mut plugins, tenant, &name).await {
            Ok(entry) => entry.clone(),
            Err(RegistryError::NotFound(_)) => PluginEntry {
                releases: PluginReleases::new(name.clone()),
                versions: HashMap::new(),
                refused: HashMap::new(),
            },
            Err(other) => return Err(other),
        };
        entry.releases.upload(
            version.manifest.version.clone(),
            version.component_digest.clone(),
            version.manifest_digest.clone(),
        )?;
        let mut row = StoredPluginVersion {
            tenant: tenant.to_owned(),
            plugin: name.clone(),
            version: version.manifest.version.to_string(),
            world: version.manifest.world.name().to_owned(),
            component: version.component.to_vec(),
            manifest: version.manifest_text.clone(),
            component_digest: version.component_digest.to_string(),
            manifest_digest: version.manifest_digest.to_string(),
            uploaded_by: version.uploaded_by.clone(),
            uploaded_at_ms: version.uploaded_at_ms,
            mac: None,
        };
        row.mac = Some(self.key.seal_upload(&row));
        self.store.insert_plugin_version(&row).await?;
        let number = version.manifest.version.clone();
        entry.versions.insert(number.clone(), Arc::new(version));
        let view = entry.view(&name);
        plugins.insert((tenant.to_owned(), name.clone()), entry);
        let version = view
            .versions
            .into_iter()
            .find(|v| v.version == number.to_string())
            .expect("just uploaded");
        Ok(Uploaded {
            plugin: name,
            version,
        })
    }

    /// The names of the tenant's plugins.
    pub async fn list(&self, tenant: &str) -> Result<Vec<PluginView>, RegistryError> {
        let names = self.store.plugin_names(tenant).await?;
        let mut plugins = self.plugins.lock().await;
        let mut views = Vec::with_capacity(names.len());
        for name in names {
            views.push(self.load(&mut plugins, tenant, &name).await?.view(&name));
        }
        Ok(views)
    }

    /// One plugin with its versions.
    pub async fn get(&self, tenant: &str, plugin: &str) -> Result<PluginView, RegistryError> {
        let mut plugins = self.plugins.lock().await;
        Ok(self.load(&mut plugins, tenant, plugin).await?.view(plugin))
    }

    /// The reviewer's report on one version, with its state.
    pub async fn inspect(
        &self,
        tenant: &str,
        plugin: &str,
        version: &semver::Version,
    ) -> Result<(InspectReport, ReleaseState), RegistryError> {
        let mut plugins = self.plugins.lock().await;
        let entry = self.load(&mut plugins, tenant, plugin).await?;
        let contents = entry.version(plugin, version)?;
        let state = entry
            .releases
            .get(version)
            .map(|v| v.state())
            .ok_or_else(|| {
                RegistryError::NotFound(format!("version {version} of plugin '{plugin}'"))
            })?;
        let report = manifest::inspect(
            &contents.manifest,
            contents.manifest_text.as_bytes(),
            &contents.component,
        )?;
        Ok((report, state))
    }

    /// What `version` asks for beyond the active version.
    pub async fn diff(
        &self,
        tenant: &str,
        plugin: &str,
        version: &semver::Version,
    ) -> Result<ManifestDiff, RegistryError> {
        let mut plugins = self.plugins.lock().await;
        let entry = self.load(&mut plugins, tenant, plugin).await?;
        let new = entry.version(plugin, version)?;
        let Some(active) = entry.active() else {
            return Err(RegistryError::NoActiveVersion {
                plugin: plugin.to_owned(),
            });
        };
        Ok(diff_versions(active, new, self.platform()))
    }

    /// Approves `version`, bound to the digests the reviewer inspected: both
    /// must equal the version's.
    pub async fn approve(
        &self,
        tenant: &str,
        plugin: &str,
        version: &semver::Version,
        reviewer: &str,
        component_digest: &str,
        manifest_digest: &str,
    ) -> Result<PluginView, RegistryError> {
        let mut plugins = self.plugins.lock().await;
        let mut entry = self.load(&mut plugins, tenant, plugin).await?.clone();
        let contents = entry.version(plugin, version)?.clone();
        entry.runnable(version)?;
        for (what, given, actual) in [
            (
                DigestKind::Component,
                component_digest,
                contents.component_digest.to_string(),
            ),
            (
                DigestKind::Manifest,
                manifest_digest,
                contents.manifest_digest.to_string(),
            ),
        ] {
            if given != actual {
                return Err(ApprovalError::DigestMismatch {
                    plugin: plugin.to_owned(),
                    version: version.clone(),
                    what,
                    approved: given.to_owned(),
                    uploaded: actual,
                }
                .into());
            }
        }
        let at_ms = crate::clock::now_ms();
        entry.releases.approve(
            version,
            Approval {
                reviewer: reviewer.to_owned(),
                component_digest: contents.component_digest.clone(),
                manifest_digest: contents.manifest_digest.clone(),
                approved_at_ms: at_ms,
            },
        )?;
        self.record(
            tenant,
            plugin,
            ReleaseEventKind::Approve,
            Some(version),
            reviewer,
            Some(contents.as_ref()),
            at_ms,
        )
        .await?;
        Ok(self.commit(&mut plugins, tenant, plugin, entry))
    }

    /// Makes `version` active; refused while it asks for more than the active
    /// version (or is the first) and is not approved.
    pub async fn activate(
        &self,
        tenant: &str,
        plugin: &str,
        version: &semver::Version,
        reviewer: &str,
    ) -> Result<PluginView, RegistryError> {
        let mut plugins = self.plugins.lock().await;
        let mut entry = self.load(&mut plugins, tenant, plugin).await?.clone();
        let new = entry.version(plugin, version)?.clone();
        entry.runnable(version)?;
        let diff = entry
            .active()
            .map(|active| diff_versions(active, &new, self.platform()));
        entry.releases.activate(version, diff.as_ref())?;
        let at_ms = crate::clock::now_ms();
        self.record(
            tenant,
            plugin,
            ReleaseEventKind::Activate,
            Some(version),
            reviewer,
            Some(new.as_ref()),
            at_ms,
        )
        .await?;
        Ok(self.commit(&mut plugins, tenant, plugin, entry))
    }

    /// Rolls the active version back to the one it superseded.
    pub async fn roll_back(
        &self,
        tenant: &str,
        plugin: &str,
        reviewer: &str,
    ) -> Result<PluginView, RegistryError> {
        let mut plugins = self.plugins.lock().await;
        let mut entry = self.load(&mut plugins, tenant, plugin).await?.clone();
        entry.releases.roll_back()?;
        let at_ms = crate::clock::now_ms();
        self.record(
            tenant,
            plugin,
            ReleaseEventKind::RollBack,
            None,
            reviewer,
            None,
            at_ms,
        )
        .await?;
        Ok(self.commit(&mut plugins, tenant, plugin, entry))
    }

    /// The active version of a plugin, for a new call; [`RegistryError::Refused`]
    /// if its stored bytes are not the ones bound at its upload and approval.
    pub async fn active(
        &self,
        tenant: &str,
        plugin: &str,
    ) -> Result<Arc<PluginVersion>, RegistryError> {
        let mut plugins = self.plugins.lock().await;
        let entry = self.load(&mut plugins, tenant, plugin).await?;
        let active = entry
            .active()
            .cloned()
            .ok_or_else(|| RegistryError::NoActiveVersion {
                plugin: plugin.to_owned(),
            })?;
        entry.runnable(&active.manifest.version)?;
        Ok(active)
    }

    /// The compiled form of `version`, from the cache (compiled on a blocking
    /// thread if it is not there yet).
    pub async fn compiled(
        &self,
        version: &PluginVersion,
    ) -> Result<Arc<crate::component::CompiledPlugin>, RegistryError> {
        let cache = self.cache.clone();
        let bytes = version.component.clone();
        tokio::task::spawn_blocking(move || cache.load(&bytes))
            .await
            .map_err(|e| RegistryError::Replay {
                tenant: String::new(),
                plugin: version.manifest.name.clone(),
                detail: format!("the compiling task failed: {e}"),
            })?
            .map_err(RegistryError::from)
    }

    #[allow(clippy::too_many_arguments)]
    async fn record(
        &self,
        tenant: &str,
        plugin: &str,
        kind: ReleaseEventKind,
        version: Option<&semver::Version>,
        actor: &str,
        bound: Option<&PluginVersion>,
        at_ms: i64,
    ) -> Result<(), RegistryError> {
        let mut event = ReleaseEvent {
            tenant: tenant.to_owned(),
            plugin: plugin.to_owned(),
            kind,
            version: version.map(|v| v.to_string()),
            actor: actor.to_owned(),
            component_digest: bound.map(|v| v.component_digest.to_string()),
            manifest_digest: bound.map(|v| v.manifest_digest.to_string()),
            at_ms,
            mac: None,
        };
        event.mac = Some(self.key.seal_event(&event));
        self.store.append_release_event(&event).await?;
        Ok(())
    }

    fn commit(
        &self,
        plugins: &mut HashMap<(String, String), PluginEntry>,
        tenant: &str,
        plugin: &str,
        entry: PluginEntry,
    ) -> PluginView {
        let view = entry.view(plugin);
        plugins.insert((tenant.to_owned(), plugin.to_owned()), entry);
        view
    }

    /// The plugin from memory, or rebuilt from the store (uploads, then every
    /// reviewer decision replayed in order).
    async fn load<'a>(
        &self,
        plugins: &'a mut HashMap<(String, String), PluginEntry>,
        tenant: &str,
        plugin: &str,
    ) -> Result<&'a PluginEntry, RegistryError> {
        let key = (tenant.to_owned(), plugin.to_owned());
        if !plugins.contains_key(&key) {
            let entry = self.rebuild(tenant, plugin).await?;
            plugins.insert(key.clone(), entry);
        }
        Ok(&plugins[&key])
    }

    async fn rebuild(&self, tenant: &str, plugin: &str) -> Result<PluginEntry, RegistryError> {
        let stored = self.store.plugin_versions(tenant, plugin).await?;
        if stored.is_empty() {
            return Err(RegistryError::NotFound(format!("plugin '{plugin}'")));
        }
        let replay = |detail: String| RegistryError::Replay {
            tenant: tenant.to_owned(),
            plugin: plugin.to_owned(),
            detail,
        };
        let mut entry = PluginEntry {
            releases: PluginReleases::new(plugin),
            versions: HashMap::new(),
            refused: HashMap::new(),
        };
        // What each version's bytes must still hash to: the digests recorded
        // at each approval and activation, then at its upload (checked in
        // that order).
        let mut uploaded: HashMap<semver::Version, BoundDigests> = HashMap::new();
        let mut bound: HashMap<semver::Version, Vec<BoundDigests>> = HashMap::new();
        // The first record binding each version whose MAC failed.
        let mut unsigned: HashMap<semver::Version, SealError> = HashMap::new();
        let mut seal_failed = |version: &semver::Version, record: String, fault| {
            unsigned
                .entry(version.clone())
                .or_insert_with(|| SealError {
                    plugin: plugin.to_owned(),
                    version: version.clone(),
                    record,
                    fault,
                });
        };
        for row in stored {
            let upload_seal = self.key.check_upload(&row);
            let source = format!("{plugin} {} (stored)", row.version);
            let mut manifest =
                Manifest::parse(&row.manifest, &source).map_err(|e| replay(e.to_string()))?;
            // The row's version number is the one the reviewers' decisions
            // name. A manifest whose own number differs was edited after upload
            // (its digest no longer matches, so the version is refused below);
            // keeping the row's number keeps the history replayable.
            let number = semver::Version::parse(&row.version)
                .map_err(|e| replay(format!("version '{}': {e}", row.version)))?;
            manifest.version = number;
            if let Err(fault) = upload_seal {
                seal_failed(
                    &manifest.version,
                    format!("its upload by {}", row.uploaded_by),
                    fault,
                );
            }
            let interface =
                ComponentInterface::read(&row.component).map_err(|e| replay(e.to_string()))?;
            uploaded.insert(
                manifest.version.clone(),
                BoundDigests {
                    bound_at: format!("uploaded by {}", row.uploaded_by),
                    component: row.component_digest.clone(),
                    manifest: row.manifest_digest.clone(),
                },
            );
            let version = PluginVersion {
                component_digest: ComponentDigest::of(&row.component),
                manifest_digest: ManifestDigest::of(row.manifest.as_bytes()),
                component: row.component.into(),
                manifest_text: row.manifest,
                manifest,
                interface,
                uploaded_by: row.uploaded_by,
                uploaded_at_ms: row.uploaded_at_ms,
            };
            entry
                .releases
                .upload(
                    version.manifest.version.clone(),
                    version.component_digest.clone(),
                    version.manifest_digest.clone(),
                )
                .map_err(|e| replay(e.to_string()))?;
            entry
                .versions
                .insert(version.manifest.version.clone(), Arc::new(version));
        }
        for event in self.store.release_events(tenant, plugin).await? {
            let event_seal = self.key.check_event(&event);
            let version = match &event.version {
                Some(text) => Some(
                    semver::Version::parse(text)
                        .map_err(|e| replay(format!("version '{text}': {e}")))?,
                ),
                None => None,
            };
            let contents = match &version {
                Some(v) => Some(
                    entry
                        .version(plugin, v)
                        .map_err(|e| replay(e.to_string()))?
                        .clone(),
                ),
                None => None,
            };
            let none = || "none recorded".to_owned();
            match (event.kind, &version) {
                (ReleaseEventKind::Approve, Some(version)) => {
                    // An approval without digests binds nothing that can match.
                    bound
                        .entry(version.clone())
                        .or_default()
                        .push(BoundDigests {
                            bound_at: format!("approved by {}", event.actor),
                            component: event.component_digest.clone().unwrap_or_else(none),
                            manifest: event.manifest_digest.clone().unwrap_or_else(none),
                        });
                }
                // Activations record the digests activated (older ones: none).
                (ReleaseEventKind::Activate, Some(version))
                    if event.component_digest.is_some() || event.manifest_digest.is_some() =>
                {
                    bound
                        .entry(version.clone())
                        .or_default()
                        .push(BoundDigests {
                            bound_at: format!("activated by {}", event.actor),
                            component: event.component_digest.clone().unwrap_or_else(none),
                            manifest: event.manifest_digest.clone().unwrap_or_else(none),
                        });
                }
                _ => {}
            }
            let outcome = match (event.kind, version, contents) {
                (ReleaseEventKind::Approve, Some(version), Some(contents)) => entry
                    .releases
                    .approve(
                        &version,
                        Approval {
                            reviewer: event.actor.clone(),
                            component_digest: contents.component_digest.clone(),
                            manifest_digest: contents.manifest_digest.clone(),
                            approved_at_ms: event.at_ms,
                        },
                    )
                    .map(|_| Some(version)),
                (ReleaseEventKind::Activate, Some(version), Some(contents)) => {
                    let diff = entry
                        .active()
                        .map(|active| diff_versions(active, &contents, self.platform()));
                    entry
                        .releases
                        .activate(&version, diff.as_ref())
                        .map(|_| Some(version))
                }
                (ReleaseEventKind::RollBack, None, None) => entry
                    .releases
                    .roll_back()
                    .map(|back| Some(back.version.clone())),
                (kind, _, _) => {
                    return Err(replay(format!(
                        "a {} event with a wrong version",
                        kind.as_str()
                    )));
                }
            };
            let affected = outcome.map_err(|e| replay(e.to_string()))?;
            if let Err(fault) = event_seal {
                // A roll-back names no version: the one it made active is refused.
                let what = match event.kind {
                    ReleaseEventKind::Approve => "approval",
                    ReleaseEventKind::Activate => "activation",
                    ReleaseEventKind::RollBack => "roll-back to it",
                };
                let record = format!("its {what} by {} at {} ms", event.actor, event.at_ms);
                if let Some(version) = affected.as_ref() {
                    seal_failed(version, record, fault);
                }
            }
        }
        for (number, version) in &entry.versions {
            let mut expected = bound.remove(number).unwrap_or_default();
            expected.extend(uploaded.remove(number));
            // Bytes that differ from a recorded digest are named first (both
            // digests); bytes that match records the host did not sign, next.
            let changed = check_binding(
                plugin,
                number,
                &expected,
                &version.component_digest,
                &version.manifest_digest,
            );
            let refusal = match (changed, unsigned.remove(number)) {
                (Err(changed), _) => Refusal::Bytes(*changed),
                (Ok(()), Some(unsigned)) => Refusal::Seal(unsigned),
                (Ok(()), None) => continue,
            };
            tracing::error!(tenant, plugin, version = %number, %refusal, "refusing a plugin version whose bytes or release records changed after review");
            entry.refused.insert(number.clone(), Box::new(refusal));
        }
        Ok(entry)
    }
}
