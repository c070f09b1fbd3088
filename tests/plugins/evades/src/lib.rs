//! A plugin that tries to spend time its per-event deadline does not count,
//! or to wait, through WASI and host calls rather than through timers. On
//! `started` it says `ready`; each `speech` event is one command:
//!
//! | command              | what it does                                                           | says     |
//! |----------------------|------------------------------------------------------------------------|----------|
//! | `random <kib> <n>`   | `n` times: an empty `get-many` (a host call), then `get-random-bytes` of `kib` KiB | `done`   |
//! | `log <kib> <n>`      | `n` times: an empty `get-many`, then one log line of `kib` KiB           | `done`   |
//! | `poll <n> <rounds>`  | `rounds` times: an empty `get-many`, then `poll` on a list of `n` copies of stdin's pollable | `done`   |
//! | `pref <kib> <n>`     | `n` reads of a preference whose key is `kib` KiB long                  | `pref <k>`, `k` answered |
//! | `stdin-read`         | `blocking-read` on stdin                                               | `read <k>` or `closed` |
//! | `stdin-poll`         | subscribes to stdin and polls it                                       | `ready`  |
//! | `stdout-block <n>`   | `n` times `blocking-write-and-flush` of 4 KiB to stdout                | `done`   |
//!
//! Without a lead (no data gate) the `get-many` is skipped: only the event's
//! first stretch of code is then new.

use cally_sdk::personal_data::Lead;
use cally_sdk::{Action, CallEvent, CallFlow};
use wasip2::cli::{stdin, stdout};
use wasip2::io::poll;
use wasip2::random::random;

#[derive(Default)]
struct Evades;

impl CallFlow for Evades {
    fn on_event(&mut self, event: CallEvent) -> Vec<Action> {
        match event {
            CallEvent::Started(_) => vec![Action::say("ready")],
            CallEvent::Speech(speech) => vec![Action::say(run(&speech.text))],
            _ => Vec::new(),
        }
    }
}

fn number(word: &str) -> u64 {
    word.parse().unwrap_or(0)
}

/// A host call that ends the current stretch of plugin code, when there is
/// a lead to call on.
fn new_segment(lead: &Option<Lead>) {
    if let Some(lead) = lead {
        let _ = lead.get_many(&[]);
    }
}

fn run(command: &str) -> String {
    let words: Vec<&str> = command.split_whitespace().collect();
    let lead = Lead::current();
    match words.as_slice() {
        ["random", kib, times] => {
            let mut sum = 0u64;
            for _ in 0..number(times) {
                new_segment(&lead);
                let bytes = random::get_random_bytes(number(kib) * 1024);
                sum = sum.wrapping_add(bytes.len() as u64);
            }
            core::hint::black_box(sum);
            "done".into()
        }
        ["log", kib, times] => {
            let line = "x".repeat((number(kib) * 1024) as usize);
            for _ in 0..number(times) {
                new_segment(&lead);
                cally_sdk::log::info(&line);
            }
            "done".into()
        }
        ["poll", copies, rounds] => {
            let input = stdin::get_stdin();
            let pollable = input.subscribe();
            let list: Vec<&poll::Pollable> = (0..number(copies)).map(|_| &pollable).collect();
            for _ in 0..number(rounds) {
                new_segment(&lead);
                core::hint::black_box(poll::poll(&list));
            }
            drop(list);
            drop(pollable);
            "done".into()
        }
        ["pref", kib, times] => {
            let key = "k".repeat((number(kib) * 1024) as usize);
            let mut answered = 0;
            if let Some(lead) = &lead {
                for _ in 0..number(times) {
                    answered += usize::from(lead.preference(&key).is_ok());
                }
            }
            format!("pref {answered}")
        }
        ["stdin-read"] => match stdin::get_stdin().blocking_read(1024) {
            Ok(bytes) => format!("read {}", bytes.len()),
            Err(_) => "closed".into(),
        },
        ["stdin-poll"] => {
            let input = stdin::get_stdin();
            let pollable = input.subscribe();
            pollable.block();
            drop(pollable);
            "ready".into()
        }
        ["stdout-block", times] => {
            let out = stdout::get_stdout();
            let chunk = vec![b'y'; 4096];
            for _ in 0..number(times) {
                let _ = out.blocking_write_and_flush(&chunk);
            }
            "done".into()
        }
        _ => "bad command".into(),
    }
}

cally_sdk::export_call_flow!(Evades);
