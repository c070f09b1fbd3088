//! What a plugin asks for: the actions the platform performs on its behalf.
//! These mirror `cally:plugin/types` in `wit/plugin.wit`.

use std::fmt;
use std::time::Duration;

/// What the platform should do next. A flow returns a list of these for every
/// event; they are performed in order.
///
/// Build them with the constructors:
///
/// ```
/// use cally_sdk::{Action, Channel};
/// use std::time::Duration;
///
/// let actions = vec![
///     Action::say("Thanks for calling Sunny Dental."),
///     Action::gather_digits("Press 1 to confirm, 2 to reschedule.", 1, Duration::from_secs(5)),
///     Action::send_message(Channel::Whatsapp, "appointment-confirmation", [("day", "Tuesday")]),
///     Action::tag("hot-lead"),
///     Action::disposition("confirmed"),
///     Action::callback(60, "asked-to-reschedule"),
///     Action::transfer("billing-desk"),
///     Action::hang_up(),
/// ];
/// assert_eq!(actions[0], Action::Say("Thanks for calling Sunny Dental.".into()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Speak this text to the caller.
    Say(String),
    /// Play one of the tenant's audio assets, by id.
    Play(String),
    /// Prompt and listen for speech or keypad input.
    Gather(Gather),
    /// Transfer the call to one of the tenant's targets, by alias (such as
    /// `billing-desk`); never a raw number.
    Transfer(String),
    /// End the call.
    HangUp,
    /// Send the lead a message.
    SendMessage(Message),
    /// Tag the lead, such as `hot-lead`.
    TagLead(String),
    /// Record the call's outcome, such as `confirmed` or `rescheduled`.
    SetDisposition(String),
    /// Schedule a call back to this lead.
    ScheduleCallback(Callback),
}

impl Action {
    /// Speak `text` to the caller.
    pub fn say(text: impl Into<String>) -> Self {
        Action::Say(text.into())
    }

    /// Play the tenant's audio asset `asset_id`.
    pub fn play(asset_id: impl Into<String>) -> Self {
        Action::Play(asset_id.into())
    }

    /// Prompt and listen as `gather` describes.
    ///
    /// ```
    /// use cally_sdk::{Action, Gather};
    /// use std::time::Duration;
    ///
    /// // Speech or one key, five seconds to answer.
    /// let ask = Action::gather(
    ///     Gather::new()
    ///         .prompt("Can you make it on Tuesday? Say yes or press 1.")
    ///         .speech()
    ///         .digits(1)
    ///         .timeout(Duration::from_secs(5)),
    /// );
    /// # let _ = ask;
    /// ```
    pub fn gather(gather: Gather) -> Self {
        Action::Gather(gather)
    }

    /// Say `prompt`, then collect up to `max_digits` keypad digits, waiting at
    /// most `timeout` for input before a [`CallEvent::Silence`].
    ///
    /// [`CallEvent::Silence`]: crate::CallEvent::Silence
    pub fn gather_digits(prompt: impl Into<String>, max_digits: u8, timeout: Duration) -> Self {
        Action::Gather(
            Gather::new()
                .prompt(prompt)
                .digits(max_digits)
                .timeout(timeout),
        )
    }

    /// Say `prompt`, then listen for speech, waiting at most `timeout`.
    pub fn gather_speech(prompt: impl Into<String>, timeout: Duration) -> Self {
        Action::Gather(Gather::new().prompt(prompt).speech().timeout(timeout))
    }

    /// Stop talking and listen for speech, without a prompt. The usual answer
    /// to [`CallEvent::Interrupted`](crate::CallEvent::Interrupted).
    pub fn listen() -> Self {
        Action::Gather(Gather::new().speech())
    }

    /// Transfer the call to the tenant's target `alias`, such as `billing-desk`.
    pub fn transfer(alias: impl Into<String>) -> Self {
        Action::Transfer(alias.into())
    }

    /// End the call.
    pub fn hang_up() -> Self {
        Action::HangUp
    }

    /// Send the lead the tenant's message `template` on `channel`, filling its
    /// placeholders from `params` (name, value). The host looks up the lead's
    /// address; the plugin never sees it.
    pub fn send_message<K, V>(
        channel: Channel,
        template: impl Into<String>,
        params: impl IntoIterator<Item = (K, V)>,
    ) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        Action::SendMessage(Message {
            channel,
            template: template.into(),
            params: params
                .into_iter()
                .map(|(name, value)| (name.into(), value.into()))
                .collect(),
        })
    }

    /// Tag the lead, such as `hot-lead`.
    pub fn tag(tag: impl Into<String>) -> Self {
        Action::TagLead(tag.into())
    }

    /// Record the call's outcome, such as `confirmed`.
    pub fn disposition(disposition: impl Into<String>) -> Self {
        Action::SetDisposition(disposition.into())
    }

    /// Call the lead again in `after_minutes` minutes; `reason` is shown to
    /// agents, such as `asked-to-reschedule`.
    pub fn callback(after_minutes: u32, reason: impl Into<String>) -> Self {
        Action::ScheduleCallback(Callback {
            after_minutes,
            reason: reason.into(),
        })
    }
}

impl From<Gather> for Action {
    fn from(gather: Gather) -> Self {
        Action::Gather(gather)
    }
}

/// Ask the caller for input: the argument of [`Action::Gather`].
///
/// [`Gather::new`] listens for nothing and waits
/// [`Gather::DEFAULT_TIMEOUT`]; turn on [`speech`](Gather::speech) and/or
/// [`digits`](Gather::digits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gather {
    /// Said before listening, if any.
    pub prompt: Option<String>,
    /// How long to wait for input before a `silence` event, in milliseconds.
    pub timeout_ms: u32,
    /// Accept keypad input; stop after this many digits (0: no keypad).
    pub max_digits: u8,
    /// Accept speech.
    pub speech: bool,
}

impl Gather {
    /// How long [`Gather::new`] waits for input.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

    /// No prompt, no speech, no keypad, [`Gather::DEFAULT_TIMEOUT`].
    pub fn new() -> Self {
        Gather {
            prompt: None,
            timeout_ms: Self::DEFAULT_TIMEOUT.as_millis() as u32,
            max_digits: 0,
            speech: false,
        }
    }

    /// Say `prompt` before listening.
    pub fn prompt(mut self, prompt: impl Into<String>) -> Self {
        self.prompt = Some(prompt.into());
        self
    }

    /// Accept speech.
    pub fn speech(mut self) -> Self {
        self.speech = true;
        self
    }

    /// Accept up to `max_digits` keypad digits.
    pub fn digits(mut self, max_digits: u8) -> Self {
        self.max_digits = max_digits;
        self
    }

    /// Wait at most `timeout` for input (saturating at `u32::MAX` milliseconds).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout_ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
        self
    }
}

impl Default for Gather {
    fn default() -> Self {
        Gather::new()
    }
}

/// A channel a [`Message`] can be sent on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// A text message to the lead's phone.
    Sms,
    /// A WhatsApp template message to the lead's phone.
    Whatsapp,
    /// An email to the lead's address.
    Email,
}

impl Channel {
    /// The channel as manifests (`[[messages]] channel = "sms"`) and the
    /// host's traces spell it: `sms`, `whatsapp` or `email`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Whatsapp => "whatsapp",
            Channel::Email => "email",
        }
    }
}

/// Prints [`Channel::as_str`], the spelling of manifests.
impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message to the lead: the argument of [`Action::SendMessage`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The channel to send on.
    pub channel: Channel,
    /// The tenant's template id, for example `appointment-confirmation`.
    pub template: String,
    /// Values for the template's placeholders, as name and value pairs.
    pub params: Vec<(String, String)>,
}

/// A request to call the lead again later: the argument of
/// [`Action::ScheduleCallback`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callback {
    /// How long from now, in minutes.
    pub after_minutes: u32,
    /// A short reason shown to agents, such as `asked-to-reschedule`.
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wit::types as wit;

    #[test]
    fn channels_display_as_manifests_spell_them() {
        assert_eq!(Channel::Sms.to_string(), "sms");
        assert_eq!(Channel::Whatsapp.to_string(), "whatsapp");
        assert_eq!(Channel::Email.to_string(), "email");
    }

    #[test]
    fn gather_timeouts_saturate() {
        let gather = Gather::new().timeout(Duration::from_secs(u64::MAX));
        assert_eq!(gather.timeout_ms, u32::MAX);
        assert_eq!(Gather::new().timeout_ms, 5_000);
    }

    #[test]
    fn actions_convert_to_their_wit_cases() {
        let wit = |action: Action| -> wit::Action { action.into() };
        assert!(matches!(
            wit(Action::gather_digits("Press 1.", 1, Duration::from_millis(2500))),
            wit::Action::Gather(wit::Gather { prompt: Some(p), timeout_ms: 2500, max_digits: 1, speech: false })
                if p == "Press 1."
        ));
        assert!(matches!(
            wit(Action::listen()),
            wit::Action::Gather(wit::Gather {
                prompt: None,
                timeout_ms: 5000,
                max_digits: 0,
                speech: true
            })
        ));
        assert!(matches!(
            wit(Action::send_message(Channel::Sms, "reminder", [("day", "Tuesday")])),
            wit::Action::SendMessage(wit::Message { channel: wit::Channel::Sms, template, params })
                if template == "reminder" && params == [("day".to_string(), "Tuesday".to_string())]
        ));
        assert!(matches!(
            wit(Action::callback(60, "asked-to-reschedule")),
            wit::Action::ScheduleCallback(wit::Callback { after_minutes: 60, reason })
                if reason == "asked-to-reschedule"
        ));
        assert!(matches!(wit(Action::hang_up()), wit::Action::HangUp));
        assert!(matches!(wit(Action::tag("hot-lead")), wit::Action::TagLead(t) if t == "hot-lead"));
        assert!(matches!(
            wit(Action::disposition("confirmed")),
            wit::Action::SetDisposition(d) if d == "confirmed"
        ));
        assert!(
            matches!(wit(Action::transfer("billing-desk")), wit::Action::Transfer(t) if t == "billing-desk")
        );
        assert!(matches!(wit(Action::play("jingle")), wit::Action::Play(a) if a == "jingle"));
    }
}
