//! The two worlds a plugin can implement: a trait each, and the macro that
//! exports an implementation as the component's entry point.

use crate::{Action, CallEvent, CallSummary};

/// A plugin that steers a live call: the `call-flow` world.
///
/// The host makes a fresh instance of the plugin for every call, and
/// [`export_call_flow!`](crate::export_call_flow) keeps one `Self`, made with
/// [`Default`], per instance. So fields of `self` are per-call state: they
/// start from `Default` on the call's first event and are never shared with
/// another call.
///
/// ```
/// use cally_sdk::{Action, CallEvent, CallFlow};
///
/// #[derive(Default)]
/// struct Greeter {
///     turns: u32,
/// }
///
/// impl CallFlow for Greeter {
///     fn on_event(&mut self, event: CallEvent) -> Vec<Action> {
///         self.turns += 1;
///         match event {
///             CallEvent::Started(_) => vec![Action::say("Hello!"), Action::listen()],
///             CallEvent::Speech(speech) if speech.is_final => {
///                 vec![Action::say(format!("You said {}.", speech.text)), Action::hang_up()]
///             }
///             _ => vec![],
///         }
///     }
/// }
///
/// cally_sdk::export_call_flow!(Greeter);
/// #
/// # let mut flow = Greeter::default();
/// # assert_eq!(flow.on_event(CallEvent::speech("hi", 0.9))[1], Action::hang_up());
/// ```
pub trait CallFlow {
    /// Handle one event of the call and say what to do next. Called once per
    /// event, in order. Return no actions to keep listening.
    fn on_event(&mut self, event: CallEvent) -> Vec<Action>;
}

/// A plugin that tags a lead once a call has ended: the `lead-tagger` world.
///
/// Like [`CallFlow`], an instance lives for one call and
/// [`export_lead_tagger!`](crate::export_lead_tagger) makes `Self` with
/// [`Default`].
///
/// ```
/// use cally_sdk::{CallSummary, EndReason, LeadTagger};
///
/// #[derive(Default)]
/// struct Tagger;
///
/// impl LeadTagger for Tagger {
///     fn tag_call(&mut self, summary: CallSummary) -> Vec<String> {
///         match summary.end_reason {
///             EndReason::NotConnected => vec!["unreachable".to_string()],
///             _ => vec![],
///         }
///     }
/// }
///
/// cally_sdk::export_lead_tagger!(Tagger);
/// ```
pub trait LeadTagger {
    /// Return the tags to put on the call's lead.
    fn tag_call(&mut self, summary: CallSummary) -> Vec<String>;
}

/// Export `$flow`, a type implementing [`CallFlow`] and [`Default`], as this
/// component's `call-flow` world. Use it once, at the top level of the
/// plugin's `lib.rs`; see [`CallFlow`] for an example.
#[macro_export]
macro_rules! export_call_flow {
    ($flow:ty) => {
        const _: () = {
            ::std::thread_local! {
                // This instance's flow; the host makes one instance per call.
                static CALLY_FLOW: $crate::__private::Instance<$flow> =
                    const { $crate::__private::Instance::new() };
            }

            struct CallyCallFlowExport;

            impl $crate::wit::call_flow::Guest for CallyCallFlowExport {
                fn on_event(
                    event: $crate::wit::types::CallEvent,
                ) -> ::std::vec::Vec<$crate::wit::types::Action> {
                    CALLY_FLOW.with(|flow| $crate::__private::call_flow_on_event(flow, event))
                }
            }

            $crate::wit::call_flow::export!(
                CallyCallFlowExport with_types_in $crate::wit::call_flow
            );
        };
    };
}

/// Export `$tagger`, a type implementing [`LeadTagger`] and [`Default`], as
/// this component's `lead-tagger` world. Use it once, at the top level of the
/// plugin's `lib.rs`; see [`LeadTagger`] for an example.
#[macro_export]
macro_rules! export_lead_tagger {
    ($tagger:ty) => {
        const _: () = {
            ::std::thread_local! {
                // This instance's tagger; the host makes one instance per call.
                static CALLY_TAGGER: $crate::__private::Instance<$tagger> =
                    const { $crate::__private::Instance::new() };
            }

            struct CallyLeadTaggerExport;

            impl $crate::wit::lead_tagger::Guest for CallyLeadTaggerExport {
                fn tag_call(
                    summary: $crate::wit::types::CallSummary,
                ) -> ::std::vec::Vec<::std::string::String> {
                    CALLY_TAGGER
                        .with(|tagger| $crate::__private::lead_tagger_tag_call(tagger, summary))
                }
            }

            $crate::wit::lead_tagger::export!(
                CallyLeadTaggerExport with_types_in $crate::wit::lead_tagger
            );
        };
    };
}

/// What the export macros expand to; not part of the API.
#[doc(hidden)]
pub mod __private {
    use std::cell::RefCell;
    use std::sync::Once;

    use crate::{CallFlow, LeadTagger, wit};

    /// One instance's plugin value, made on first use. Component instances
    /// are single-threaded and never re-entered, so the `RefCell` is never
    /// borrowed twice.
    pub struct Instance<T>(RefCell<Option<T>>);

    impl<T> Instance<T> {
        /// An instance whose plugin value is not made yet.
        pub const fn new() -> Self {
            Instance(RefCell::new(None))
        }

        fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R
        where
            T: Default,
        {
            install_panic_hook();
            let mut slot = self.0.borrow_mut();
            f(slot.get_or_insert_with(T::default))
        }
    }

    impl<T> Default for Instance<T> {
        fn default() -> Self {
            Instance::new()
        }
    }

    /// The body of the exported `on-event`.
    pub fn call_flow_on_event<F: CallFlow + Default>(
        flow: &Instance<F>,
        event: wit::types::CallEvent,
    ) -> Vec<wit::types::Action> {
        let actions = flow.with(|flow| flow.on_event(event.into()));
        actions.into_iter().map(Into::into).collect()
    }

    /// The body of the exported `tag-call`.
    pub fn lead_tagger_tag_call<L: LeadTagger + Default>(
        tagger: &Instance<L>,
        summary: wit::types::CallSummary,
    ) -> Vec<String> {
        tagger.with(|tagger| tagger.tag_call(summary.into()))
    }

    /// Send a panic's message to the call's log as well as to stderr, so the
    /// tenant sees why the plugin failed even where the host drops stderr.
    fn install_panic_hook() {
        static INSTALL: Once = Once::new();
        INSTALL.call_once(|| {
            let default_hook = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                let message = info.payload_as_str().unwrap_or("(no message)");
                match info.location() {
                    Some(at) => crate::log::error(format!("plugin panicked at {at}: {message}")),
                    None => crate::log::error(format!("plugin panicked: {message}")),
                }
                default_hook(info);
            }));
        });
    }
}

#[cfg(test)]
mod tests {
    use super::__private::{Instance, call_flow_on_event, lead_tagger_tag_call};
    use super::*;
    use crate::wit::types as wit;

    #[derive(Default)]
    struct Counter(u32);

    impl CallFlow for Counter {
        fn on_event(&mut self, _event: CallEvent) -> Vec<Action> {
            self.0 += 1;
            vec![Action::say(self.0.to_string())]
        }
    }

    fn said(actions: Vec<wit::Action>) -> Vec<String> {
        actions
            .into_iter()
            .map(|action| match action {
                wit::Action::Say(text) => text,
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    }

    #[test]
    fn one_flow_value_per_instance_made_with_default() {
        let call = Instance::<Counter>::new();
        let event = || wit::CallEvent::Digits("1".into());
        assert_eq!(said(call_flow_on_event(&call, event())), ["1"]);
        assert_eq!(said(call_flow_on_event(&call, event())), ["2"]);
        let next_call = Instance::<Counter>::new();
        assert_eq!(said(call_flow_on_event(&next_call, event())), ["1"]);
    }

    #[derive(Default)]
    struct Tagger;

    impl LeadTagger for Tagger {
        fn tag_call(&mut self, summary: CallSummary) -> Vec<String> {
            vec![format!(
                "{}:{:?}:{}",
                summary.call_id,
                summary.end_reason,
                summary.duration().as_secs()
            )]
        }
    }

    #[test]
    fn the_summary_reaches_the_tagger() {
        let summary = wit::CallSummary {
            call_id: "call-9".into(),
            direction: wit::Direction::Inbound,
            campaign: None,
            duration_ms: 61_000,
            end_reason: wit::EndReason::NotConnected,
            disposition: None,
            digits: vec![],
            event_count: 1,
        };
        let tags = lead_tagger_tag_call(&Instance::<Tagger>::new(), summary);
        assert_eq!(tags, ["call-9:NotConnected:61"]);
    }
}
