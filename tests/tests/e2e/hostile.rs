//! Hostile plugins: each misbehaves on the caller's first words. Each must end
//! only its own call, with the fallback and the reason named, while a
//! well-behaved call running at the same time finishes normally.

use std::time::Duration;

use cally_host::component::ComponentError;
use cally_host::protocol::Action;
use cally_host::session::{FlowInstance, PluginFailure, default_fallback};

use crate::common::*;

/// The platform's longest deadline: tests of the other limits use it so that
/// the limit under test, not the clock of a busy test machine, stops the plugin.
const LONGEST_DEADLINE: Duration = Duration::from_millis(200);

/// Starts the hostile plugin `name` with `deadline`, sends `started` then a
/// speech event that triggers it, while a well-behaved call runs alongside;
/// returns the failure and the event's log.
async fn contained_failure(name: &str, deadline: Duration) -> (PluginFailure, Vec<String>) {
    let cache = cache();
    let plugin = test_plugin(&cache, name);
    let mut options = options(&cache);
    options.limits.event_deadline = deadline;
    let hostile = async {
        let mut call = FlowInstance::start(cache.sandbox().clone(), &plugin, options)
            .await
            .unwrap();
        let first = call.handle(&started("hostile-call")).await;
        assert!(
            first.failure.is_none(),
            "{name} must start normally: {first:?}"
        );
        let outcome = call.handle(&speech("trigger")).await;
        let failure = outcome
            .failure
            .clone()
            .unwrap_or_else(|| panic!("{name} was not stopped: {outcome:?}"));
        assert_eq!(
            outcome.actions,
            default_fallback(),
            "{name}: the fallback is performed"
        );
        assert!(!call.is_running(), "{name}: the failed instance is dropped");
        // Later events of the failed call get no further actions.
        let after = call.handle(&speech("anyone there?")).await;
        assert!(after.actions.is_empty() && after.failure.is_none());
        let record = call.finish();
        assert_eq!(record.failure.as_ref(), Some(&failure));
        let log = outcome
            .log
            .iter()
            .map(|l| l.message.clone())
            .collect::<Vec<_>>();
        (failure, log)
    };
    let (result, ()) = tokio::join!(hostile, well_behaved_call(&cache, "neighbour-call"));
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_infinite_loop_hits_the_deadline() {
    let (failure, _) = contained_failure("infinite-loop", Duration::from_millis(20)).await;
    assert_eq!(failure, PluginFailure::DeadlineExceeded { deadline_ms: 20 });
    assert_eq!(
        failure.to_string(),
        "plugin exceeded its deadline of 20 ms for one event"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_bomb_hits_the_memory_limit() {
    let (failure, _) = contained_failure("memory-bomb", LONGEST_DEADLINE).await;
    match failure {
        PluginFailure::MemoryExhausted {
            requested_bytes,
            limit_bytes,
        } => {
            assert_eq!(limit_bytes, 16 << 20);
            assert!(requested_bytes > limit_bytes);
        }
        other => panic!("expected memory exhaustion, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_recursion_overflows_the_stack() {
    let (failure, _) = contained_failure("deep-recursion", LONGEST_DEADLINE).await;
    assert!(
        matches!(failure, PluginFailure::StackOverflow { .. }),
        "expected a stack overflow, got {failure:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_is_a_trap_with_the_panic_message() {
    let (failure, log) = contained_failure("panic", LONGEST_DEADLINE).await;
    let PluginFailure::Trap { message } = &failure else {
        panic!("expected a trap, got {failure:?}");
    };
    assert!(message.contains("unreachable"), "{message}");
    assert!(
        log.iter()
            .any(|line| line.contains("plugin bug: unexpected input")),
        "the panic message reaches the call's log: {log:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_actions_are_invalid_output() {
    let (failure, _) = contained_failure("action-flood", LONGEST_DEADLINE).await;
    assert_eq!(
        failure.to_string(),
        "plugin returned invalid output: returned 100000 actions for one event, but the limit is 32"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_megabyte_string_is_invalid_output() {
    let (failure, _) = contained_failure("huge-string", LONGEST_DEADLINE).await;
    assert_eq!(
        failure.to_string(),
        "plugin returned invalid output: say.text is 10000000 bytes long, but the limit is 4096 bytes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_sees_no_environment_no_arguments_and_a_frozen_clock() {
    let cache = cache();
    let plugin = test_plugin(&cache, "reads-env");
    let mut options = options(&cache);
    options.clock_ms = 1_700_000_000_000;
    let mut call =
        cally_host::session::FlowInstance::start(cache.sandbox().clone(), &plugin, options)
            .await
            .unwrap();
    let outcome = call.handle(&started("env-call")).await;
    assert!(outcome.failure.is_none(), "{outcome:?}");
    let said = said(&outcome);
    assert_eq!(said[0], "env=[] args=[]", "{said:?}");
    assert!(
        said[1].contains("1700000000000"),
        "the clock is frozen at the call's start: {said:?}"
    );
    let log: Vec<_> = outcome.log.iter().map(|l| l.message.as_str()).collect();
    assert!(
        log.contains(&"stdout-marker"),
        "stdout reaches the call's log: {log:?}"
    );
    assert!(
        log.iter().any(|l| l.contains("stderr-marker")),
        "stderr reaches the call's log: {log:?}"
    );
}

/// Loading a component whose imports the host does not provide fails before
/// any call, naming the import.
fn refused_import(name: &str) -> String {
    let cache = cache();
    match cache.load_file(cally_tests::plugin(name)) {
        Err(ComponentError::UnsupportedImports { imports }) => imports.join(" "),
        Err(other) => panic!("{name}: expected an unsupported import, got {other}"),
        Ok(_) => panic!("{name} must be refused"),
    }
}

#[test]
fn a_plugin_that_opens_files_is_refused_naming_the_filesystem_import() {
    let imports = refused_import("opens-file");
    assert!(imports.contains("wasi:filesystem/"), "{imports}");
}

#[test]
fn a_plugin_that_opens_sockets_is_refused_naming_the_sockets_import() {
    let imports = refused_import("opens-socket");
    assert!(imports.contains("wasi:sockets/tcp"), "{imports}");
}

#[test]
fn a_plugin_importing_an_unknown_interface_is_refused_by_name() {
    let imports = refused_import("undeclared-import");
    assert!(imports.starts_with("evil:vault/secrets"), "{imports}");
    let message = ComponentError::UnsupportedImports {
        imports: vec![imports],
    }
    .to_string();
    assert!(
        message.contains("which Cally does not provide to plugins"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flooding_stdout_is_cut_short_not_fatal() {
    let cache = cache();
    let plugin = test_plugin(&cache, "stdout-flood");
    let mut options = options(&cache);
    options.limits.event_deadline = LONGEST_DEADLINE;
    let mut call = FlowInstance::start(cache.sandbox().clone(), &plugin, options)
        .await
        .unwrap();
    call.handle(&started("flood-call")).await;
    let outcome = call.handle(&speech("go")).await;
    assert!(outcome.failure.is_none(), "{:?}", outcome.failure);
    assert_eq!(outcome.actions, vec![Action::say("printed")]);
    let kept: usize = outcome.log.iter().map(|l| l.message.len()).sum();
    let limit = cache.sandbox().config().max_log_bytes_per_call;
    assert!(
        kept <= limit + 200,
        "kept {kept} bytes of a {limit}-byte log"
    );
    assert!(
        outcome
            .log
            .iter()
            .any(|l| l.message.starts_with("output truncated")),
        "the truncation is noted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_that_cannot_even_start_gets_the_fallback_on_its_first_event() {
    let cache = cache();
    let plugin = test_plugin(&cache, "well-behaved");
    let mut options = options(&cache);
    // Smaller than the initial memory every Rust component asks for.
    options.limits.memory_bytes = 1 << 20;
    let mut call =
        cally_host::session::FlowInstance::start(cache.sandbox().clone(), &plugin, options)
            .await
            .unwrap();
    let outcome = call.handle(&started("tiny-call")).await;
    assert_eq!(outcome.actions, default_fallback());
    assert!(
        matches!(outcome.failure, Some(PluginFailure::MemoryExhausted { limit_bytes, .. }) if limit_bytes == 1 << 20),
        "{outcome:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_hostile_calls_at_once_leave_the_well_behaved_ones_alone() {
    let cache = std::sync::Arc::new(cache());
    let names = [
        "infinite-loop",
        "memory-bomb",
        "deep-recursion",
        "panic",
        "action-flood",
    ];
    let mut hostile = tokio::task::JoinSet::new();
    for round in 0..4 {
        for name in names {
            let cache = cache.clone();
            hostile.spawn(async move {
                let plugin = test_plugin(&cache, name);
                let mut call = start(&cache, &plugin).await;
                call.handle(&started(&format!("{name}-{round}"))).await;
                call.handle(&speech("trigger")).await.failure
            });
        }
    }
    let mut neighbours = tokio::task::JoinSet::new();
    for i in 0..10 {
        let cache = cache.clone();
        neighbours.spawn(async move { well_behaved_call(&cache, &format!("neighbour-{i}")).await });
    }
    let mut stopped = 0;
    while let Some(failure) = hostile.join_next().await {
        assert!(
            failure.expect("hostile task").is_some(),
            "every hostile call is stopped"
        );
        stopped += 1;
    }
    assert_eq!(stopped, 20);
    while let Some(result) = neighbours.join_next().await {
        result.expect("every well-behaved call finishes normally");
    }
}
