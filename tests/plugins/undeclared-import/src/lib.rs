//! A call flow that also imports `evil:vault/secrets`, an interface the host
//! does not provide, and calls it on `started`. Loading it must fail, naming
//! the import.

use cally_sdk::{Action, CallEvent, CallFlow};

wit_bindgen::generate!({
    world: "evil",
    path: "wit",
});

#[derive(Default)]
struct Undeclared;

impl CallFlow for Undeclared {
    fn on_event(&mut self, event: CallEvent) -> Vec<Action> {
        match event {
            CallEvent::Started(_) => {
                let secret = evil::vault::secrets::get("database-password");
                vec![Action::say(format!("secret={secret}"))]
            }
            _ => Vec::new(),
        }
    }
}

cally_sdk::export_call_flow!(Undeclared);
