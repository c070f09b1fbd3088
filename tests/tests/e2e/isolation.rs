//! Two calls of the same plugin never see each other's memory: state a plugin
//! keeps across events lives within one call and starts clean in the next.

use crate::common::*;

#[tokio::test]
async fn state_is_kept_within_a_call_and_starts_clean_in_the_next() {
    let cache = cache();
    let plugin = test_plugin(&cache, "stateful-counter");
    for call_number in 0..3 {
        let mut call = start(&cache, &plugin).await;
        for expected in 1..=4 {
            let event = if expected == 1 {
                started(&format!("call-{call_number}"))
            } else {
                speech("again")
            };
            let outcome = call.handle(&event).await;
            assert_eq!(
                said(&outcome),
                [format!("count={expected} global={expected}")],
                "call {call_number}, event {expected}"
            );
        }
    }
}

#[tokio::test]
async fn interleaved_calls_keep_separate_state() {
    let cache = cache();
    let plugin = test_plugin(&cache, "stateful-counter");
    let mut first = start(&cache, &plugin).await;
    let mut second = start(&cache, &plugin).await;
    first.handle(&started("a")).await;
    first.handle(&speech("x")).await;
    first.handle(&speech("x")).await;
    let outcome = second.handle(&started("b")).await;
    assert_eq!(said(&outcome), ["count=1 global=1"]);
    let outcome = first.handle(&speech("x")).await;
    assert_eq!(said(&outcome), ["count=4 global=4"]);
}
