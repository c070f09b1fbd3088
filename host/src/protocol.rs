//! Call events and actions as JSON: the shape `cally simulate` scripts and the
//! HTTP API use, and its conversion to and from the WIT types plugins see.
//!
//! Everything a plugin returns is untrusted: [`validate_actions`] checks it
//! against the platform's limits before the host acts on any of it.

use serde::{Deserialize, Serialize};

use crate::bindings::wit;

/// Which side placed the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// The lead called the tenant.
    Inbound,
    /// The tenant's campaign called the lead.
    Outbound,
}

/// Why a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The caller hung up.
    CallerHungUp,
    /// The flow returned `hang_up`.
    FlowHungUp,
    /// The call was transferred to a target.
    Transferred,
    /// The call never connected.
    NotConnected,
    /// The plugin failed and the tenant's fallback ended the call.
    PluginFailed,
    /// The telephony layer dropped the call.
    NetworkError,
}

impl Direction {
    /// The spelling scripts, summaries and the API use: `inbound`, `outbound`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

/// As a script spells it: `inbound`, `outbound`.
impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl EndReason {
    /// Every end reason, in declaration order.
    pub const ALL: &'static [EndReason] = &[
        EndReason::CallerHungUp,
        EndReason::FlowHungUp,
        EndReason::Transferred,
        EndReason::NotConnected,
        EndReason::PluginFailed,
        EndReason::NetworkError,
    ];

    /// The spelling scripts, summaries and the API use, such as `caller_hung_up`.
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

/// As a script spells it, such as `caller_hung_up`.
impl std::fmt::Display for EndReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The first event of a call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallStarted {
    /// The platform's id for this call.
    pub call_id: String,
    /// Who placed the call.
    pub direction: Direction,
    /// The tenant's campaign, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    /// When the call was answered, in milliseconds since the Unix epoch; the
    /// host's clock when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at_ms: Option<u64>,
    /// The caller's locale as a BCP 47 tag.
    pub locale: String,
}

impl CallStarted {
    /// Checks the ids the platform (or a script) chose against the id
    /// grammar ([`crate::ids`]): they reach log lines, exports and the plugin.
    pub fn check_ids(&self) -> Result<(), crate::ids::InvalidId> {
        check_call_ids(&self.call_id, self.campaign.as_deref())?;
        crate::ids::check_id("locale", &self.locale)
    }
}

/// Checks a call's id and its campaign (if any) against the id grammar.
fn check_call_ids(call_id: &str, campaign: Option<&str>) -> Result<(), crate::ids::InvalidId> {
    crate::ids::check_id("call_id", call_id)?;
    campaign.map_or(Ok(()), |campaign| {
        crate::ids::check_id("campaign", campaign)
    })
}

/// Something that happened on a call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum CallEvent {
    /// The call was answered.
    Started(CallStarted),
    /// The caller said something.
    Speech {
        /// The transcribed words.
        text: String,
        /// Recogniser confidence between 0.0 and 1.0.
        confidence: f32,
        /// Whether the utterance is complete.
        #[serde(rename = "final")]
        is_final: bool,
    },
    /// The caller pressed keypad keys.
    Digits {
        /// The keys, `0`-`9`, `*` and `#`.
        digits: String,
    },
    /// The caller stayed silent after a prompt.
    Silence {
        /// For how long, in milliseconds.
        ms: u32,
    },
    /// The caller spoke over the prompt.
    Interrupted,
    /// The call is over.
    Ended {
        /// Why it ended.
        reason: EndReason,
    },
}

impl CallEvent {
    /// The event's kind as it appears in JSON, for logs and traces.
    pub fn kind(&self) -> &'static str {
        match self {
            CallEvent::Started(_) => "started",
            CallEvent::Speech { .. } => "speech",
            CallEvent::Digits { .. } => "digits",
            CallEvent::Silence { .. } => "silence",
            CallEvent::Interrupted => "interrupted",
            CallEvent::Ended { .. } => "ended",
        }
    }

    /// Checks what the WIT types cannot express; the platform's events are
    /// input too, and a malformed one is refused before a plugin sees it.
    pub fn validate(&self) -> Result<(), InvalidEvent> {
        match self {
            CallEvent::Started(started) => started
                .check_ids()
                .map_err(|e| InvalidEvent(format!("started: {e}"))),
            CallEvent::Speech { confidence, .. } if !(0.0..=1.0).contains(confidence) => {
                Err(InvalidEvent(format!(
                    "speech: confidence is {confidence}, but it must be between 0.0 and 1.0"
                )))
            }
            CallEvent::Digits { digits } => {
                match digits.chars().find(|c| !matches!(c, '0'..='9' | '*' | '#')) {
                    Some(bad) => Err(InvalidEvent(format!(
                        "digits: {bad:?} is not a keypad key (allowed: 0-9, * and #)"
                    ))),
                    None if digits.is_empty() => Err(InvalidEvent("digits: no keys given".into())),
                    None => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }

    /// The event as the plugin sees it; `now_ms` stands in for a missing start time.
    pub fn to_wit(&self, now_ms: u64) -> wit::CallEvent {
        match self {
            CallEvent::Started(s) => wit::CallEvent::Started(wit::CallStarted {
                call_id: s.call_id.clone(),
                direction: s.direction.into(),
                campaign: s.campaign.clone(),
                started_at_ms: s.started_at_ms.unwrap_or(now_ms),
                locale: s.locale.clone(),
            }),
            CallEvent::Speech {
                text,
                confidence,
                is_final,
            } => wit::CallEvent::Speech(wit::CallerSpeech {
                text: text.clone(),
                confidence: *confidence,
                is_final: *is_final,
            }),
            CallEvent::Digits { digits } => wit::CallEvent::Digits(digits.clone()),
            CallEvent::Silence { ms } => wit::CallEvent::Silence(*ms),
            CallEvent::Interrupted => wit::CallEvent::Interrupted,
            CallEvent::Ended { reason } => wit::CallEvent::Ended((*reason).into()),
        }
    }
}

/// Occurs when a call event from the platform or a script is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid call event: {0}")]
pub struct InvalidEvent(pub String);

/// A channel a message can be sent on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = MessageChannel)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// A text message.
    Sms,
    /// A WhatsApp template message.
    Whatsapp,
    /// An email.
    Email,
}

impl Channel {
    /// The spelling actions and manifests use: `sms`, `whatsapp`, `email`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Whatsapp => "whatsapp",
            Channel::Email => "email",
        }
    }
}

/// As an action spells it: `sms`, `whatsapp`, `email`.
impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the platform should do next, as a plugin asked for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// Speak this text.
    Say {
        /// The words to speak.
        text: String,
    },
    /// Play a tenant audio asset.
    Play {
        /// The asset's id.
        asset: String,
    },
    /// Prompt and listen.
    Gather {
        /// Said before listening, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prompt: Option<String>,
        /// Milliseconds to wait before a `silence` event.
        timeout_ms: u32,
        /// Keypad digits to accept (0: none).
        max_digits: u8,
        /// Whether speech is accepted.
        speech: bool,
    },
    /// Transfer to a tenant target alias.
    Transfer {
        /// The target's alias (starting with a letter), never a raw number.
        target: String,
    },
    /// End the call.
    HangUp,
    /// Send the lead a message; the host resolves the address.
    SendMessage {
        /// The channel.
        channel: Channel,
        /// The tenant's template id.
        template: String,
        /// Values for the template's placeholders.
        params: Vec<(String, String)>,
    },
    /// Tag the lead.
    TagLead {
        /// The tag.
        tag: String,
    },
    /// Record the call's outcome.
    SetDisposition {
        /// The disposition, such as `confirmed`.
        disposition: String,
    },
    /// Call the lead back later.
    ScheduleCallback {
        /// Minutes from now.
        after_minutes: u32,
        /// A short reason for agents.
        reason: String,
    },
}

impl Action {
    /// Speak `text`; the tenant's fallback is usually built from these.
    pub fn say(text: impl Into<String>) -> Self {
        Action::Say { text: text.into() }
    }

    /// The action's kind as it appears in JSON.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Say { .. } => "say",
            Action::Play { .. } => "play",
            Action::Gather { .. } => "gather",
            Action::Transfer { .. } => "transfer",
            Action::HangUp => "hang_up",
            Action::SendMessage { .. } => "send_message",
            Action::TagLead { .. } => "tag_lead",
            Action::SetDisposition { .. } => "set_disposition",
            Action::ScheduleCallback { .. } => "schedule_callback",
        }
    }
}

impl From<wit::Action> for Action {
    fn from(action: wit::Action) -> Self {
        match action {
            wit::Action::Say(text) => Action::Say { text },
            wit::Action::Play(asset) => Action::Play { asset },
            wit::Action::Gather(g) => Action::Gather {
                prompt: g.prompt,
                timeout_ms: g.timeout_ms,
                max_digits: g.max_digits,
                speech: g.speech,
            },
            wit::Action::Transfer(target) => Action::Transfer { target },
            wit::Action::HangUp => Action::HangUp,
            wit::Action::SendMessage(m) => Action::SendMessage {
                channel: m.channel.into(),
                template: m.template,
                params: m.params,
            },
            wit::Action::TagLead(tag) => Action::TagLead { tag },
            wit::Action::SetDisposition(disposition) => Action::SetDisposition { disposition },
            wit::Action::ScheduleCallback(c) => Action::ScheduleCallback {
                after_minutes: c.after_minutes,
                reason: c.reason,
            },
        }
    }
}

/// Occurs when a plugin returns output the host will not act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidOutput {
    /// Occurs when one event returns more actions than the platform allows.
    #[error("returned {count} actions for one event, but the limit is {limit}")]
    TooManyActions {
        /// How many were returned.
        count: usize,
        /// The platform's limit.
        limit: usize,
    },
    /// Occurs when a string in an action is longer than the platform allows.
    #[error("{action}.{field} is {len} bytes long, but the limit is {limit} bytes")]
    StringTooLong {
        /// The action's kind.
        action: &'static str,
        /// The field that is too long.
        field: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The platform's limit.
        limit: usize,
    },
    /// Occurs when an identifier (asset, tag, template, disposition) is
    /// empty or holds characters other than `a-z`, `0-9`, `-`, `_` and `.`.
    /// (A transfer target is checked as an alias: [`InvalidOutput::BadAlias`].)
    #[error(
        "{action}.{field} is {value:?}, but it must be 1-64 characters of a-z, 0-9, '-', '_' or '.'"
    )]
    BadIdentifier {
        /// The action's kind.
        action: &'static str,
        /// The field.
        field: &'static str,
        /// The value, cut to 64 characters.
        value: String,
    },
    /// Occurs when a transfer target is not an alias: it must start with a
    /// letter, so a transfer can never name a raw number (`15550100`).
    #[error(
        "{action}.{field} is {value:?}, but a transfer target must be an alias: 1-64 characters of a-z, 0-9, '-', '_' or '.', starting with a letter (a transfer never names a raw number)"
    )]
    BadAlias {
        /// The action's kind.
        action: &'static str,
        /// The field.
        field: &'static str,
        /// The value, cut to 64 characters.
        value: String,
    },
    /// Occurs when a plugin returns more tags than the platform allows.
    #[error("returned {count} tags, but the limit is {limit}")]
    TooManyTags {
        /// How many were returned.
        count: usize,
        /// The platform's limit.
        limit: usize,
    },
}

/// Checks a plugin's actions against the platform's limits; the first problem
/// found makes the whole output invalid, so nothing half-checked is performed.
pub fn validate_actions(
    actions: &[Action],
    max_actions: usize,
    max_string: usize,
) -> Result<(), InvalidOutput> {
    if actions.len() > max_actions {
        return Err(InvalidOutput::TooManyActions {
            count: actions.len(),
            limit: max_actions,
        });
    }
    for action in actions {
        let kind = action.kind();
        let text = |field, value: &str| check_len(kind, field, value, max_string);
        let id = |field, value: &str| check_identifier(kind, field, value);
        match action {
            Action::Say { text: t } => text("text", t)?,
            Action::Play { asset } => id("asset", asset)?,
            Action::Gather { prompt, .. } => text("prompt", prompt.as_deref().unwrap_or(""))?,
            Action::Transfer { target } => check_alias(kind, "target", target)?,
            Action::HangUp => {}
            Action::SendMessage {
                template, params, ..
            } => {
                id("template", template)?;
                for (name, value) in params {
                    id("params.name", name)?;
                    text("params.value", value)?;
                }
            }
            Action::TagLead { tag } => id("tag", tag)?,
            Action::SetDisposition { disposition } => id("disposition", disposition)?,
            Action::ScheduleCallback { reason, .. } => id("reason", reason)?,
        }
    }
    Ok(())
}

/// Checks a lead tagger's tags: how many, and that each is an identifier.
pub fn validate_tags(tags: &[String], max_tags: usize) -> Result<(), InvalidOutput> {
    if tags.len() > max_tags {
        return Err(InvalidOutput::TooManyTags {
            count: tags.len(),
            limit: max_tags,
        });
    }
    tags.iter()
        .try_for_each(|tag| check_identifier("tag_lead", "tag", tag))
}

fn check_len(
    action: &'static str,
    field: &'static str,
    value: &str,
    limit: usize,
) -> Result<(), InvalidOutput> {
    if value.len() > limit {
        return Err(InvalidOutput::StringTooLong {
            action,
            field,
            len: value.len(),
            limit,
        });
    }
    Ok(())
}

/// Longest identifier (alias, tag, template, ...) a plugin may return.
const MAX_IDENTIFIER: usize = 64;

fn check_identifier(
    action: &'static str,
    field: &'static str,
    value: &str,
) -> Result<(), InvalidOutput> {
    let valid = !value.is_empty()
        && value.len() <= MAX_IDENTIFIER
        && value.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        });
    if valid {
        Ok(())
    } else {
        Err(InvalidOutput::BadIdentifier {
            action,
            field,
            value: value.chars().take(MAX_IDENTIFIER).collect(),
        })
    }
}

/// Checks a transfer target: an identifier that starts with a letter (the
/// alias grammar), so no digit-only string (`15550100`, `0044207946000`) and no
/// `+number` is ever handed to the platform as a target.
fn check_alias(
    action: &'static str,
    field: &'static str,
    value: &str,
) -> Result<(), InvalidOutput> {
    check_identifier(action, field, value).map_err(|_| InvalidOutput::BadAlias {
        action,
        field,
        value: value.chars().take(MAX_IDENTIFIER).collect(),
    })?;
    if value.starts_with(|c: char| c.is_ascii_lowercase()) {
        Ok(())
    } else {
        Err(InvalidOutput::BadAlias {
            action,
            field,
            value: value.to_owned(),
        })
    }
}

/// What a lead tagger learns about a finished call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallSummary {
    /// The platform's id for the call.
    pub call_id: String,
    /// Who placed the call.
    pub direction: Direction,
    /// The tenant's campaign, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    /// How long the call lasted, in milliseconds.
    pub duration_ms: u64,
    /// Why it ended.
    pub end_reason: EndReason,
    /// The disposition the flow set, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disposition: Option<String>,
    /// Keypad input, in order.
    #[serde(default)]
    pub digits: Vec<String>,
    /// How many events the flow handled.
    #[serde(default)]
    pub event_count: u32,
}

impl CallSummary {
    /// Checks the summary's call id and campaign against the id grammar
    /// ([`crate::ids`]), as a `started` event's are checked.
    pub fn check_ids(&self) -> Result<(), crate::ids::InvalidId> {
        check_call_ids(&self.call_id, self.campaign.as_deref())
    }
}

impl From<&CallSummary> for wit::CallSummary {
    fn from(s: &CallSummary) -> Self {
        wit::CallSummary {
            call_id: s.call_id.clone(),
            direction: s.direction.into(),
            campaign: s.campaign.clone(),
            duration_ms: s.duration_ms,
            end_reason: s.end_reason.into(),
            disposition: s.disposition.clone(),
            digits: s.digits.clone(),
            event_count: s.event_count,
        }
    }
}

impl From<Direction> for wit::Direction {
    fn from(d: Direction) -> Self {
        match d {
            Direction::Inbound => wit::Direction::Inbound,
            Direction::Outbound => wit::Direction::Outbound,
        }
    }
}

impl From<EndReason> for wit::EndReason {
    fn from(r: EndReason) -> Self {
        match r {
            EndReason::CallerHungUp => wit::EndReason::CallerHungUp,
            EndReason::FlowHungUp => wit::EndReason::FlowHungUp,
            EndReason::Transferred => wit::EndReason::Transferred,
            EndReason::NotConnected => wit::EndReason::NotConnected,
            EndReason::PluginFailed => wit::EndReason::PluginFailed,
            EndReason::NetworkError => wit::EndReason::NetworkError,
        }
    }
}

impl From<wit::Channel> for Channel {
    fn from(c: wit::Channel) -> Self {
        match c {
            wit::Channel::Sms => Channel::Sms,
            wit::Channel::Whatsapp => Channel::Whatsapp,
            wit::Channel::Email => Channel::Email,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_parse_from_the_documented_json() {
        let event: CallEvent = serde_json::from_str(
            r#"{"type": "speech", "text": "yes", "confidence": 0.9, "final": true}"#,
        )
        .unwrap();
        assert_eq!(
            event,
            CallEvent::Speech {
                text: "yes".into(),
                confidence: 0.9,
                is_final: true
            }
        );
        let started: CallEvent = serde_json::from_str(
            r#"{"type": "started", "call_id": "c1", "direction": "inbound", "locale": "en-US"}"#,
        )
        .unwrap();
        assert_eq!(started.kind(), "started");
    }

    #[test]
    fn unknown_event_fields_are_refused_by_name() {
        let err = serde_json::from_str::<CallEvent>(r#"{"type": "silence", "ms": 5, "extra": 1}"#)
            .unwrap_err();
        assert!(err.to_string().contains("unknown field `extra`"), "{err}");
    }

    #[test]
    fn bad_digits_and_confidence_are_named() {
        let digits = CallEvent::Digits {
            digits: "12a".into(),
        };
        assert_eq!(
            digits.validate().unwrap_err().to_string(),
            "invalid call event: digits: 'a' is not a keypad key (allowed: 0-9, * and #)"
        );
        let speech = CallEvent::Speech {
            text: "x".into(),
            confidence: 1.5,
            is_final: true,
        };
        assert!(
            speech
                .validate()
                .unwrap_err()
                .to_string()
                .contains("confidence is 1.5")
        );
    }

    #[test]
    fn display_spells_enums_as_json_does() {
        let json = |value: serde_json::Value| value.as_str().unwrap().to_owned();
        for reason in EndReason::ALL {
            assert_eq!(
                reason.to_string(),
                json(serde_json::to_value(reason).unwrap())
            );
        }
        assert_eq!(EndReason::FlowHungUp.to_string(), "flow_hung_up");
        for direction in [Direction::Inbound, Direction::Outbound] {
            assert_eq!(
                direction.to_string(),
                json(serde_json::to_value(direction).unwrap())
            );
        }
        for channel in [Channel::Sms, Channel::Whatsapp, Channel::Email] {
            assert_eq!(
                channel.to_string(),
                json(serde_json::to_value(channel).unwrap())
            );
        }
    }

    #[test]
    fn too_many_actions_are_invalid() {
        let actions = vec![Action::HangUp; 5];
        assert_eq!(
            validate_actions(&actions, 4, 100),
            Err(InvalidOutput::TooManyActions { count: 5, limit: 4 })
        );
    }

    #[test]
    fn long_speech_is_invalid() {
        let actions = vec![Action::say("x".repeat(101))];
        let err = validate_actions(&actions, 4, 100).unwrap_err();
        assert_eq!(
            err.to_string(),
            "say.text is 101 bytes long, but the limit is 100 bytes"
        );
    }

    #[test]
    fn transfer_to_a_raw_number_is_invalid() {
        let actions = vec![Action::Transfer {
            target: "+15551234567".into(),
        }];
        let err = validate_actions(&actions, 4, 100).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("transfer.target is \"+15551234567\""),
            "{err}"
        );
    }

    #[test]
    fn transfer_to_a_digit_only_string_is_invalid() {
        for raw in ["15550100", "0044207946000", "1-800-555", "_desk", ".x"] {
            let actions = vec![Action::Transfer { target: raw.into() }];
            let err = validate_actions(&actions, 4, 100).unwrap_err();
            assert_eq!(
                err,
                InvalidOutput::BadAlias {
                    action: "transfer",
                    field: "target",
                    value: raw.into()
                }
            );
            assert!(err.to_string().contains("starting with a letter"), "{err}");
        }
        let ok = vec![Action::Transfer {
            target: "desk-2".into(),
        }];
        validate_actions(&ok, 4, 100).unwrap();
    }

    #[test]
    fn started_ids_are_checked_against_the_id_grammar() {
        let started = |call_id: &str, campaign: Option<&str>| {
            CallEvent::Started(CallStarted {
                call_id: call_id.into(),
                direction: Direction::Inbound,
                campaign: campaign.map(str::to_owned),
                started_at_ms: None,
                locale: "en-US".into(),
            })
        };
        started("call-1", Some("spring")).validate().unwrap();
        for (call_id, campaign) in [
            ("call-1\nERROR forged", None),
            ("a\0b", None),
            ("-", None),
            ("--", None),
            ("", None),
            ("call-1", Some("=HYPERLINK(1)")),
        ] {
            let err = started(call_id, campaign).validate().unwrap_err();
            let field = if campaign.is_some() {
                "campaign"
            } else {
                "call_id"
            };
            assert!(
                err.to_string()
                    .starts_with(&format!("invalid call event: started: {field} ")),
                "{err}"
            );
        }
    }

    #[test]
    fn well_formed_actions_pass() {
        let actions = vec![
            Action::say("Hello"),
            Action::Transfer {
                target: "billing-desk".into(),
            },
            Action::SendMessage {
                channel: Channel::Whatsapp,
                template: "follow-up".into(),
                params: vec![("day".into(), "Tuesday".into())],
            },
            Action::ScheduleCallback {
                after_minutes: 60,
                reason: "asked-to-reschedule".into(),
            },
        ];
        validate_actions(&actions, 4, 100).unwrap();
    }

    #[test]
    fn tags_must_be_identifiers() {
        assert!(validate_tags(&["hot-lead".into()], 8).is_ok());
        assert!(validate_tags(&["Hot Lead".into()], 8).is_err());
        assert!(validate_tags(&vec!["a".into(); 9], 8).is_err());
    }
}
