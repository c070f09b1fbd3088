//! The approval model: a plugin version moves uploaded → approved → active,
//! and an active one is later superseded or rolled back.
//!
//! An approval is bound to the exact component and manifest digests the
//! reviewer inspected, so it approves those bytes and nothing else. A version
//! whose diff from the active one has escalations (and a plugin's first
//! version, for which every grant is new) becomes active only once approved;
//! one that asks for nothing more may be activated directly.
//!
//! Binding holds after the approval too: [`check_binding`] compares the
//! digests of the bytes a version loads with those recorded at its upload and
//! approval, and a version that fails it is refused ([`BindingError`]).
//!
//! Pure and in memory: the HTTP API persists it.

use std::fmt;

use serde::Serialize;

use crate::component::ComponentDigest;

use super::{ManifestDiff, ManifestDigest};

/// Where a version is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ReleaseState {
    /// Uploaded and checked, not approved: may become active only if it asks
    /// for nothing beyond the active version.
    Uploaded,
    /// A reviewer approved its exact digests; may become active.
    Approved,
    /// Runs on the tenant's calls. At most one version of a plugin is active.
    Active,
    /// Was active until a newer version was activated.
    Superseded,
    /// Was active until it was rolled back to the version before it.
    RolledBack,
}

impl fmt::Display for ReleaseState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReleaseState::Uploaded => "uploaded",
            ReleaseState::Approved => "approved",
            ReleaseState::Active => "active",
            ReleaseState::Superseded => "superseded",
            ReleaseState::RolledBack => "rolled back",
        })
    }
}

/// Which of a version's two digests an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestKind {
    /// The component's.
    Component,
    /// The manifest's.
    Manifest,
}

impl fmt::Display for DigestKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DigestKind::Component => "component",
            DigestKind::Manifest => "manifest",
        })
    }
}

/// A reviewer's approval of one version's exact bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// Who approved, as the API's authentication names them.
    pub reviewer: String,
    /// The component digest the reviewer inspected.
    pub component_digest: ComponentDigest,
    /// The manifest digest the reviewer inspected.
    pub manifest_digest: ManifestDigest,
    /// When, in ms since the Unix epoch (the caller's clock: this model is pure).
    pub approved_at_ms: i64,
}

/// One uploaded version of a plugin and where it is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedVersion {
    /// The manifest's version.
    pub version: semver::Version,
    /// The digest of its component's bytes.
    pub component_digest: ComponentDigest,
    /// The digest of its manifest's bytes.
    pub manifest_digest: ManifestDigest,
    /// Where it is in its life; changed only by [`PluginReleases`]' methods.
    state: ReleaseState,
    /// The approval that covers it, if a reviewer gave one.
    approval: Option<Approval>,
}

impl UploadedVersion {
    /// Where the version is in its life.
    pub fn state(&self) -> ReleaseState {
        self.state
    }

    /// The approval of its exact digests, if any.
    pub fn approval(&self) -> Option<&Approval> {
        self.approval.as_ref()
    }
}

/// Occurs when a version cannot be uploaded, approved, activated or rolled
/// back; each message names the state and what is needed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalError {
    /// Occurs when a version that was never uploaded is approved or activated.
    #[error("plugin {plugin} has no version {version}; upload it first")]
    NotUploaded {
        /// The plugin.
        plugin: String,
        /// The version asked for.
        version: semver::Version,
    },
    /// Occurs when a version number is uploaded twice: new bytes need a new
    /// number, so an approval can never be pointed at other bytes.
    #[error(
        "plugin {plugin} version {version} is already uploaded (component {component}, manifest {manifest}); new bytes need a new version number"
    )]
    AlreadyUploaded {
        /// The plugin.
        plugin: String,
        /// The version.
        version: semver::Version,
        /// Its component digest.
        component: String,
        /// Its manifest digest.
        manifest: String,
    },
    /// Occurs when a version is not in a state the operation starts from.
    #[error(
        "plugin {plugin} version {version} is {state}; {action} needs a version that is {needed}"
    )]
    WrongState {
        /// The plugin.
        plugin: String,
        /// The version.
        version: semver::Version,
        /// Its state.
        state: ReleaseState,
        /// What was tried: `approval`, `activation`.
        action: &'static str,
        /// The states it may start from.
        needed: &'static str,
    },
    /// Occurs when an approval names other bytes than the version has.
    #[error(
        "the approval is for {what} {approved}, but plugin {plugin} version {version} has {what} {uploaded}; an approval covers only the exact digests reviewed: inspect this version (cally manifest inspect) and approve its digests"
    )]
    DigestMismatch {
        /// The plugin.
        plugin: String,
        /// The version.
        version: semver::Version,
        /// Which of the two digests differs.
        what: DigestKind,
        /// The digest the approval names.
        approved: String,
        /// The digest the version has.
        uploaded: String,
    },
    /// Occurs when activating an unapproved version that asks for more than
    /// the active one, or a plugin's first version.
    #[error(
        "plugin {plugin} version {version} {why}; it needs a reviewer's approval of its digests before it can become active"
    )]
    NeedsApproval {
        /// The plugin.
        plugin: String,
        /// The version.
        version: semver::Version,
        /// Why: the escalations over the active version, or "is the plugin's first version".
        why: String,
    },
    /// Occurs when the diff passed to [`PluginReleases::activate`] is not the
    /// one from the active version to the version being activated.
    #[error("activating plugin {plugin} version {version} needs {needed}; {given}")]
    WrongDiff {
        /// The plugin.
        plugin: String,
        /// The version being activated.
        version: semver::Version,
        /// The diff that is needed, in words.
        needed: String,
        /// What was given, in words.
        given: String,
    },
    /// Occurs when there is nothing to roll back, or nothing to roll back to.
    #[error("plugin {plugin}: {why}")]
    NoRollBack {
        /// The plugin.
        plugin: String,
        /// Why not.
        why: String,
    },
}

/// Occurs when the bytes a version would load are not the bytes that were
/// bound when it was uploaded or approved: the stored component or manifest
/// was changed afterwards (by hand, in the database). The version does not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "plugin {plugin} version {version} is refused: its {what} digest was {expected} when it was {bound_at}, but the stored {what} now has digest {found}; the bytes changed after review. Restore the reviewed bytes, or upload the new ones as a new version for review"
)]
pub struct BindingError {
    /// The plugin.
    pub plugin: String,
    /// The version.
    pub version: semver::Version,
    /// Which of the two digests differs.
    pub what: DigestKind,
    /// When the expected digest was recorded: `uploaded`, `approved by rita`.
    pub bound_at: String,
    /// The digest recorded then.
    pub expected: String,
    /// The digest of the bytes found now.
    pub found: String,
}

/// The digests recorded for a version at one point of its review (its upload,
/// its approval), as stored: what its bytes must still hash to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundDigests {
    /// When they were recorded, for messages: `uploaded`, `approved by rita`.
    pub bound_at: String,
    /// `sha256:<hex>` of the component then.
    pub component: String,
    /// `sha256:<hex>` of the manifest then.
    pub manifest: String,
}

/// Checks that the bytes a version loads, with digests `component` and
/// `manifest`, are the bytes of every record in `bound`; the first mismatch
/// names the digest expected and the one found (boxed: it is large, and rare).
pub fn check_binding(
    plugin: &str,
    version: &semver::Version,
    bound: &[BoundDigests],
    component: &ComponentDigest,
    manifest: &ManifestDigest,
) -> Result<(), Box<BindingError>> {
    let (component, manifest) = (component.to_string(), manifest.to_string());
    for record in bound {
        for (what, expected, found) in [
            (DigestKind::Component, &record.component, &component),
            (DigestKind::Manifest, &record.manifest, &manifest),
        ] {
            if expected != found {
                return Err(Box::new(BindingError {
                    plugin: plugin.to_owned(),
                    version: version.clone(),
                    what,
                    bound_at: record.bound_at.clone(),
                    expected: expected.clone(),
                    found: found.clone(),
                }));
            }
        }
    }
    Ok(())
}

/// The versions of one tenant's plugin and which one is active: the approval
/// state machine. Versions are kept in upload order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginReleases {
    /// The plugin's name, for messages.
    plugin: String,
    /// Every uploaded version, in upload order.
    versions: Vec<UploadedVersion>,
    /// Indexes into `versions` of each activation, oldest first; the last one
    /// that is still active is the active version, and rollback walks back.
    activations: Vec<usize>,
}

impl PluginReleases {
    /// A plugin with no versions yet.
    pub fn new(plugin: impl Into<String>) -> Self {
        Self {
            plugin: plugin.into(),
            versions: Vec::new(),
            activations: Vec::new(),
        }
    }

    /// Every version, in upload order.
    pub fn versions(&self) -> &[UploadedVersion] {
        &self.versions
    }

    /// The version `version`, if uploaded.
    pub fn get(&self, version: &semver::Version) -> Option<&UploadedVersion> {
        self.versions.iter().find(|v| v.version == *version)
    }

    /// The active version, if any.
    pub fn active(&self) -> Option<&UploadedVersion> {
        self.active_index().map(|i| &self.versions[i])
    }

    fn active_index(&self) -> Option<usize> {
        self.versions
            .iter()
            .position(|v| v.state == ReleaseState::Active)
    }

    /// Records a checked upload: state uploaded. A version number is uploaded
    /// once; new bytes need a new number.
    pub fn upload(
        &mut self,
        version: semver::Version,
        component_digest: ComponentDigest,
        manifest_digest: ManifestDigest,
    ) -> Result<&UploadedVersion, ApprovalError> {
        if let Some(existing) = self.get(&version) {
            return Err(ApprovalError::AlreadyUploaded {
                plugin: self.plugin.clone(),
                version,
                component: existing.component_digest.to_string(),
                manifest: existing.manifest_digest.to_string(),
            });
        }
        self.versions.push(UploadedVersion {
            version,
            component_digest,
            manifest_digest,
            state: ReleaseState::Uploaded,
            approval: None,
        });
        Ok(self.versions.last().expect("just pushed"))
    }

    /// Records a reviewer's approval of `version`: uploaded → approved. The
    /// approval must name exactly the version's component and manifest digests.
    pub fn approve(
        &mut self,
        version: &semver::Version,
        approval: Approval,
    ) -> Result<&UploadedVersion, ApprovalError> {
        let plugin = self.plugin.clone();
        let index = self.index(version)?;
        let entry = &mut self.versions[index];
        if entry.state != ReleaseState::Uploaded {
            return Err(ApprovalError::WrongState {
                plugin,
                version: version.clone(),
                state: entry.state,
                action: "approval",
                needed: "uploaded (not yet approved or activated)",
            });
        }
        let mismatch = |what, approved: String, uploaded: String| ApprovalError::DigestMismatch {
            plugin: plugin.clone(),
            version: version.clone(),
            what,
            approved,
            uploaded,
        };
        if approval.component_digest != entry.component_digest {
            return Err(mismatch(
                DigestKind::Component,
                approval.component_digest.to_string(),
                entry.component_digest.to_string(),
            ));
        }
        if approval.manifest_digest != entry.manifest_digest {
            return Err(mismatch(
                DigestKind::Manifest,
                approval.manifest_digest.to_string(),
                entry.manifest_digest.to_string(),
            ));
        }
        entry.approval = Some(approval);
        entry.state = ReleaseState::Approved;
        Ok(entry)
    }

    /// Makes `version` the active one; the version that was active becomes
    /// superseded. `diff_from_active` is the diff from the active version to
    /// this one (`None` when no version is active). An uploaded version may
    /// become active directly only if that diff has no escalations; an
    /// approved one always may; a plugin's first version needs approval.
    pub fn activate(
        &mut self,
        version: &semver::Version,
        diff_from_active: Option<&ManifestDiff>,
    ) -> Result<&UploadedVersion, ApprovalError> {
        let index = self.index(version)?;
        let entry = &self.versions[index];
        if !matches!(entry.state, ReleaseState::Uploaded | ReleaseState::Approved) {
            return Err(ApprovalError::WrongState {
                plugin: self.plugin.clone(),
                version: version.clone(),
                state: entry.state,
                action: "activation",
                needed: "uploaded or approved (roll back to return to an earlier version)",
            });
        }
        let active = self.active_index();
        let wrong_diff = |needed: String, given: String| ApprovalError::WrongDiff {
            plugin: self.plugin.clone(),
            version: version.clone(),
            needed,
            given,
        };
        let needs_approval = match (active, diff_from_active) {
            (None, None) => {
                Some("is the plugin's first version, so every grant in it is new".to_owned())
            }
            (None, Some(diff)) => {
                return Err(wrong_diff(
                    "no diff, since no version is active".into(),
                    format!("a diff from {} was given", diff.old),
                ));
            }
            (Some(active), None) => {
                return Err(wrong_diff(
                    format!(
                        "the diff from active version {}",
                        self.versions[active].version
                    ),
                    "none was given".into(),
                ));
            }
            (Some(active), Some(diff)) => {
                let active_version = &self.versions[active].version;
                let right = diff.old.name == self.plugin
                    && diff.new.name == self.plugin
                    && diff.old.version == *active_version
                    && diff.new.version == *version;
                if !right {
                    return Err(wrong_diff(
                        format!(
                            "the diff from {} {active_version} to {} {version}",
                            self.plugin, self.plugin
                        ),
                        format!("the diff given is from {} to {}", diff.old, diff.new),
                    ));
                }
                let escalations: Vec<String> = diff
                    .escalations()
                    .map(|c| match c.escalation {
                        Some(e) => format!("{}: {}", c.item, e.label()),
                        None => c.item.clone(),
                    })
                    .collect();
                (!escalations.is_empty()).then(|| {
                    format!(
                        "asks for more than active version {active_version} ({})",
                        escalations.join(", ")
                    )
                })
            }
        };
        if let Some(why) = needs_approval
            && entry.state != ReleaseState::Approved
        {
            return Err(ApprovalError::NeedsApproval {
                plugin: self.plugin.clone(),
                version: version.clone(),
                why,
            });
        }
        if let Some(active) = active {
            self.versions[active].state = ReleaseState::Superseded;
        }
        self.versions[index].state = ReleaseState::Active;
        self.activations.push(index);
        Ok(&self.versions[index])
    }

    /// Rolls the active version back: it becomes rolled back, and the
    /// version it superseded becomes active again (it was approved or
    /// allowed when it was activated, so it needs nothing new).
    pub fn roll_back(&mut self) -> Result<&UploadedVersion, ApprovalError> {
        let no = |why: String| ApprovalError::NoRollBack {
            plugin: self.plugin.clone(),
            why,
        };
        let Some(active) = self.active_index() else {
            return Err(no(
                "no version is active, so there is nothing to roll back".into()
            ));
        };
        let previous = self
            .activations
            .iter()
            .rev()
            .copied()
            .find(|&i| self.versions[i].state == ReleaseState::Superseded);
        let Some(previous) = previous else {
            return Err(no(format!(
                "active version {} has no earlier active version to roll back to; activate another version instead",
                self.versions[active].version
            )));
        };
        self.versions[active].state = ReleaseState::RolledBack;
        self.versions[previous].state = ReleaseState::Active;
        self.activations.push(previous);
        Ok(&self.versions[previous])
    }

    fn index(&self, version: &semver::Version) -> Result<usize, ApprovalError> {
        self.versions
            .iter()
            .position(|v| v.version == *version)
            .ok_or_else(|| ApprovalError::NotUploaded {
                plugin: self.plugin.clone(),
                version: version.clone(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::component::ComponentInterface;
    use crate::manifest::diff;
    use crate::manifest::tests::{CALL_FLOW, manifest};

    fn v(text: &str) -> semver::Version {
        semver::Version::parse(text).unwrap()
    }

    fn digests(bytes: &str) -> (ComponentDigest, ManifestDigest) {
        (
            ComponentDigest::of(format!("component {bytes}").as_bytes()),
            ManifestDigest::of(format!("manifest {bytes}").as_bytes()),
        )
    }

    fn approval(bytes: &str) -> Approval {
        let (component_digest, manifest_digest) = digests(bytes);
        Approval {
            reviewer: "rita@tenant.example".into(),
            component_digest,
            manifest_digest,
            approved_at_ms: 1_700_000_000_000,
        }
    }

    fn upload(releases: &mut PluginReleases, version: &str, bytes: &str) {
        let (component, manifest) = digests(bytes);
        releases.upload(v(version), component, manifest).unwrap();
    }

    /// The diff from version `from` to version `to` of the appointment
    /// reminder; `extra` TOML is added to the new one.
    fn diff_between(from: &str, to: &str, extra: &str) -> ManifestDiff {
        let bin = ComponentInterface {
            imports: vec!["cally:plugin/log@0.1.0".into()],
            exports: vec!["on-event".into()],
        };
        let old = manifest(&CALL_FLOW.replace("0.1.0", from));
        let new = manifest(&format!("{}{extra}", CALL_FLOW.replace("0.1.0", to)));
        diff::diff((&old, &bin), (&new, &bin))
    }

    /// Version 1.0.0 uploaded, approved and active.
    fn released() -> PluginReleases {
        let mut releases = PluginReleases::new("appointment-reminder");
        upload(&mut releases, "1.0.0", "v1");
        releases.approve(&v("1.0.0"), approval("v1")).unwrap();
        releases.activate(&v("1.0.0"), None).unwrap();
        releases
    }

    #[test]
    fn uploaded_then_approved_then_active() {
        let releases = released();
        let active = releases.active().unwrap();
        assert_eq!(active.version, v("1.0.0"));
        assert_eq!(active.state(), ReleaseState::Active);
        assert_eq!(active.approval().unwrap().reviewer, "rita@tenant.example");
    }

    #[test]
    fn a_first_version_needs_approval() {
        let mut releases = PluginReleases::new("appointment-reminder");
        upload(&mut releases, "1.0.0", "v1");
        let err = releases.activate(&v("1.0.0"), None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "plugin appointment-reminder version 1.0.0 is the plugin's first version, so every grant in it is new; it needs a reviewer's approval of its digests before it can become active"
        );
        assert_eq!(
            releases.get(&v("1.0.0")).unwrap().state(),
            ReleaseState::Uploaded
        );
    }

    #[test]
    fn a_version_without_escalations_may_be_activated_directly() {
        let mut releases = released();
        upload(&mut releases, "1.0.1", "v1.0.1");
        let diff = diff_between("1.0.0", "1.0.1", "");
        assert!(!diff.has_escalations());
        releases.activate(&v("1.0.1"), Some(&diff)).unwrap();
        assert_eq!(releases.active().unwrap().version, v("1.0.1"));
        assert_eq!(
            releases.get(&v("1.0.0")).unwrap().state(),
            ReleaseState::Superseded
        );
    }

    #[test]
    fn a_version_with_escalations_waits_for_approval() {
        let mut releases = released();
        upload(&mut releases, "1.1.0", "v1.1");
        let diff = diff_between(
            "1.0.0",
            "1.1.0",
            "[[reads]]\nfield = \"phone\"\nreason = \"Reads the number back to confirm it.\"\n",
        );
        let err = releases.activate(&v("1.1.0"), Some(&diff)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "plugin appointment-reminder version 1.1.0 asks for more than active version 1.0.0 (reads.phone: new field); it needs a reviewer's approval of its digests before it can become active"
        );
        assert_eq!(releases.active().unwrap().version, v("1.0.0"));
        releases.approve(&v("1.1.0"), approval("v1.1")).unwrap();
        releases.activate(&v("1.1.0"), Some(&diff)).unwrap();
        assert_eq!(releases.active().unwrap().version, v("1.1.0"));
    }

    #[test]
    fn an_approval_for_one_digest_does_not_approve_another() {
        let mut releases = released();
        upload(&mut releases, "1.1.0", "v1.1 rebuilt");
        // The reviewer inspected other bytes (say, the build before a rebuild).
        let err = releases.approve(&v("1.1.0"), approval("v1.1")).unwrap_err();
        let (component, _) = digests("v1.1");
        let (uploaded, _) = digests("v1.1 rebuilt");
        assert_eq!(
            err.to_string(),
            format!(
                "the approval is for component {component}, but plugin appointment-reminder version 1.1.0 has component {uploaded}; an approval covers only the exact digests reviewed: inspect this version (cally manifest inspect) and approve its digests"
            )
        );
        // Same component, other manifest: also refused, naming the manifest.
        let mut mixed = approval("v1.1 rebuilt");
        mixed.manifest_digest = ManifestDigest::of(b"manifest v1.1");
        let err = releases.approve(&v("1.1.0"), mixed).unwrap_err();
        assert!(
            matches!(
                err,
                ApprovalError::DigestMismatch {
                    what: DigestKind::Manifest,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(
            releases.get(&v("1.1.0")).unwrap().state(),
            ReleaseState::Uploaded
        );
        // The approval of 1.0.0 does not carry over to 1.1.0 either.
        let diff = diff_between(
            "1.0.0",
            "1.1.0",
            "transcript = { reason = \"Summarises the call.\" }\n",
        );
        let err = releases.activate(&v("1.1.0"), Some(&diff)).unwrap_err();
        assert!(matches!(err, ApprovalError::NeedsApproval { .. }), "{err}");
    }

    #[test]
    fn a_version_number_is_uploaded_once() {
        let mut releases = released();
        let (component, manifest) = digests("v1 rebuilt");
        let err = releases
            .upload(v("1.0.0"), component, manifest)
            .unwrap_err();
        assert!(
            err.to_string().starts_with(
                "plugin appointment-reminder version 1.0.0 is already uploaded (component sha256:"
            ),
            "{err}"
        );
    }

    #[test]
    fn states_and_diffs_are_checked() {
        let mut releases = released();
        let err = releases.approve(&v("1.0.0"), approval("v1")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "plugin appointment-reminder version 1.0.0 is active; approval needs a version that is uploaded (not yet approved or activated)"
        );
        let err = releases.activate(&v("2.0.0"), None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "plugin appointment-reminder has no version 2.0.0; upload it first"
        );
        upload(&mut releases, "1.0.1", "v1.0.1");
        let err = releases.activate(&v("1.0.1"), None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "activating plugin appointment-reminder version 1.0.1 needs the diff from active version 1.0.0; none was given"
        );
        let stale = diff_between("0.9.0", "1.0.1", "");
        let err = releases.activate(&v("1.0.1"), Some(&stale)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "activating plugin appointment-reminder version 1.0.1 needs the diff from appointment-reminder 1.0.0 to appointment-reminder 1.0.1; the diff given is from appointment-reminder 0.9.0 to appointment-reminder 1.0.1"
        );
    }

    #[test]
    fn bytes_must_hash_to_every_digest_bound_at_upload_and_approval() {
        let (component, manifest) = digests("v1");
        let bound = |at: &str, bytes: &str| {
            let (c, m) = digests(bytes);
            BoundDigests {
                bound_at: at.into(),
                component: c.to_string(),
                manifest: m.to_string(),
            }
        };
        let approved = [bound("uploaded", "v1"), bound("approved by rita", "v1")];
        check_binding("p", &v("1.0.0"), &approved, &component, &manifest).unwrap();
        // The manifest was edited after approval (its upload digest edited to match).
        let (_, edited) = digests("v1 edited");
        let mut tampered = approved.clone();
        tampered[0].manifest = edited.to_string();
        let err = check_binding("p", &v("1.0.0"), &tampered, &component, &edited).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "plugin p version 1.0.0 is refused: its manifest digest was {manifest} when it was approved by rita, but the stored manifest now has digest {edited}; the bytes changed after review. Restore the reviewed bytes, or upload the new ones as a new version for review"
            )
        );
        assert_eq!(err.what, DigestKind::Manifest);
    }

    #[test]
    fn roll_back_returns_to_the_superseded_version() {
        let mut releases = released();
        let err = releases.roll_back().unwrap_err();
        assert_eq!(
            err.to_string(),
            "plugin appointment-reminder: active version 1.0.0 has no earlier active version to roll back to; activate another version instead"
        );
        upload(&mut releases, "1.0.1", "v1.0.1");
        releases
            .activate(&v("1.0.1"), Some(&diff_between("1.0.0", "1.0.1", "")))
            .unwrap();
        let back = releases.roll_back().unwrap();
        assert_eq!(back.version, v("1.0.0"));
        assert_eq!(
            releases.get(&v("1.0.1")).unwrap().state(),
            ReleaseState::RolledBack
        );
        let err = releases.activate(&v("1.0.1"), None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "plugin appointment-reminder version 1.0.1 is rolled back; activation needs a version that is uploaded or approved (roll back to return to an earlier version)"
        );
    }
}
