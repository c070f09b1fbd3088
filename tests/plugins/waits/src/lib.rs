//! A plugin that tries to hold on to its call's instance, and one that is
//! slow for a known amount of work. On `started` it says `ready`; each
//! `speech` event is one command:
//!
//! | command        | what it does                                                  | says    |
//! |----------------|---------------------------------------------------------------|---------|
//! | `sleep <secs>` | sleeps through WASI (a monotonic-clock timer and a poll)      | `woke`  |
//! | `sleep-loop`   | sleeps one second at a time, forever                          | never   |
//! | `spin <n>`     | `n` rounds of work the optimiser must keep                    | `spun`  |
//! | `flood <n>`    | reads the lead's name `n` times, one host call each           | `read <k>`, `k` released |

use core::hint::black_box;
use std::time::Duration;

use cally_sdk::personal_data::{Field, Lead};
use cally_sdk::{Action, CallEvent, CallFlow};

#[derive(Default)]
struct Waits;

impl CallFlow for Waits {
    fn on_event(&mut self, event: CallEvent) -> Vec<Action> {
        match event {
            CallEvent::Started(_) => vec![Action::say("ready")],
            CallEvent::Speech(speech) => run(&speech.text),
            _ => Vec::new(),
        }
    }
}

fn run(command: &str) -> Vec<Action> {
    let words: Vec<&str> = command.split_whitespace().collect();
    match words.as_slice() {
        ["sleep", secs] => {
            std::thread::sleep(Duration::from_secs(secs.parse().unwrap_or(1)));
            vec![Action::say("woke")]
        }
        ["sleep-loop"] => loop {
            std::thread::sleep(Duration::from_secs(1));
        },
        ["spin", rounds] => {
            spin(rounds.parse().unwrap_or(0));
            vec![Action::say("spun")]
        }
        ["flood", reads] => {
            let reads: u32 = reads.parse().unwrap_or(0);
            let released = match Lead::current() {
                None => 0,
                Some(lead) => (0..reads).filter(|_| lead.get(Field::Name).is_ok()).count(),
            };
            vec![Action::say(format!("read {released}"))]
        }
        _ => vec![Action::say("bad command")],
    }
}

/// `rounds` rounds of work; the volatile write is a side effect the
/// optimiser must keep.
fn spin(rounds: u64) {
    let mut counter = 0u64;
    for _ in 0..rounds {
        // SAFETY: `counter` is a live local; volatile access just keeps the loop.
        unsafe { core::ptr::write_volatile(&mut counter, black_box(counter).wrapping_add(1)) };
    }
}

cally_sdk::export_call_flow!(Waits);
