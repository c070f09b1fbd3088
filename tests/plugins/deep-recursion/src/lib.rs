//! Answers `started`, then on the caller's first words recurses without
//! bound: the wasm stack limit must stop it.

use core::hint::black_box;

use cally_sdk::{Action, CallEvent, CallFlow};

#[derive(Default)]
struct DeepRecursion;

impl CallFlow for DeepRecursion {
    fn on_event(&mut self, event: CallEvent) -> Vec<Action> {
        match event {
            CallEvent::Speech(_) => vec![Action::say(format!("depth {}", dive(0)))],
            _ => vec![Action::say("ready")],
        }
    }
}

/// Recurses until the stack runs out. The base case is opaque to the
/// optimiser and never true; the work after the call keeps it from being a
/// tail call, and `inline(never)` keeps every level a real call.
#[inline(never)]
fn dive(depth: u64) -> u64 {
    if black_box(depth) == u64::MAX {
        return depth;
    }
    let below = dive(black_box(depth + 1));
    black_box(below).wrapping_add(depth)
}

cally_sdk::export_call_flow!(DeepRecursion);
