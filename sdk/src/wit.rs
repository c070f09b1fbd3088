//! The wit-bindgen bindings for `cally:plugin`, generated once for every world.
//!
//! Nothing here is part of the SDK's public API: plugins use the hand-written
//! types in the crate root and the export macros, which expand to paths in this
//! module (hence `pub` but `#[doc(hidden)]`).
//!
//! `types`, `log` and `personal-data` are generated with the `call-flow` world and
//! reused by the `lead-tagger` world through `with`, so every WIT type has exactly one Rust type.
//! Both worlds use `pub_export_macro`: the SDK's own object code then only carries
//! each world's imports, and the world's exports are described by a custom section
//! that the export macro emits in the plugin crate, so a plugin exports exactly
//! the world it implements.

/// The wit-bindgen runtime, reached by the generated code through `runtime_path`
/// so that plugin crates need no direct dependency on wit-bindgen.
pub use wit_bindgen::rt;

/// Bindings for the `call-flow` world, plus the shared `types`, `log` and
/// `personal-data` interfaces under `cally::plugin`.
pub mod call_flow {
    wit_bindgen::generate!({
        world: "call-flow",
        path: "../wit",
        // `call-summary` is only used by `lead-tagger`; generate it here too so
        // that world can reuse this `types` module whole.
        generate_unused_types: true,
        pub_export_macro: true,
        export_macro_name: "export",
        default_bindings_module: "::cally_sdk::wit::call_flow",
        runtime_path: "::cally_sdk::wit::rt",
    });
}

/// Bindings for the `lead-tagger` world, sharing `types`, `log` and
/// `personal-data` with [`call_flow`].
pub mod lead_tagger {
    wit_bindgen::generate!({
        world: "lead-tagger",
        path: "../wit",
        with: {
            "cally:plugin/types@0.1.0": crate::wit::call_flow::cally::plugin::types,
            "cally:plugin/log@0.1.0": crate::wit::call_flow::cally::plugin::log,
            "cally:plugin/personal-data@0.1.0": crate::wit::call_flow::cally::plugin::personal_data,
        },
        pub_export_macro: true,
        export_macro_name: "export",
        default_bindings_module: "::cally_sdk::wit::lead_tagger",
        runtime_path: "::cally_sdk::wit::rt",
    });
}

pub use call_flow::cally::plugin::{log, personal_data, types};

/// Conversions between the generated types and the SDK's own: events and
/// summaries come in, actions go out.
mod convert {
    use super::personal_data as pd;
    use super::types as wit;
    use crate::personal_data::{Denial, DenialReason, Field, Speaker, Turn};
    use crate::{
        Action, CallEvent, CallStarted, CallSummary, Callback, CallerSpeech, Channel, Direction,
        EndReason, Gather, Message,
    };

    impl From<Field> for pd::Field {
        fn from(field: Field) -> Self {
            match field {
                Field::Name => pd::Field::Name,
                Field::Phone => pd::Field::Phone,
                Field::Email => pd::Field::Email,
                Field::Location => pd::Field::Location,
                Field::Language => pd::Field::Language,
                Field::Preferences => pd::Field::Preferences,
            }
        }
    }

    impl From<pd::Field> for Field {
        fn from(field: pd::Field) -> Self {
            match field {
                pd::Field::Name => Field::Name,
                pd::Field::Phone => Field::Phone,
                pd::Field::Email => Field::Email,
                pd::Field::Location => Field::Location,
                pd::Field::Language => Field::Language,
                pd::Field::Preferences => Field::Preferences,
            }
        }
    }

    impl From<pd::DenialReason> for DenialReason {
        fn from(reason: pd::DenialReason) -> Self {
            match reason {
                pd::DenialReason::NotDeclared => DenialReason::NotDeclared,
                pd::DenialReason::NoConsent => DenialReason::NoConsent,
                pd::DenialReason::ConsentExpired => DenialReason::ConsentExpired,
                pd::DenialReason::ConsentWithdrawn => DenialReason::ConsentWithdrawn,
                pd::DenialReason::LeadRestricted => DenialReason::LeadRestricted,
                pd::DenialReason::LeadErased => DenialReason::LeadErased,
                pd::DenialReason::LeadIsMinor => DenialReason::LeadIsMinor,
                pd::DenialReason::AuditUnavailable => DenialReason::AuditUnavailable,
            }
        }
    }

    impl From<pd::Denial> for Denial {
        fn from(denial: pd::Denial) -> Self {
            Denial {
                reason: denial.reason.into(),
                message: denial.message,
            }
        }
    }

    impl From<pd::Turn> for Turn {
        fn from(turn: pd::Turn) -> Self {
            Turn {
                speaker: match turn.speaker {
                    pd::Speaker::Caller => Speaker::Caller,
                    pd::Speaker::Agent => Speaker::Agent,
                },
                text: turn.text,
            }
        }
    }

    impl From<wit::Direction> for Direction {
        fn from(direction: wit::Direction) -> Self {
            match direction {
                wit::Direction::Inbound => Direction::Inbound,
                wit::Direction::Outbound => Direction::Outbound,
            }
        }
    }

    impl From<wit::EndReason> for EndReason {
        fn from(reason: wit::EndReason) -> Self {
            match reason {
                wit::EndReason::CallerHungUp => EndReason::CallerHungUp,
                wit::EndReason::FlowHungUp => EndReason::FlowHungUp,
                wit::EndReason::Transferred => EndReason::Transferred,
                wit::EndReason::NotConnected => EndReason::NotConnected,
                wit::EndReason::PluginFailed => EndReason::PluginFailed,
                wit::EndReason::NetworkError => EndReason::NetworkError,
            }
        }
    }

    impl From<wit::CallEvent> for CallEvent {
        fn from(event: wit::CallEvent) -> Self {
            match event {
                wit::CallEvent::Started(started) => CallEvent::Started(CallStarted {
                    call_id: started.call_id,
                    direction: started.direction.into(),
                    campaign: started.campaign,
                    started_at_ms: started.started_at_ms,
                    locale: started.locale,
                }),
                wit::CallEvent::Speech(speech) => CallEvent::Speech(CallerSpeech {
                    text: speech.text,
                    confidence: speech.confidence,
                    is_final: speech.is_final,
                }),
                wit::CallEvent::Digits(digits) => CallEvent::Digits(digits),
                wit::CallEvent::Silence(ms) => CallEvent::Silence { ms },
                wit::CallEvent::Interrupted => CallEvent::Interrupted,
                wit::CallEvent::Ended(reason) => CallEvent::Ended(reason.into()),
            }
        }
    }

    impl From<wit::CallSummary> for CallSummary {
        fn from(summary: wit::CallSummary) -> Self {
            CallSummary {
                call_id: summary.call_id,
                direction: summary.direction.into(),
                campaign: summary.campaign,
                duration_ms: summary.duration_ms,
                end_reason: summary.end_reason.into(),
                disposition: summary.disposition,
                digits: summary.digits,
                event_count: summary.event_count,
            }
        }
    }

    impl From<Channel> for wit::Channel {
        fn from(channel: Channel) -> Self {
            match channel {
                Channel::Sms => wit::Channel::Sms,
                Channel::Whatsapp => wit::Channel::Whatsapp,
                Channel::Email => wit::Channel::Email,
            }
        }
    }

    impl From<Action> for wit::Action {
        fn from(action: Action) -> Self {
            match action {
                Action::Say(text) => wit::Action::Say(text),
                Action::Play(asset) => wit::Action::Play(asset),
                Action::Gather(Gather {
                    prompt,
                    timeout_ms,
                    max_digits,
                    speech,
                }) => wit::Action::Gather(wit::Gather {
                    prompt,
                    timeout_ms,
                    max_digits,
                    speech,
                }),
                Action::Transfer(alias) => wit::Action::Transfer(alias),
                Action::HangUp => wit::Action::HangUp,
                Action::SendMessage(Message {
                    channel,
                    template,
                    params,
                }) => wit::Action::SendMessage(wit::Message {
                    channel: channel.into(),
                    template,
                    params,
                }),
                Action::TagLead(tag) => wit::Action::TagLead(tag),
                Action::SetDisposition(disposition) => wit::Action::SetDisposition(disposition),
                Action::ScheduleCallback(Callback {
                    after_minutes,
                    reason,
                }) => wit::Action::ScheduleCallback(wit::Callback {
                    after_minutes,
                    reason,
                }),
            }
        }
    }
}
