//! One task per call: events reach the plugin in order, the call's record
//! comes back at the end, and an idle call is freed.

use std::time::Duration;

use cally_host::session::{CallSession, FlowInstance, SessionClosed};

use crate::common::*;

#[tokio::test]
async fn a_session_feeds_events_in_order_and_returns_the_record() {
    let cache = cache();
    let plugin = test_plugin(&cache, "stateful-counter");
    let instance = FlowInstance::start(cache.sandbox().clone(), &plugin, options(&cache))
        .await
        .unwrap();
    let session = CallSession::spawn(instance, Duration::from_secs(30));
    let outcome = session.event(started("session-call")).await.unwrap();
    assert_eq!(said(&outcome), ["count=1 global=1"]);
    // Events sent concurrently through clones still reach the plugin one at a time.
    let other = session.clone();
    let (a, b) = tokio::join!(session.event(speech("a")), other.event(digits("1")));
    let mut counts = vec![said(&a.unwrap())[0].clone(), said(&b.unwrap())[0].clone()];
    counts.sort();
    assert_eq!(counts, ["count=2 global=2", "count=3 global=3"]);
    let record = session.finish().await.unwrap();
    assert_eq!(record.events, 3);
    assert_eq!(record.digits, ["1"]);
    assert!(record.failure.is_none());
    assert_eq!(
        session.event(speech("late")).await.unwrap_err(),
        SessionClosed
    );
}

#[tokio::test]
async fn an_idle_call_is_freed() {
    let cache = cache();
    let plugin = test_plugin(&cache, "well-behaved");
    let instance = FlowInstance::start(cache.sandbox().clone(), &plugin, options(&cache))
        .await
        .unwrap();
    let session = CallSession::spawn(instance, Duration::from_millis(50));
    session.event(started("idle-call")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        session.event(speech("hello?")).await.unwrap_err(),
        SessionClosed
    );
}

#[tokio::test]
async fn a_lead_tagger_cannot_be_started_as_a_call_flow() {
    let cache = cache();
    let plugin = example(&cache, "lead-qualifier");
    let error = FlowInstance::start(cache.sandbox().clone(), &plugin, options(&cache))
        .await
        .err()
        .expect("a lead tagger is not a call flow");
    assert_eq!(
        error.to_string(),
        "component targets world lead-tagger, but call-flow was expected"
    );
}
