//! `cally:plugin/personal-data`: the lead, transcript and recording handles of
//! the current call.
//!
//! Handles are WIT resources in the call's own resource table: a plugin cannot
//! make one up (an unknown or mistyped handle is a trap), and each carries the
//! call it was made for, so it is refused once that call has ended. Every read
//! goes through the call's [`DataGate`]: decided, audited durably, then released.

use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

use super::gate::{DataGate, DataRequest, DataUse};
use crate::bindings::wit_data::{self, Denial, DenialReason, Field, Speaker, Turn};
use crate::consent::{DataField, Decision, DenyReason};
use crate::sandbox::{EventBudget, PluginState};
use crate::store::Lead;

/// Most fields one `get-many` may ask for.
pub const MAX_FIELDS_PER_READ: usize = 64;
/// Longest preference key, in bytes.
const MAX_PREFERENCE_KEY: usize = 64;

/// The host side of a `lead` handle: which call it belongs to.
pub struct LeadHandle {
    call_id: String,
}

/// The host side of a `transcript` handle.
pub struct TranscriptHandle {
    call_id: String,
}

/// The host side of a `recording` handle.
pub struct RecordingHandle {
    call_id: String,
}

/// A call's access to personal data: its gate (none for a call without a
/// lead or data services) and the uses made so far.
#[derive(Default)]
pub struct PersonalData {
    gate: Option<DataGate>,
    uses: Vec<DataUse>,
}

impl PersonalData {
    /// Access through `gate`; `None` gives a plugin no handles at all.
    pub fn new(gate: Option<DataGate>) -> Self {
        Self {
            gate,
            uses: Vec::new(),
        }
    }

    /// The call's gate, if it has one.
    pub fn gate(&self) -> Option<&DataGate> {
        self.gate.as_ref()
    }

    /// Uses decided since the last call, for the current event's outcome.
    pub fn take_uses(&mut self) -> Vec<DataUse> {
        std::mem::take(&mut self.uses)
    }
}

/// Adds `cally:plugin/personal-data` to `linker`.
pub fn add_to_linker(linker: &mut Linker<PluginState>) -> wasmtime::Result<()> {
    wit_data::add_to_linker::<PluginState, HasPersonalData>(linker, |state| PersonalDataView {
        data: &mut state.personal_data,
        table: &mut state.table,
        budget: &mut state.budget,
    })
}

struct HasPersonalData;

impl HasData for HasPersonalData {
    type Data<'a> = PersonalDataView<'a>;
}

/// What the personal-data functions may touch: the call's access, its handle
/// table, and its time budget (host time is reported apart from plugin time).
pub struct PersonalDataView<'a> {
    data: &'a mut PersonalData,
    table: &'a mut ResourceTable,
    budget: &'a mut EventBudget,
}

/// One read a plugin asked for.
enum Read {
    Field(DataField),
    Preference(String),
}

impl Read {
    /// What the gate decides and audits; the key goes no further than the
    /// gate, which names it in the audit log only if the manifest declares it.
    fn request(&self) -> DataRequest {
        match self {
            Read::Field(field) => DataRequest::Field(*field),
            Read::Preference(key) => DataRequest::Preference(key.clone()),
        }
    }

    fn value(&self, lead: Option<&Lead>) -> Option<String> {
        let lead = lead?;
        match self {
            Read::Field(field) => lead.field(*field),
            Read::Preference(key) => lead.preference(key).map(|value| match value {
                serde_json::Value::String(text) => text.clone(),
                other => other.to_string(),
            }),
        }
    }
}

impl PersonalDataView<'_> {
    /// The call's gate, after checking that `call_id` (from a handle) is this
    /// call and that the call is still running. Anything else is guest abuse: a trap.
    fn gate_for(&self, call_id: &str, what: &str) -> wasmtime::Result<DataGate> {
        let Some(gate) = &self.data.gate else {
            wasmtime::bail!("{what} handle used in a call without personal data");
        };
        if gate.scope.call_id != call_id {
            wasmtime::bail!(
                "{what} handle of call {call_id} used in call {}",
                gate.scope.call_id
            );
        }
        if !gate.scope.is_live() {
            wasmtime::bail!("{what} handle used after its call {call_id} ended");
        }
        Ok(gate.clone())
    }

    /// Decides, audits and answers `reads` of the lead behind `handle`.
    async fn read_lead(
        &mut self,
        handle: &Resource<LeadHandle>,
        reads: Vec<Read>,
    ) -> wasmtime::Result<Vec<Result<Option<String>, Denial>>> {
        let call_id = self.table.get(handle)?.call_id.clone();
        let gate = self.gate_for(&call_id, "lead")?;
        self.budget.charge_host_call(reads.len())?;
        self.budget.enter_host();
        let uses: Vec<_> = reads.iter().map(Read::request).collect();
        let (decisions, snapshot, trace) = gate.check(&uses).await;
        self.data.uses.extend(trace);
        self.budget.leave_host();
        Ok(reads
            .iter()
            .zip(uses.iter().zip(decisions))
            .map(|(read, (request, decision))| match decision {
                Decision::Allow { .. } => Ok(read.value(snapshot.lead.as_ref())),
                Decision::Deny(reason) => Err(denial(request, &reason)),
            })
            .collect())
    }

    /// Decides and audits one use of a call-level resource (transcript, recording).
    async fn check_one(
        &mut self,
        call_id: &str,
        what: &str,
        request: DataRequest,
    ) -> wasmtime::Result<(DataGate, Result<(), Denial>)> {
        let gate = self.gate_for(call_id, what)?;
        self.budget.charge_host_call(1)?;
        self.budget.enter_host();
        let (decisions, _, trace) = gate.check(std::slice::from_ref(&request)).await;
        self.data.uses.extend(trace);
        self.budget.leave_host();
        let answer = match decisions.into_iter().next() {
            Some(Decision::Allow { .. }) => Ok(()),
            Some(Decision::Deny(reason)) => Err(denial(&request, &reason)),
            None => Err(denial(&request, &DenyReason::AuditUnavailable)),
        };
        Ok((gate, answer))
    }
}

/// The guest-visible form of a denial of `request`: its code and what would
/// allow it (for `not-declared`, the TOML to add to the manifest).
fn denial(request: &DataRequest, reason: &DenyReason) -> Denial {
    let code = match reason {
        DenyReason::NotDeclared { .. } => DenialReason::NotDeclared,
        DenyReason::NoConsent { .. } => DenialReason::NoConsent,
        DenyReason::ConsentExpired { .. } => DenialReason::ConsentExpired,
        DenyReason::ConsentWithdrawn { .. } => DenialReason::ConsentWithdrawn,
        DenyReason::LeadRestricted => DenialReason::LeadRestricted,
        DenyReason::LeadErased => DenialReason::LeadErased,
        DenyReason::LeadIsMinor { .. } => DenialReason::LeadIsMinor,
        DenyReason::AuditUnavailable => DenialReason::AuditUnavailable,
    };
    Denial {
        reason: code,
        message: super::gate::denial_message(request, reason),
    }
}

fn data_field(field: Field) -> DataField {
    match field {
        Field::Name => DataField::Name,
        Field::Phone => DataField::Phone,
        Field::Email => DataField::Email,
        Field::Location => DataField::Location,
        Field::Language => DataField::Language,
        Field::Preferences => DataField::Preferences,
    }
}

impl wit_data::Host for PersonalDataView<'_> {
    async fn current_lead(&mut self) -> wasmtime::Result<Option<Resource<LeadHandle>>> {
        let Some(gate) = &self.data.gate else {
            return Ok(None);
        };
        if gate.scope.lead_id.is_none() {
            return Ok(None);
        }
        let call_id = gate.scope.call_id.clone();
        Ok(Some(self.table.push(LeadHandle { call_id })?))
    }

    async fn current_transcript(&mut self) -> wasmtime::Result<Option<Resource<TranscriptHandle>>> {
        let Some(gate) = &self.data.gate else {
            return Ok(None);
        };
        let call_id = gate.scope.call_id.clone();
        Ok(Some(self.table.push(TranscriptHandle { call_id })?))
    }

    async fn current_recording(&mut self) -> wasmtime::Result<Option<Resource<RecordingHandle>>> {
        let Some(gate) = &self.data.gate else {
            return Ok(None);
        };
        if gate.scope.recording.is_none() {
            return Ok(None);
        }
        let call_id = gate.scope.call_id.clone();
        Ok(Some(self.table.push(RecordingHandle { call_id })?))
    }
}

impl wit_data::HostLead for PersonalDataView<'_> {
    async fn pseudonym(&mut self, handle: Resource<LeadHandle>) -> wasmtime::Result<String> {
        let call_id = self.table.get(&handle)?.call_id.clone();
        let gate = self.gate_for(&call_id, "lead")?;
        Ok(gate.scope.pseudonym().unwrap_or_default().to_owned())
    }

    async fn get(
        &mut self,
        handle: Resource<LeadHandle>,
        field: Field,
    ) -> wasmtime::Result<Result<Option<String>, Denial>> {
        let mut answers = self
            .read_lead(&handle, vec![Read::Field(data_field(field))])
            .await?;
        Ok(answers.remove(0))
    }

    async fn get_many(
        &mut self,
        handle: Resource<LeadHandle>,
        fields: Vec<Field>,
    ) -> wasmtime::Result<Vec<Result<Option<String>, Denial>>> {
        if fields.len() > MAX_FIELDS_PER_READ {
            wasmtime::bail!(
                "get-many requested {} fields, which exceeds the limit of {MAX_FIELDS_PER_READ}",
                fields.len()
            );
        }
        let reads = fields
            .into_iter()
            .map(|f| Read::Field(data_field(f)))
            .collect();
        self.read_lead(&handle, reads).await
    }

    async fn preference(
        &mut self,
        handle: Resource<LeadHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Option<String>, Denial>> {
        let valid = !key.is_empty()
            && key.len() <= MAX_PREFERENCE_KEY
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !valid {
            let shown: String = key.chars().take(MAX_PREFERENCE_KEY).collect();
            wasmtime::bail!(
                "preference key {shown:?} is not 1-{MAX_PREFERENCE_KEY} characters of a-z, A-Z, 0-9, '-', '_' or '.'"
            );
        }
        let mut answers = self.read_lead(&handle, vec![Read::Preference(key)]).await?;
        Ok(answers.remove(0))
    }

    async fn drop(&mut self, handle: Resource<LeadHandle>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}

impl wit_data::HostTranscript for PersonalDataView<'_> {
    async fn turns(
        &mut self,
        handle: Resource<TranscriptHandle>,
    ) -> wasmtime::Result<Result<Vec<Turn>, Denial>> {
        let call_id = self.table.get(&handle)?.call_id.clone();
        let (gate, answer) = self
            .check_one(&call_id, "transcript", DataRequest::Transcript)
            .await?;
        Ok(answer.map(|()| {
            gate.scope
                .transcript()
                .into_iter()
                .map(|line| Turn {
                    speaker: if line.caller {
                        Speaker::Caller
                    } else {
                        Speaker::Agent
                    },
                    text: line.text,
                })
                .collect()
        }))
    }

    async fn drop(&mut self, handle: Resource<TranscriptHandle>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}

impl wit_data::HostRecording for PersonalDataView<'_> {
    async fn reference(
        &mut self,
        handle: Resource<RecordingHandle>,
    ) -> wasmtime::Result<Result<String, Denial>> {
        let call_id = self.table.get(&handle)?.call_id.clone();
        let (gate, answer) = self
            .check_one(&call_id, "recording", DataRequest::Recording)
            .await?;
        Ok(answer.map(|()| gate.scope.recording.clone().unwrap_or_default()))
    }

    async fn drop(&mut self, handle: Resource<RecordingHandle>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::audit::{AuditWriter, Pseudonymizer};
    use crate::capabilities::gate::{CallScope, DataServices, Declared};
    use crate::consent::Purpose;
    use crate::store::SqliteStore;

    async fn view_parts(call_id: &str) -> (PersonalData, ResourceTable, EventBudget, DataGate) {
        let store: Arc<dyn crate::store::Store> =
            Arc::new(SqliteStore::open_in_memory().await.unwrap());
        let services = Arc::new(DataServices::new(
            store.clone(),
            AuditWriter::spawn(store),
            Pseudonymizer::from_key([7; 32]),
        ));
        let scope = CallScope::new(
            &services,
            "tenant",
            call_id,
            Some("lead-1".into()),
            ("plugin", "1.0.0", "sha256:00"),
            Purpose::CallHandling,
            Declared::nothing(),
            None,
        );
        let gate = DataGate {
            services,
            scope: Arc::new(scope),
        };
        let budget = EventBudget::new(std::time::Duration::from_millis(20));
        (
            PersonalData::new(Some(gate.clone())),
            ResourceTable::new(),
            budget,
            gate,
        )
    }

    #[tokio::test]
    async fn a_handle_is_refused_once_its_call_has_ended() {
        let (mut data, mut table, mut budget, gate) = view_parts("call-1").await;
        let view = PersonalDataView {
            data: &mut data,
            table: &mut table,
            budget: &mut budget,
        };
        assert!(view.gate_for("call-1", "lead").is_ok());
        gate.scope.end();
        let error = view
            .gate_for("call-1", "lead")
            .err()
            .expect("refused after the call");
        assert_eq!(
            error.to_string(),
            "lead handle used after its call call-1 ended"
        );
    }

    #[tokio::test]
    async fn a_handle_of_another_call_is_refused() {
        let (mut data, mut table, mut budget, _gate) = view_parts("call-1").await;
        let view = PersonalDataView {
            data: &mut data,
            table: &mut table,
            budget: &mut budget,
        };
        let error = view
            .gate_for("call-2", "lead")
            .err()
            .expect("refused in another call");
        assert_eq!(
            error.to_string(),
            "lead handle of call call-2 used in call call-1"
        );
    }
}
