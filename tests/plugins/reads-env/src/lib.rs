//! Looks for ambient authority on `started`: says the environment and
//! arguments it sees (`env=[] args=[]` in a proper sandbox), prints markers
//! to stdout and stderr, and says the wall clock (`now_ms=<ms>`, or the
//! error), which the host freezes at a time of its choosing.

use std::time::{SystemTime, UNIX_EPOCH};

use cally_sdk::{Action, CallEvent, CallFlow};

#[derive(Default)]
struct ReadsEnv;

impl CallFlow for ReadsEnv {
    fn on_event(&mut self, event: CallEvent) -> Vec<Action> {
        let CallEvent::Started(_) = event else {
            return Vec::new();
        };
        let env = std::env::vars().collect::<Vec<_>>();
        let args = std::env::args().collect::<Vec<_>>();
        println!("stdout-marker");
        eprintln!("stderr-marker");
        let now = match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(since_epoch) => format!("now_ms={}", since_epoch.as_millis()),
            Err(error) => format!("clock error: {error}"),
        };
        vec![
            Action::say(format!("env={env:?} args={args:?}")),
            Action::say(now),
        ]
    }
}

cally_sdk::export_call_flow!(ReadsEnv);
