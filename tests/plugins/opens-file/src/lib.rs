//! Tries the filesystem on `started`: reads `/etc/passwd` and writes
//! `escape.txt`, and says what happened. Its component imports
//! `wasi:filesystem`, which the host must refuse at load.

use cally_sdk::{Action, CallEvent, CallFlow};

#[derive(Default)]
struct OpensFile;

impl CallFlow for OpensFile {
    fn on_event(&mut self, event: CallEvent) -> Vec<Action> {
        let CallEvent::Started(_) = event else {
            return Vec::new();
        };
        let read = std::fs::read_to_string("/etc/passwd").map(|text| text.len());
        let write = std::fs::write("escape.txt", "x");
        vec![Action::say(format!("read={read:?} write={write:?}"))]
    }
}

cally_sdk::export_call_flow!(OpensFile);
