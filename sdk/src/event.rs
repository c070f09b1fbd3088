//! What a plugin is told: the events of a live call and the summary of a
//! finished one. These mirror `cally:plugin/types` in `wit/plugin.wit`.

use std::fmt;
use std::time::Duration;

/// Something that happened on the call, delivered to [`CallFlow::on_event`]
/// in the order it happened.
///
/// [`CallFlow::on_event`]: crate::CallFlow::on_event
///
/// ```
/// use cally_sdk::CallEvent;
///
/// fn describe(event: &CallEvent) -> String {
///     match event {
///         CallEvent::Started(call) => format!("call {} started", call.call_id),
///         CallEvent::Speech(speech) if speech.is_final => format!("heard {:?}", speech.text),
///         CallEvent::Digits(digits) => format!("pressed {digits}"),
///         other => other.kind().to_string(),
///     }
/// }
///
/// assert_eq!(describe(&CallEvent::digits("12")), "pressed 12");
/// assert_eq!(describe(&CallEvent::Interrupted), "interrupted");
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum CallEvent {
    /// The call was answered. Always the first event.
    Started(CallStarted),
    /// The caller said something, or the recogniser has a partial guess
    /// (see [`CallerSpeech::is_final`]).
    Speech(CallerSpeech),
    /// The caller pressed keypad keys (`0`-`9`, `*`, `#`).
    Digits(String),
    /// The caller stayed silent after a prompt.
    Silence {
        /// How long the caller was silent, in milliseconds.
        ms: u32,
    },
    /// The caller spoke over the prompt that was playing (barge-in).
    Interrupted,
    /// The call is over. Of the actions returned for this event only
    /// [`Action::TagLead`], [`Action::SetDisposition`] and
    /// [`Action::ScheduleCallback`] are performed.
    ///
    /// [`Action::TagLead`]: crate::Action::TagLead
    /// [`Action::SetDisposition`]: crate::Action::SetDisposition
    /// [`Action::ScheduleCallback`]: crate::Action::ScheduleCallback
    Ended(EndReason),
}

impl CallEvent {
    /// A final utterance heard with this confidence, as the platform sends it
    /// once the caller finished speaking. Handy in unit tests.
    pub fn speech(text: impl Into<String>, confidence: f32) -> Self {
        CallEvent::Speech(CallerSpeech {
            text: text.into(),
            confidence,
            is_final: true,
        })
    }

    /// Keypad input. Handy in unit tests.
    pub fn digits(digits: impl Into<String>) -> Self {
        CallEvent::Digits(digits.into())
    }

    /// The event's case name as the WIT spells it: `started`, `speech`,
    /// `digits`, `silence`, `interrupted` or `ended`.
    pub fn kind(&self) -> &'static str {
        match self {
            CallEvent::Started(_) => "started",
            CallEvent::Speech(_) => "speech",
            CallEvent::Digits(_) => "digits",
            CallEvent::Silence { .. } => "silence",
            CallEvent::Interrupted => "interrupted",
            CallEvent::Ended(_) => "ended",
        }
    }
}

/// The first event of every call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallStarted {
    /// The platform's id for this call; safe to log.
    pub call_id: String,
    /// Who placed the call.
    pub direction: Direction,
    /// The tenant's campaign this call belongs to, if any.
    pub campaign: Option<String>,
    /// When the call was answered, in milliseconds since the Unix epoch.
    /// Supplied by the host: plugins have no clock of their own.
    pub started_at_ms: u64,
    /// The caller's locale as a BCP 47 tag, such as `en-US`.
    pub locale: String,
}

/// Which side placed the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The lead called the tenant.
    Inbound,
    /// The tenant's campaign called the lead.
    Outbound,
}

impl Direction {
    /// The direction as call scripts and the host's traces spell it:
    /// `inbound` or `outbound`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

/// Prints [`Direction::as_str`], the spelling of call scripts.
impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the speech recogniser heard the caller say.
#[derive(Debug, Clone, PartialEq)]
pub struct CallerSpeech {
    /// The transcribed words.
    pub text: String,
    /// Recogniser confidence between 0.0 and 1.0.
    pub confidence: f32,
    /// False for a partial hypothesis that may still change; true once the
    /// caller finished the utterance. Most flows ignore partial speech.
    pub is_final: bool,
}

impl CallerSpeech {
    /// True if the text contains any of `phrases` as whole words, ignoring
    /// case and punctuation. A phrase may be several words (`"credit card"`).
    ///
    /// ```
    /// use cally_sdk::CallEvent;
    ///
    /// let CallEvent::Speech(speech) = CallEvent::speech("Yes, please!", 0.9) else { unreachable!() };
    /// assert!(speech.mentions_any(&["yes", "confirm"]));
    /// assert!(!speech.mentions_any(&["ye"]));
    ///
    /// let CallEvent::Speech(speech) = CallEvent::speech("my Credit-Card bill", 0.9) else { unreachable!() };
    /// assert!(speech.mentions_any(&["credit card"]));
    /// ```
    pub fn mentions_any(&self, phrases: &[&str]) -> bool {
        mentions_any(&self.text, phrases)
    }

    /// True if this is a final utterance with at least `min_confidence`.
    ///
    /// ```
    /// use cally_sdk::CallEvent;
    ///
    /// let CallEvent::Speech(speech) = CallEvent::speech("yes", 0.4) else { unreachable!() };
    /// assert!(!speech.is_confident(0.6));
    /// ```
    pub fn is_confident(&self, min_confidence: f32) -> bool {
        self.is_final && self.confidence >= min_confidence
    }
}

/// True if `text` contains any of `phrases` as whole words, ignoring case and
/// punctuation (see [`CallerSpeech::mentions_any`]).
pub(crate) fn mentions_any(text: &str, phrases: &[&str]) -> bool {
    let heard = words(text);
    phrases.iter().any(|phrase| {
        let wanted = words(phrase);
        !wanted.is_empty() && heard.windows(wanted.len()).any(|window| window == wanted)
    })
}

/// Lowercase words of `text`, split at anything that is not a letter, digit
/// or apostrophe.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Why a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EndReason {
    /// The caller hung up.
    CallerHungUp,
    /// The flow returned [`Action::HangUp`](crate::Action::HangUp).
    FlowHungUp,
    /// The call was transferred to a target.
    Transferred,
    /// The call never connected: no answer, busy or voicemail.
    NotConnected,
    /// The plugin failed and the tenant's fallback ended the call.
    PluginFailed,
    /// The telephony layer dropped the call.
    NetworkError,
}

impl EndReason {
    /// The reason as call scripts, summaries and the HTTP API spell it, such
    /// as `caller_hung_up`: what to write in a script's `ended` event.
    ///
    /// ```
    /// use cally_sdk::EndReason;
    /// assert_eq!(EndReason::CallerHungUp.as_str(), "caller_hung_up");
    /// assert_eq!(EndReason::FlowHungUp.to_string(), "flow_hung_up");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            EndReason::CallerHungUp => "caller_hung_up",
            EndReason::FlowHungUp => "flow_hung_up",
            EndReason::Transferred => "transferred",
            EndReason::NotConnected => "not_connected",
            EndReason::PluginFailed => "plugin_failed",
            EndReason::NetworkError => "network_error",
        }
    }
}

/// Prints [`EndReason::as_str`], the spelling of call scripts.
impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a [`LeadTagger`](crate::LeadTagger) learns about a finished call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallSummary {
    /// The platform's id for the call.
    pub call_id: String,
    /// Who placed the call.
    pub direction: Direction,
    /// The tenant's campaign, if any.
    pub campaign: Option<String>,
    /// How long the call lasted, in milliseconds.
    pub duration_ms: u64,
    /// Why the call ended.
    pub end_reason: EndReason,
    /// The disposition the flow set, if any.
    pub disposition: Option<String>,
    /// Keypad input the caller gave, in order.
    pub digits: Vec<String>,
    /// How many events the flow handled.
    pub event_count: u32,
}

impl CallSummary {
    /// How long the call lasted.
    pub fn duration(&self) -> Duration {
        Duration::from_millis(self.duration_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heard(text: &str) -> CallerSpeech {
        CallerSpeech {
            text: text.into(),
            confidence: 0.9,
            is_final: true,
        }
    }

    #[test]
    fn mentions_match_whole_words_ignoring_case_and_punctuation() {
        assert!(heard("YES!").mentions_any(&["yes"]));
        assert!(heard("I can't, sorry").mentions_any(&["can't"]));
        assert!(!heard("yesterday").mentions_any(&["yes"]));
        assert!(heard("it is not   working").mentions_any(&["not working"]));
        assert!(!heard("not really working").mentions_any(&["not working"]));
        assert!(!heard("anything").mentions_any(&["", "  "]));
    }

    #[test]
    fn display_uses_the_spellings_of_call_scripts() {
        let reasons = [
            (EndReason::CallerHungUp, "caller_hung_up"),
            (EndReason::FlowHungUp, "flow_hung_up"),
            (EndReason::Transferred, "transferred"),
            (EndReason::NotConnected, "not_connected"),
            (EndReason::PluginFailed, "plugin_failed"),
            (EndReason::NetworkError, "network_error"),
        ];
        for (reason, spelled) in reasons {
            assert_eq!(reason.to_string(), spelled);
        }
        assert_eq!(Direction::Inbound.to_string(), "inbound");
        assert_eq!(Direction::Outbound.to_string(), "outbound");
    }

    #[test]
    fn partial_speech_is_never_confident() {
        let partial = CallerSpeech {
            is_final: false,
            ..heard("yes")
        };
        assert!(!partial.is_confident(0.1));
        assert!(heard("yes").is_confident(0.9));
    }
}
