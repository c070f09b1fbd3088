//! Helpers shared by the end-to-end tests.

use std::sync::Arc;

use cally_host::component::{CompiledPlugin, ComponentCache};
use cally_host::protocol::{Action, CallEvent, CallStarted, Direction, EndReason};
use cally_host::sandbox::{Sandbox, SandboxConfig};
use cally_host::session::{CallOptions, EventOutcome, FlowInstance};

/// A sandbox with a small pool: tests run many sandboxes side by side.
pub fn sandbox() -> Arc<Sandbox> {
    Sandbox::new(SandboxConfig {
        max_concurrent_calls: 128,
        ..SandboxConfig::default()
    })
    .expect("sandbox")
}

/// A cache without artifacts on disk, over a fresh sandbox.
pub fn cache() -> ComponentCache {
    ComponentCache::new(sandbox(), None)
}

/// Loads one of the test plugins from `tests/plugins`.
pub fn test_plugin(cache: &ComponentCache, name: &str) -> Arc<CompiledPlugin> {
    cache
        .load_file(cally_tests::plugin(name))
        .unwrap_or_else(|e| panic!("loading test plugin {name}: {e}"))
}

/// Loads one of the examples.
pub fn example(cache: &ComponentCache, name: &str) -> Arc<CompiledPlugin> {
    cache
        .load_file(cally_tests::example(name))
        .unwrap_or_else(|e| panic!("loading example {name}: {e}"))
}

/// Default options for a call.
pub fn options(cache: &ComponentCache) -> CallOptions {
    CallOptions::new(cache.sandbox().config().default_limits)
}

/// Starts a call of `plugin`.
pub async fn start(cache: &ComponentCache, plugin: &CompiledPlugin) -> FlowInstance {
    FlowInstance::start(cache.sandbox().clone(), plugin, options(cache))
        .await
        .expect("call-flow plugin")
}

/// A `started` event.
pub fn started(call_id: &str) -> CallEvent {
    CallEvent::Started(CallStarted {
        call_id: call_id.into(),
        direction: Direction::Outbound,
        campaign: Some("spring-checkups".into()),
        started_at_ms: None,
        locale: "en-US".into(),
    })
}

/// A final `speech` event with high confidence.
pub fn speech(text: &str) -> CallEvent {
    CallEvent::Speech {
        text: text.into(),
        confidence: 0.95,
        is_final: true,
    }
}

/// A `digits` event.
pub fn digits(keys: &str) -> CallEvent {
    CallEvent::Digits {
        digits: keys.into(),
    }
}

/// An `ended` event.
pub fn ended() -> CallEvent {
    CallEvent::Ended {
        reason: EndReason::CallerHungUp,
    }
}

/// The texts of the `say` actions in an outcome.
pub fn said(outcome: &EventOutcome) -> Vec<String> {
    outcome
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Say { text } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

/// Runs a well-behaved call to its end and checks every answer, so hostile
/// tests can show that a neighbour's failure never touches it.
pub async fn well_behaved_call(cache: &ComponentCache, call_id: &str) {
    let plugin = test_plugin(cache, "well-behaved");
    let mut call = start(cache, &plugin).await;
    let first = call.handle(&started(call_id)).await;
    assert_eq!(said(&first), ["started"], "{first:?}");
    for turn in 0..20 {
        let outcome = call.handle(&speech(&format!("turn {turn}"))).await;
        assert!(outcome.failure.is_none(), "{outcome:?}");
        assert_eq!(said(&outcome), [format!("speech:turn {turn}")]);
    }
    let last = call.handle(&ended()).await;
    assert!(last.failure.is_none());
    assert!(call.finish().failure.is_none());
}
