//! [`CallStore`](crate::store::CallStore)'s contract beyond the round trip in
//! `actions`: a call's result never outlives its lead's erasure.

use std::sync::Arc;

use serde_json::json;

use super::{NAME, zebulon};
use crate::store::{CallStart, Store, erased_call_result};

/// A call still running when its lead is erased ends with no result kept.
pub(crate) async fn a_call_ending_after_its_leads_erasure_keeps_no_result(store: Arc<dyn Store>) {
    store.upsert_lead(&zebulon("l-1")).await.unwrap();
    store
        .record_call_start(&CallStart {
            tenant: "acme".into(),
            call_id: "c-1".into(),
            plugin: "reads-data".into(),
            plugin_version: "1.0.0".into(),
            component_digest: "sha256:00".into(),
            lead_id: Some("l-1".into()),
            started_at_ms: 1_000,
        })
        .await
        .unwrap();
    store.erase_lead("acme", "l-1", 1_500).await.unwrap();
    store
        .record_call_end("acme", "c-1", 2_000, &json!({"said": NAME}))
        .await
        .unwrap();
    let call = store.call("acme", "c-1").await.unwrap().unwrap();
    assert_eq!(call.result, Some(erased_call_result()));
    assert_eq!(call.ended_at_ms, Some(2_000));
}
