//! Write Cally plugins in Rust.
//!
//! A plugin is a WebAssembly component (`cargo build --target wasm32-wasip2`,
//! crate type `cdylib`) that steers a tenant's calls or tags its leads. It is
//! one small `lib.rs`: a type implementing [`CallFlow`] or [`LeadTagger`] and
//! one export macro.
//!
//! ```
//! use cally_sdk::{Action, CallEvent, CallFlow};
//!
//! #[derive(Default)]
//! struct Reminder {
//!     confirmed: bool,
//! }
//!
//! impl CallFlow for Reminder {
//!     fn on_event(&mut self, event: CallEvent) -> Vec<Action> {
//!         match event {
//!             CallEvent::Started(_) => vec![Action::gather_speech(
//!                 "Hi! Can you confirm your appointment tomorrow at ten?",
//!                 std::time::Duration::from_secs(5),
//!             )],
//!             CallEvent::Speech(speech) if speech.is_final && speech.mentions_any(&["yes"]) => {
//!                 self.confirmed = true;
//!                 cally_sdk::log::info("confirmed");
//!                 vec![
//!                     Action::say("Great, see you then."),
//!                     Action::disposition("confirmed"),
//!                     Action::hang_up(),
//!                 ]
//!             }
//!             _ => vec![],
//!         }
//!     }
//! }
//!
//! cally_sdk::export_call_flow!(Reminder);
//! ```
//!
//! The plugin's `Cargo.toml` needs only this crate:
//!
//! ```toml
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! cally-sdk = { path = "../../sdk" }
//! ```
//!
//! # Layout
//!
//! - [`CallFlow`], [`LeadTagger`] and their export macros
//!   ([`export_call_flow!`], [`export_lead_tagger!`]): the two worlds of
//!   `wit/plugin.wit` (`world.rs`).
//! - [`CallEvent`] and friends: what a plugin is told (`event.rs`).
//! - [`Action`] and friends: what a plugin asks for (`action.rs`).
//! - One module per capability the host grants: [`log`] (the call's log) and
//!   [`personal_data`] (the consent-checked, audited lead, transcript and
//!   recording handles).
//! - `wit`: the wit-bindgen bindings and conversions, hidden; nothing a plugin
//!   should name.
//!
//! A plugin has no clock, network, filesystem, environment or entropy of its
//! own: what it may know arrives in an event or through a capability module.
//! Everything here also builds for native targets, so a plugin's logic can be
//! unit-tested with plain `cargo test` (log lines are then kept for
//! [`log::take_native_lines`], and personal data comes from the fixtures of
//! [`personal_data::testing`]).
#![deny(missing_docs)]

// Lets the bindings and the export macros name this crate `::cally_sdk` both
// here and in plugin crates.
extern crate self as cally_sdk;

mod action;
mod event;
pub mod log;
pub mod personal_data;
mod world;

#[doc(hidden)]
#[allow(missing_docs, clippy::all)]
pub mod wit;

pub use action::{Action, Callback, Channel, Gather, Message};
pub use event::{CallEvent, CallStarted, CallSummary, CallerSpeech, Direction, EndReason};
#[doc(hidden)]
pub use world::__private;
pub use world::{CallFlow, LeadTagger};
