//! Actions that touch personal data, performed by the host itself:
//! `send_message` (channel consent, the address resolved from the lead's
//! record, the outbox) and `tag_lead` (a CRM tag). Each is decided and audited
//! through the call's [`DataGate`] like a read; a denied one is dropped, and
//! its denial reported with the event's outcome.

use serde_json::{Map, Value};

use super::gate::{DataGate, DataRequest, DataUse, denial_message};
use crate::consent::{Channel as ConsentChannel, Decision};
use crate::protocol::{Action, Channel};
use crate::store::{Lead, NewMessage, NewTag, StoreError};

/// What became of the data actions of one event.
pub struct Performed {
    /// The actions to hand to the platform: everything but denied data actions.
    pub actions: Vec<Action>,
    /// How each data action was decided.
    pub uses: Vec<DataUse>,
    /// Notes for the call's log (a dropped action and why, a store failure).
    pub notes: Vec<String>,
}

fn consent_channel(channel: Channel) -> ConsentChannel {
    match channel {
        Channel::Sms => ConsentChannel::Sms,
        Channel::Whatsapp => ConsentChannel::Whatsapp,
        Channel::Email => ConsentChannel::Email,
    }
}

/// The use of personal data a data action asks for; `None` for other
/// actions. A message is audited by its channel only (never its template or
/// parameters); a tag through the gate's vocabulary (never verbatim unless declared).
fn data_resource(action: &Action) -> Option<DataRequest> {
    match action {
        Action::SendMessage { channel, .. } => {
            Some(DataRequest::Message(consent_channel(*channel)))
        }
        Action::TagLead { tag } => Some(DataRequest::Tag(tag.clone())),
        _ => None,
    }
}

/// Decides, audits and performs the data actions among `actions`.
pub async fn perform(gate: Option<&DataGate>, actions: Vec<Action>) -> Performed {
    let uses: Vec<(usize, DataRequest)> = actions
        .iter()
        .enumerate()
        .filter_map(|(index, action)| data_resource(action).map(|r| (index, r)))
        .collect();
    if uses.is_empty() {
        return Performed {
            actions,
            uses: Vec::new(),
            notes: Vec::new(),
        };
    }
    let Some(gate) = gate.filter(|g| g.scope.lead_id.is_some()) else {
        let notes = uses
            .iter()
            .map(|(index, _)| format!("{} dropped: this call has no lead", actions[*index].kind()))
            .collect();
        let actions = actions
            .into_iter()
            .filter(|a| data_resource(a).is_none())
            .collect();
        return Performed {
            actions,
            uses: Vec::new(),
            notes,
        };
    };
    let requests: Vec<DataRequest> = uses.iter().map(|(_, r)| r.clone()).collect();
    let (decisions, snapshot, trace) = gate.check(&requests).await;
    let mut notes = Vec::new();
    let mut denied = vec![false; actions.len()];
    for ((index, request), decision) in uses.iter().zip(&decisions) {
        let action = &actions[*index];
        match decision {
            Decision::Allow { .. } => {
                if let Err(failed) = carry_out(gate, snapshot.lead.as_ref(), action).await {
                    notes.push(failed.to_string());
                    denied[*index] = true;
                }
            }
            Decision::Deny(reason) => {
                notes.push(format!(
                    "{} dropped: {}",
                    action.kind(),
                    denial_message(request, reason)
                ));
                denied[*index] = true;
            }
        }
    }
    let actions = actions
        .into_iter()
        .zip(denied)
        .filter_map(|(action, denied)| (!denied).then_some(action))
        .collect();
    Performed {
        actions,
        uses: trace,
        notes,
    }
}

/// Occurs when an allowed data action cannot be performed; the message is the
/// note the call's log gets, and the action is reported as not done.
#[derive(Debug, thiserror::Error)]
enum NotCarriedOut {
    /// Occurs when the lead has no phone (sms, WhatsApp) or email for the channel.
    #[error("send_message dropped: the lead has no address for channel {0}")]
    NoAddress(ConsentChannel),
    /// Occurs when the outbox cannot take the message.
    #[error("send_message not queued: {0}")]
    Message(#[source] StoreError),
    /// Occurs when the tag cannot be stored.
    #[error("tag_lead not written: {0}")]
    Tag(#[source] StoreError),
}

/// Performs one allowed data action: queues the message, writes the tag.
async fn carry_out(
    gate: &DataGate,
    lead: Option<&Lead>,
    action: &Action,
) -> Result<(), NotCarriedOut> {
    let scope = &gate.scope;
    let lead_id = scope.lead_id.clone().unwrap_or_default();
    let now_ms = crate::clock::now_ms();
    let services = &gate.services;
    match action {
        Action::SendMessage {
            channel,
            template,
            params,
        } => {
            let has_address = lead.is_some_and(|lead| match channel {
                Channel::Sms | Channel::Whatsapp => lead.phone.is_some(),
                Channel::Email => lead.email.is_some(),
            });
            if !has_address {
                return Err(NotCarriedOut::NoAddress(consent_channel(*channel)));
            }
            let params: Map<String, Value> = params
                .iter()
                .map(|(name, value)| (name.clone(), Value::String(value.clone())))
                .collect();
            let message = NewMessage {
                tenant: scope.tenant.clone(),
                lead_id,
                channel: consent_channel(*channel),
                template: template.clone(),
                params: Value::Object(params),
                call_id: scope.call_id.clone(),
                created_at_ms: now_ms,
            };
            services
                .outbox
                .enqueue_message(&message)
                .await
                .map(drop)
                .map_err(NotCarriedOut::Message)
        }
        Action::TagLead { tag } => {
            let new_tag = NewTag {
                tenant: scope.tenant.clone(),
                lead_id,
                tag: tag.clone(),
                call_id: scope.call_id.clone(),
                plugin: scope.audit.plugin.clone(),
                created_at_ms: now_ms,
            };
            services
                .tags
                .insert_tag(&new_tag)
                .await
                .map(drop)
                .map_err(NotCarriedOut::Tag)
        }
        _ => Ok(()),
    }
}
