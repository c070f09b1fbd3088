//! Answers `started`, then loops forever on the caller's first words: the
//! per-event deadline must stop it.

use core::hint::black_box;

use cally_sdk::{Action, CallEvent, CallFlow};

#[derive(Default)]
struct InfiniteLoop;

impl CallFlow for InfiniteLoop {
    fn on_event(&mut self, event: CallEvent) -> Vec<Action> {
        match event {
            CallEvent::Speech(_) => spin(),
            _ => vec![Action::say("ready")],
        }
    }
}

/// Never returns. The volatile counter is a side effect the optimiser must keep.
fn spin() -> ! {
    let mut counter = 0u64;
    loop {
        // SAFETY: `counter` is a live local; volatile access just keeps the loop.
        unsafe { core::ptr::write_volatile(&mut counter, black_box(counter).wrapping_add(1)) };
    }
}

cally_sdk::export_call_flow!(InfiniteLoop);
