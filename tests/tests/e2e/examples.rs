//! Each example plugin plays scripted calls through the real sandbox and the
//! expected actions come back.

use cally_host::protocol::{Action, CallEvent, CallSummary, Direction, EndReason};
use cally_host::session::TaggerRun;
use cally_host::simulate::{self, CallScript};

use crate::common::*;

fn kinds(actions: &[Action]) -> Vec<&'static str> {
    actions.iter().map(Action::kind).collect()
}

fn disposition(actions: &[Action]) -> Option<&str> {
    actions.iter().find_map(|a| match a {
        Action::SetDisposition { disposition } => Some(disposition.as_str()),
        _ => None,
    })
}

#[tokio::test]
async fn appointment_reminder_confirms_on_yes() {
    let cache = cache();
    let plugin = example(&cache, "appointment-reminder");
    let mut call = start(&cache, &plugin).await;
    let greeting = call.handle(&started("reminder-1")).await;
    assert!(kinds(&greeting.actions).contains(&"gather"), "{greeting:?}");
    let partial = call
        .handle(&CallEvent::Speech {
            text: "ye".into(),
            confidence: 0.4,
            is_final: false,
        })
        .await;
    assert!(
        partial.actions.is_empty(),
        "partial speech gets no actions: {partial:?}"
    );
    let answer = call.handle(&speech("yes, that works")).await;
    assert_eq!(
        disposition(&answer.actions),
        Some("confirmed"),
        "{answer:?}"
    );
    assert_eq!(answer.actions.last(), Some(&Action::HangUp));
}

#[tokio::test]
async fn appointment_reminder_reschedules_on_two() {
    let cache = cache();
    let plugin = example(&cache, "appointment-reminder");
    let mut call = start(&cache, &plugin).await;
    call.handle(&started("reminder-2")).await;
    let answer = call.handle(&digits("2")).await;
    assert_eq!(
        disposition(&answer.actions),
        Some("rescheduled"),
        "{answer:?}"
    );
    assert!(
        answer.actions.iter().any(|a| matches!(
            a,
            Action::ScheduleCallback { reason, .. } if reason == "asked-to-reschedule"
        )),
        "{answer:?}"
    );
    assert_eq!(answer.actions.last(), Some(&Action::HangUp));
}

#[tokio::test]
async fn appointment_reminder_gives_up_politely_after_retries() {
    let cache = cache();
    let plugin = example(&cache, "appointment-reminder");
    let mut call = start(&cache, &plugin).await;
    call.handle(&started("reminder-3")).await;
    let mut last = Vec::new();
    for _ in 0..3 {
        last = call.handle(&speech("what is this about")).await.actions;
        if last.contains(&Action::HangUp) {
            break;
        }
        assert!(kinds(&last).contains(&"gather"), "asks again: {last:?}");
    }
    assert_eq!(disposition(&last), Some("no-answer"), "{last:?}");
    assert_eq!(last.last(), Some(&Action::HangUp));
}

#[tokio::test]
async fn support_router_routes_by_what_the_caller_says() {
    let cache = cache();
    let plugin = example(&cache, "support-router");
    for (words, target) in [
        ("there is a problem with my bill", "billing-desk"),
        ("my internet is not working", "tech-support"),
        ("I want to buy a new plan", "sales-team"),
    ] {
        let mut call = start(&cache, &plugin).await;
        call.handle(&started("router-1")).await;
        let outcome = call.handle(&speech(words)).await;
        assert!(
            outcome.actions.contains(&Action::Transfer {
                target: target.into()
            }),
            "{words:?} should reach {target}: {outcome:?}"
        );
    }
}

#[tokio::test]
async fn support_router_handles_keypad_silence_and_interruptions() {
    let cache = cache();
    let plugin = example(&cache, "support-router");
    let mut call = start(&cache, &plugin).await;
    call.handle(&started("router-2")).await;
    let interrupted = call.handle(&CallEvent::Interrupted).await;
    assert!(
        interrupted
            .actions
            .iter()
            .any(|a| matches!(a, Action::Gather { prompt: None, .. })),
        "an interruption stops talking and listens: {interrupted:?}"
    );
    let menu = call.handle(&digits("2")).await;
    assert!(menu.actions.contains(&Action::Transfer {
        target: "tech-support".into()
    }));

    let mut quiet = start(&cache, &plugin).await;
    quiet.handle(&started("router-3")).await;
    let first = quiet.handle(&CallEvent::Silence { ms: 5000 }).await;
    assert!(
        kinds(&first.actions).contains(&"gather"),
        "re-prompts once: {first:?}"
    );
    let second = quiet.handle(&CallEvent::Silence { ms: 5000 }).await;
    assert!(second.actions.contains(&Action::Transfer {
        target: "front-desk".into()
    }));
}

#[tokio::test]
async fn lead_qualifier_tags_from_the_call_summary() {
    let cache = cache();
    let plugin = example(&cache, "lead-qualifier");
    let summary = CallSummary {
        call_id: "call-1".into(),
        direction: Direction::Outbound,
        campaign: Some("spring-checkups".into()),
        duration_ms: 95_000,
        end_reason: EndReason::FlowHungUp,
        disposition: Some("confirmed".into()),
        digits: vec!["1".into()],
        event_count: 4,
    };
    let outcome = TaggerRun::run(cache.sandbox().clone(), &plugin, &options(&cache), &summary)
        .await
        .unwrap();
    assert!(outcome.failure.is_none(), "{outcome:?}");
    for tag in ["engaged", "confirmed-appointment", "pressed-keys"] {
        assert!(
            outcome.tags.iter().any(|t| t == tag),
            "missing {tag}: {:?}",
            outcome.tags
        );
    }
    let unreachable = CallSummary {
        end_reason: EndReason::NotConnected,
        duration_ms: 0,
        disposition: None,
        digits: vec![],
        ..summary
    };
    let outcome = TaggerRun::run(
        cache.sandbox().clone(),
        &plugin,
        &options(&cache),
        &unreachable,
    )
    .await
    .unwrap();
    assert_eq!(outcome.tags, ["unreachable"]);
}

#[tokio::test]
async fn every_call_flow_example_plays_its_sample_script_without_failing() {
    let cache = cache();
    for name in ["appointment-reminder", "support-router"] {
        let plugin = example(&cache, name);
        let path = cally_tests::example_dir(name).join("call.json");
        let text = std::fs::read_to_string(&path).unwrap();
        let script = CallScript::parse(&text, &path.display().to_string()).unwrap();
        let trace = simulate::run_call(cache.sandbox().clone(), &plugin, &script, options(&cache))
            .await
            .unwrap();
        assert!(trace.failure.is_none(), "{name}: {:?}", trace.failure);
        let actions: Vec<_> = trace
            .steps
            .iter()
            .flat_map(|s| s.outcome.actions.clone())
            .collect();
        assert!(
            actions.contains(&Action::HangUp) || actions.iter().any(|a| a.kind() == "transfer"),
            "{name}'s sample call ends with a hang-up or a transfer: {actions:?}"
        );
    }
}
