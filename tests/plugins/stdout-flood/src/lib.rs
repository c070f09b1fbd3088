//! Answers `started`, then prints 1 MB (sixteen times the log cap) to stdout for the caller's first
//! words and says `printed`: the host must cut the output short without
//! failing the call. Write errors are ignored, as a careless plugin would.

use std::io::Write;

use cally_sdk::{Action, CallEvent, CallFlow};

const TOTAL_BYTES: usize = 1_000_000;
const LINE_BYTES: usize = 100;

#[derive(Default)]
struct StdoutFlood;

impl CallFlow for StdoutFlood {
    fn on_event(&mut self, event: CallEvent) -> Vec<Action> {
        match event {
            CallEvent::Speech(_) => {
                let mut line = [b'x'; LINE_BYTES];
                line[LINE_BYTES - 1] = b'\n';
                let block = line.repeat(1_000);
                let mut stdout = std::io::stdout().lock();
                for _ in 0..TOTAL_BYTES / block.len() {
                    let _ = stdout.write_all(&block);
                }
                let _ = stdout.flush();
                vec![Action::say("printed")]
            }
            _ => vec![Action::say("ready")],
        }
    }
}

cally_sdk::export_call_flow!(StdoutFlood);
