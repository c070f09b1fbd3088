//! The store conformance suite: the contract of every store trait, written once
//! against `Arc<dyn Store>` and run on every backend. A backend is correct when it
//! passes all of it; a test here never reaches into one backend's tables or files
//! (those tests live with the backend: SQLite's file modes, WAL truncation and
//! hand-edited rows are in `sqlite/`).
//!
//! Each module covers one trait's contract, the error variants included:
//! `leads` ([`LeadStore`](super::LeadStore): leads, consents, the minor rule,
//! erasure), `actions` ([`TagStore`](super::TagStore) and
//! [`OutboxStore`](super::OutboxStore)), `calls`, `audit`, `keys`, `plugins` and
//! `retention`. Tests reach the store through the narrow trait object a caller
//! holds (`Arc<dyn LeadStore>`, ...), so dynamic dispatch through each trait is
//! exercised too.
//!
//! # Running it on a backend
//!
//! Implement [`Backend`] (open a fresh, empty store for one test; close it after)
//! and instantiate the suite in a test module of the backend:
//!
//! ```ignore
//! #[cfg(test)]
//! mod conformance_tests {
//!     struct SqliteFile { store: SqliteStore, _dir: tempfile::TempDir }
//!     impl Backend for SqliteFile { /* open, store, close */ }
//!     crate::store::conformance::store_conformance!(SqliteFile);
//! }
//! ```
//!
//! The macro writes one `#[tokio::test]` per contract test, named as here, so a
//! failure names the backend's module and the contract. A backend that needs a
//! server (PostgreSQL) reads its address from the environment in
//! [`Backend::open`] (`CALLY_TEST_POSTGRES_URL`), creates a fresh database per
//! test there and drops it in [`Backend::close`]; when the variable is unset it
//! prints that the test was skipped and returns `None`, so a plain `cargo test`
//! passes on a machine without the server.

use std::future::Future;
use std::sync::Arc;

use serde_json::json;

use super::{Lead, NewConsent, Store};
use crate::consent::{AgeStatus, Channel, Purpose};

pub(crate) mod actions;
pub(crate) mod audit;
pub(crate) mod calls;
pub(crate) mod keys;
pub(crate) mod leads;
pub(crate) mod plugins;
pub(crate) mod retention;

/// A store backend under test.
pub(crate) trait Backend: Sized {
    /// A fresh, empty store for the test named `test`, with whatever must live
    /// as long as it (a temporary directory, a database to drop); `None` skips
    /// the test, after printing why (the backend is not configured here).
    async fn open(test: &str) -> Option<Self>;

    /// The store under test.
    fn store(&self) -> Arc<dyn Store>;

    /// Releases the store after a test that passed (closes its connections,
    /// drops its database).
    async fn close(self);
}

/// Runs one contract test on a fresh store of `B`.
pub(crate) async fn run<B, F, Fut>(test: &str, body: F)
where
    B: Backend,
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(backend) = B::open(test).await else {
        return;
    };
    body(backend.store()).await;
    backend.close().await;
}

/// One `#[tokio::test]` per contract test, for the backend type given.
macro_rules! store_conformance {
    ($backend:ty) => {
        $crate::store::conformance::store_conformance!(@tests $backend;
            leads::leads_round_trip_and_are_per_tenant,
            leads::updates_write_only_the_named_fields,
            leads::a_lead_import_is_all_or_nothing,
            leads::consents_are_granted_withdrawn_once_and_checked,
            leads::a_snapshot_shows_every_committed_write,
            leads::a_minor_written_without_parental_consent_is_erased_in_the_same_write,
            leads::erasure_clears_personal_data_and_is_final,
            leads::erasure_redacts_every_call_result_quoting_the_lead,
            leads::unknown_age_leads_are_counted_and_named,
            actions::tags_messages_and_calls,
            actions::a_message_status_records_its_address,
            calls::a_call_ending_after_its_leads_erasure_keeps_no_result,
            audit::a_batch_continues_each_tenants_chain_and_moves_its_head,
            audit::audit_records_are_filtered_and_per_tenant,
            keys::tenants_and_keys_are_created_listed_and_revoked,
            plugins::api_keys_plugin_versions_and_release_events_round_trip,
            retention::purge_removes_only_what_is_older_and_only_of_its_tenant,
            retention::policies_are_replaced_and_listed_and_unended_calls_purged,
        );
    };
    (@tests $backend:ty; $($module:ident :: $test:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $test() {
                $crate::store::conformance::run::<$backend, _, _>(
                    stringify!($test),
                    $crate::store::conformance::$module::$test,
                )
                .await;
            }
        )*
    };
}
pub(crate) use store_conformance;

/// A lead of `tenant` with every personal field set, an adult.
pub(crate) fn lead(tenant: &str, id: &str) -> Lead {
    Lead {
        name: Some("Ada Lovelace".into()),
        phone: Some("+44 20 7946 0000".into()),
        email: Some("ada@example.org".into()),
        location: Some("London".into()),
        language: Some("en".into()),
        preferences: Some(
            json!({"preferred_time": "mornings"})
                .as_object()
                .cloned()
                .unwrap(),
        ),
        age: AgeStatus::Adult,
        ..Lead::new(tenant, id)
    }
}

/// A consent granted at 1 000 ms, expiring at 9 000 ms.
pub(crate) fn consent(
    tenant: &str,
    lead_id: &str,
    purpose: Purpose,
    channel: Option<Channel>,
) -> NewConsent {
    NewConsent {
        tenant: tenant.into(),
        lead_id: lead_id.into(),
        purpose,
        channel,
        granted_at_ms: 1_000,
        expires_at_ms: Some(9_000),
        source: "web-form".into(),
        evidence: "form-17".into(),
        parental: false,
    }
}

/// Identifying values an erasure must leave nowhere.
pub(crate) const NAME: &str = "Zebulon Quaxworth";
/// See [`NAME`].
pub(crate) const PHONE: &str = "+15557319024";
/// See [`NAME`].
pub(crate) const EMAIL: &str = "zq.probe@erasure.example";

/// A lead of tenant `acme` holding [`NAME`], [`PHONE`] and [`EMAIL`].
pub(crate) fn zebulon(id: &str) -> Lead {
    Lead {
        name: Some(NAME.into()),
        phone: Some(PHONE.into()),
        email: Some(EMAIL.into()),
        age: AgeStatus::Adult,
        ..Lead::new("acme", id)
    }
}
