//! Tries the network on `started`: connects to `127.0.0.1:5432` and says what
//! happened. Its component imports `wasi:sockets`, which the host must refuse
//! at load.

use std::net::TcpStream;

use cally_sdk::{Action, CallEvent, CallFlow};

#[derive(Default)]
struct OpensSocket;

impl CallFlow for OpensSocket {
    fn on_event(&mut self, event: CallEvent) -> Vec<Action> {
        let CallEvent::Started(_) = event else {
            return Vec::new();
        };
        let connect = TcpStream::connect("127.0.0.1:5432").map(|_| "connected");
        vec![Action::say(format!("connect={connect:?}"))]
    }
}

cally_sdk::export_call_flow!(OpensSocket);
