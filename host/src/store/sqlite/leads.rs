//! [`LeadStore`] for [`SqliteStore`]: leads, consents and erasure, behind the
//! in-process lead cache (every write drops the lead's entry once it commits).

use async_trait::async_trait;
use serde_json::Value;
use sqlx::sqlite::{SqliteConnection, SqliteRow};

use super::keys::ensure_tenant_in;
use super::{SqliteStore, commit_error, database, get, now_ms, parse, parse_json};
use crate::consent::{AgeStatus, ConsentRecord};
use crate::store::{
    Lead, LeadSnapshot, LeadStore, LeadUpdate, NewConsent, StoreError, UnknownAgeLeads,
    erased_call_result,
};

#[async_trait]
impl LeadStore for SqliteStore {
    async fn upsert_lead(&self, lead: &Lead) -> Result<(), StoreError> {
        let written = self.upsert_lead_uncached(lead).await;
        self.leads.invalidate(&lead.tenant, &lead.lead_id);
        written
    }

    async fn update_lead(
        &self,
        tenant: &str,
        lead_id: &str,
        update: &LeadUpdate,
    ) -> Result<Lead, StoreError> {
        let written = self.update_lead_uncached(tenant, lead_id, update).await;
        self.leads.invalidate(tenant, lead_id);
        written
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant), err(level = "debug"))]
    async fn lead(&self, tenant: &str, lead_id: &str) -> Result<Option<Lead>, StoreError> {
        if let Some(lead) = self.leads.lead(tenant, lead_id) {
            return Ok(lead);
        }
        let ticket = self.leads.ticket();
        let lead = self.lead_uncached(tenant, lead_id).await?;
        self.leads.put_lead(tenant, lead_id, ticket, &lead);
        Ok(lead)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant), err(level = "debug"))]
    async fn leads(&self, tenant: &str) -> Result<Vec<Lead>, StoreError> {
        let rows = sqlx::query(
            "SELECT tenant, lead_id, name, phone, email, location, language, preferences, \
                 age_status, restricted, erased_at_ms, created_at_ms, updated_at_ms \
             FROM leads WHERE tenant = ?1 ORDER BY lead_id",
        )
        .bind(tenant)
        .fetch_all(&self.reader)
        .await
        .map_err(|e| database(format!("listing the leads of tenant '{tenant}'"), e))?;
        rows.iter().map(lead_from_row).collect()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant, leads = leads.len()), err(level = "debug"))]
    async fn insert_leads(&self, tenant: &str, leads: &[Lead]) -> Result<Vec<String>, StoreError> {
        let action = format!("importing {} leads of tenant '{tenant}'", leads.len());
        let now = now_ms();
        let mut tx = self.begin(&action).await?;
        ensure_tenant_in(&mut tx, tenant, now).await?;
        let mut erased = Vec::new();
        for lead in leads {
            let done = sqlx::query(
                "INSERT INTO leads (tenant, lead_id, name, phone, email, location, language, \
                     preferences, age_status, restricted, created_at_ms, updated_at_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11) \
                 ON CONFLICT (tenant, lead_id) DO NOTHING",
            )
            .bind_lead(tenant, lead, now)
            .execute(&mut *tx)
            .await
            .map_err(|e| database(action.clone(), e))?;
            if done.rows_affected() == 0 {
                // Dropping the transaction rolls every earlier row of the batch back.
                return Err(StoreError::Conflict {
                    tenant: tenant.to_owned(),
                    what: format!("lead '{}'", lead.lead_id),
                });
            }
            // A minor with no parental consent in force (a new lead has none) is
            // erased in this same transaction.
            if lead.age == AgeStatus::Minor
                && !has_parental_consent_in(&mut tx, tenant, &lead.lead_id, now, &action).await?
            {
                erase_in(&mut tx, tenant, &lead.lead_id, now, &action).await?;
                erased.push(lead.lead_id.clone());
            }
        }
        tx.commit().await.map_err(commit_error(action.clone()))?;
        for lead in leads {
            // A decision may have cached "no such lead" before the import.
            self.leads.invalidate(tenant, &lead.lead_id);
        }
        if !erased.is_empty() {
            self.truncate_wal(&format!(
                "{action}, which erased {} minors' data (erase those leads again to remove the old copies)",
                erased.len()
            ))
            .await?;
        }
        Ok(erased)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant), err(level = "debug"))]
    async fn erase_lead(&self, tenant: &str, lead_id: &str, at_ms: i64) -> Result<(), StoreError> {
        let erased = self.erase_lead_uncached(tenant, lead_id, at_ms).await;
        self.leads.invalidate(tenant, lead_id);
        erased
    }

    async fn grant_consent(&self, consent: &NewConsent) -> Result<ConsentRecord, StoreError> {
        let granted = self.grant_consent_uncached(consent).await;
        self.leads.invalidate(&consent.tenant, &consent.lead_id);
        granted
    }

    async fn withdraw_consent(
        &self,
        tenant: &str,
        consent_id: i64,
        at_ms: i64,
    ) -> Result<ConsentRecord, StoreError> {
        let withdrawn = self
            .withdraw_consent_uncached(tenant, consent_id, at_ms)
            .await?;
        self.leads.invalidate(tenant, &withdrawn.lead);
        Ok(withdrawn)
    }

    async fn consents(
        &self,
        tenant: &str,
        lead_id: &str,
    ) -> Result<Vec<ConsentRecord>, StoreError> {
        if let Some(consents) = self.leads.consents(tenant, lead_id) {
            return Ok(consents);
        }
        let ticket = self.leads.ticket();
        let consents = self.consents_uncached(tenant, lead_id).await?;
        self.leads.put_consents(tenant, lead_id, ticket, &consents);
        Ok(consents)
    }

    async fn lead_snapshot(
        &self,
        tenant: &str,
        lead_id: &str,
    ) -> Result<std::sync::Arc<LeadSnapshot>, StoreError> {
        if let Some(snapshot) = self.leads.snapshot(tenant, lead_id) {
            return Ok(snapshot);
        }
        let ticket = self.leads.ticket();
        let snapshot = std::sync::Arc::new(LeadSnapshot {
            lead: self.lead_uncached(tenant, lead_id).await?,
            consents: self.consents_uncached(tenant, lead_id).await?,
        });
        self.leads.put_snapshot(tenant, lead_id, ticket, &snapshot);
        Ok(snapshot)
    }

    async fn unknown_age_leads(
        &self,
        tenant: &str,
        limit: u32,
    ) -> Result<UnknownAgeLeads, StoreError> {
        let action = || format!("listing the leads of unknown age of tenant '{tenant}'");
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM leads \
             WHERE tenant = ?1 AND age_status = 'unknown' AND erased_at_ms IS NULL",
        )
        .bind(tenant)
        .fetch_one(&self.reader)
        .await
        .map_err(|e| database(action(), e))?;
        let lead_ids = sqlx::query_scalar(
            "SELECT lead_id FROM leads \
             WHERE tenant = ?1 AND age_status = 'unknown' AND erased_at_ms IS NULL \
             ORDER BY lead_id LIMIT ?2",
        )
        .bind(tenant)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(|e| database(action(), e))?;
        Ok(UnknownAgeLeads {
            count: u64::try_from(count).unwrap_or_default(),
            lead_ids,
        })
    }
}

/// The database reads and writes behind the lead cache; `LeadStore` wraps them.
impl SqliteStore {
    async fn lead_uncached(&self, tenant: &str, lead_id: &str) -> Result<Option<Lead>, StoreError> {
        let row = sqlx::query(
            "SELECT tenant, lead_id, name, phone, email, location, language, preferences, \
                 age_status, restricted, erased_at_ms, created_at_ms, updated_at_ms \
             FROM leads WHERE tenant = ?1 AND lead_id = ?2",
        )
        .bind(tenant)
        .bind(lead_id)
        .fetch_optional(&self.reader)
        .await
        .map_err(|e| database(format!("reading lead '{lead_id}' of tenant '{tenant}'"), e))?;
        row.as_ref().map(lead_from_row).transpose()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %lead.tenant), err(level = "debug"))]
    async fn upsert_lead_uncached(&self, lead: &Lead) -> Result<(), StoreError> {
        let action = format!(
            "writing lead '{}' of tenant '{}'",
            lead.lead_id, lead.tenant
        );
        let now = now_ms();
        let mut tx = self.begin(&action).await?;
        ensure_tenant_in(&mut tx, &lead.tenant, now).await?;
        // The WHERE makes the update a no-op on an erased lead: it is never revived.
        let done = sqlx::query(
            "INSERT INTO leads (tenant, lead_id, name, phone, email, location, language, \
                 preferences, age_status, restricted, created_at_ms, updated_at_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11) \
             ON CONFLICT (tenant, lead_id) DO UPDATE SET \
                 name = excluded.name, phone = excluded.phone, email = excluded.email, \
                 location = excluded.location, language = excluded.language, \
                 preferences = excluded.preferences, age_status = excluded.age_status, \
                 restricted = excluded.restricted, updated_at_ms = excluded.updated_at_ms \
             WHERE leads.erased_at_ms IS NULL",
        )
        .bind_lead(&lead.tenant, lead, now)
        .execute(&mut *tx)
        .await
        .map_err(|e| database(action.clone(), e))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::LeadErased {
                tenant: lead.tenant.clone(),
                lead: lead.lead_id.clone(),
            });
        }
        tx.commit().await.map_err(commit_error(action))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant), err(level = "debug"))]
    async fn update_lead_uncached(
        &self,
        tenant: &str,
        lead_id: &str,
        update: &LeadUpdate,
    ) -> Result<Lead, StoreError> {
        let action = format!("updating lead '{lead_id}' of tenant '{tenant}'");
        let preferences = update
            .preferences
            .as_ref()
            .map(|p| p.as_ref().map(|map| Value::Object(map.clone()).to_string()));
        // One statement over the stored row: a column the update does not name keeps
        // whatever is stored when it runs, never a value read before.
        const UPDATE_LEAD: &str = "UPDATE leads SET \
                 name = CASE WHEN ?3 THEN ?4 ELSE name END, \
                 phone = CASE WHEN ?5 THEN ?6 ELSE phone END, \
                 email = CASE WHEN ?7 THEN ?8 ELSE email END, \
                 location = CASE WHEN ?9 THEN ?10 ELSE location END, \
                 language = CASE WHEN ?11 THEN ?12 ELSE language END, \
                 preferences = CASE WHEN ?13 THEN ?14 ELSE preferences END, \
                 age_status = COALESCE(?15, age_status), \
                 restricted = COALESCE(?16, restricted), \
                 updated_at_ms = ?17 \
             WHERE tenant = ?1 AND lead_id = ?2 AND erased_at_ms IS NULL \
             RETURNING tenant, lead_id, name, phone, email, location, language, preferences, \
                 age_status, restricted, erased_at_ms, created_at_ms, updated_at_ms";
        let mut tx = self.begin(&action).await?;
        let row = sqlx::query(UPDATE_LEAD)
            .bind(tenant)
            .bind(lead_id)
            .bind(update.name.is_some())
            .bind(update.name.clone().flatten())
            .bind(update.phone.is_some())
            .bind(update.phone.clone().flatten())
            .bind(update.email.is_some())
            .bind(update.email.clone().flatten())
            .bind(update.location.is_some())
            .bind(update.location.clone().flatten())
            .bind(update.language.is_some())
            .bind(update.language.clone().flatten())
            .bind(preferences.is_some())
            .bind(preferences.flatten())
            .bind(update.age.map(|age| age.as_str()))
            .bind(update.restricted)
            .bind(now_ms())
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| database(action.clone(), e))?;
        let Some(row) = row else {
            // Nothing written: say why (no such lead, or an erased one).
            require_live_lead(&mut tx, tenant, lead_id).await?;
            return Err(database(
                action,
                sqlx::Error::Protocol("the lead is live but the update changed no row".into()),
            ));
        };
        let mut lead = lead_from_row(&row)?;
        // A correction saying the lead is a minor, with no parental consent in
        // force, erases their data in this same transaction.
        let now = now_ms();
        let erase = update.age == Some(AgeStatus::Minor)
            && !has_parental_consent_in(&mut tx, tenant, lead_id, now, &action).await?;
        if erase {
            erase_in(&mut tx, tenant, lead_id, now, &action).await?;
            lead = self.lead_in(&mut tx, tenant, lead_id, &action).await?;
        }
        tx.commit().await.map_err(commit_error(action.clone()))?;
        if erase {
            self.truncate_wal(&format!(
                "{action}, which erased the minor's data (erase the lead again to remove the old copies)"
            ))
            .await?;
        }
        Ok(lead)
    }

    /// The lead as stored, read inside `conn`'s transaction.
    async fn lead_in(
        &self,
        conn: &mut SqliteConnection,
        tenant: &str,
        lead_id: &str,
        action: &str,
    ) -> Result<Lead, StoreError> {
        let row = sqlx::query(
            "SELECT tenant, lead_id, name, phone, email, location, language, preferences, \
                 age_status, restricted, erased_at_ms, created_at_ms, updated_at_ms \
             FROM leads WHERE tenant = ?1 AND lead_id = ?2",
        )
        .bind(tenant)
        .bind(lead_id)
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| database(action, e))?;
        lead_from_row(&row)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant), err(level = "debug"))]
    async fn erase_lead_uncached(
        &self,
        tenant: &str,
        lead_id: &str,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let action = format!("erasing lead '{lead_id}' of tenant '{tenant}'");
        let mut tx = self.begin(&action).await?;
        erase_in(&mut tx, tenant, lead_id, at_ms, &action).await?;
        tx.commit().await.map_err(commit_error(action.clone()))?;
        self.truncate_wal(&format!(
            "{action} (the lead is erased; erase it again to remove the old copies)"
        ))
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %consent.tenant, purpose = %consent.purpose), err(level = "debug"))]
    async fn grant_consent_uncached(
        &self,
        consent: &NewConsent,
    ) -> Result<ConsentRecord, StoreError> {
        if let Some(expires) = consent.expires_at_ms
            && expires <= consent.granted_at_ms
        {
            return Err(StoreError::Invalid {
                what: format!("consent for lead '{}'", consent.lead_id),
                detail: format!(
                    "expires at {expires} ms, not after it is granted at {} ms",
                    consent.granted_at_ms
                ),
            });
        }
        let action = format!(
            "recording consent for {} of lead '{}' of tenant '{}'",
            consent.purpose, consent.lead_id, consent.tenant
        );
        let mut tx = self.begin(&action).await?;
        require_live_lead(&mut tx, &consent.tenant, &consent.lead_id).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO consents (tenant, lead_id, purpose, channel, granted_at_ms, \
                 expires_at_ms, source, evidence, parental) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING id",
        )
        .bind(&consent.tenant)
        .bind(&consent.lead_id)
        .bind(consent.purpose.as_str())
        .bind(consent.channel.map(|c| c.as_str()))
        .bind(consent.granted_at_ms)
        .bind(consent.expires_at_ms)
        .bind(&consent.source)
        .bind(&consent.evidence)
        .bind(consent.parental)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| database(action.clone(), e))?;
        tx.commit().await.map_err(commit_error(action))?;
        Ok(ConsentRecord {
            id,
            tenant: consent.tenant.clone(),
            lead: consent.lead_id.clone(),
            purpose: consent.purpose,
            channel: consent.channel,
            granted_at_ms: consent.granted_at_ms,
            expires_at_ms: consent.expires_at_ms,
            withdrawn_at_ms: None,
            source: consent.source.clone(),
            evidence: consent.evidence.clone(),
            parental: consent.parental,
        })
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant, consent_id = consent_id), err(level = "debug"))]
    async fn withdraw_consent_uncached(
        &self,
        tenant: &str,
        consent_id: i64,
        at_ms: i64,
    ) -> Result<ConsentRecord, StoreError> {
        let action = format!("withdrawing consent {consent_id} of tenant '{tenant}'");
        let mut tx = self.begin(&action).await?;
        sqlx::query(
            "UPDATE consents SET withdrawn_at_ms = COALESCE(withdrawn_at_ms, ?3) \
             WHERE tenant = ?1 AND id = ?2",
        )
        .bind(tenant)
        .bind(consent_id)
        .bind(at_ms)
        .execute(&mut *tx)
        .await
        .map_err(|e| database(action.clone(), e))?;
        let record = consent_by_id(&mut tx, tenant, consent_id).await?;
        tx.commit().await.map_err(commit_error(action))?;
        Ok(record)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant), err(level = "debug"))]
    async fn consents_uncached(
        &self,
        tenant: &str,
        lead_id: &str,
    ) -> Result<Vec<ConsentRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, tenant, lead_id, purpose, channel, granted_at_ms, expires_at_ms, \
                 withdrawn_at_ms, source, evidence, parental \
             FROM consents WHERE tenant = ?1 AND lead_id = ?2 ORDER BY id",
        )
        .bind(tenant)
        .bind(lead_id)
        .fetch_all(&self.reader)
        .await
        .map_err(|e| {
            database(
                format!("reading consents of lead '{lead_id}' of tenant '{tenant}'"),
                e,
            )
        })?;
        rows.iter().map(consent_from_row).collect()
    }
}

/// Erases a lead inside the caller's transaction `conn` (see
/// [`LeadStore::erase_lead`]): clears its personal fields, deletes its tags, strips
/// and cancels its messages, and replaces the stored results of its calls and of
/// any call quoting its name, phone or email. The caller commits, then truncates
/// the WAL so no old copy is left.
async fn erase_in(
    conn: &mut SqliteConnection,
    tenant: &str,
    lead_id: &str,
    at_ms: i64,
    action: &str,
) -> Result<(), StoreError> {
    let fail = |e: sqlx::Error| database(action, e);
    // The identifying values, read before they are cleared, to find other calls'
    // results that quote them.
    let values: Option<(Option<String>, Option<String>, Option<String>)> =
        sqlx::query_as("SELECT name, phone, email FROM leads WHERE tenant = ?1 AND lead_id = ?2")
            .bind(tenant)
            .bind(lead_id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(fail)?;
    let Some((name, phone, email)) = values else {
        return Err(StoreError::UnknownLead {
            tenant: tenant.into(),
            lead: lead_id.into(),
        });
    };
    sqlx::query(
        "UPDATE leads SET name = NULL, phone = NULL, email = NULL, location = NULL, \
                 language = NULL, preferences = NULL, \
                 erased_at_ms = COALESCE(erased_at_ms, ?3), updated_at_ms = ?3 \
             WHERE tenant = ?1 AND lead_id = ?2",
    )
    .bind(tenant)
    .bind(lead_id)
    .bind(at_ms)
    .execute(&mut *conn)
    .await
    .map_err(fail)?;
    sqlx::query("DELETE FROM lead_tags WHERE tenant = ?1 AND lead_id = ?2")
        .bind(tenant)
        .bind(lead_id)
        .execute(&mut *conn)
        .await
        .map_err(fail)?;
    sqlx::query(
        "UPDATE message_outbox SET params = NULL, address = NULL, updated_at_ms = ?3, \
                 status = CASE status WHEN 'queued' THEN 'cancelled' ELSE status END \
             WHERE tenant = ?1 AND lead_id = ?2",
    )
    .bind(tenant)
    .bind(lead_id)
    .bind(at_ms)
    .execute(&mut *conn)
    .await
    .map_err(fail)?;
    let note = erased_call_result().to_string();
    sqlx::query(
        "UPDATE calls SET result = ?3 \
             WHERE tenant = ?1 AND lead_id = ?2 AND result IS NOT NULL",
    )
    .bind(tenant)
    .bind(lead_id)
    .bind(&note)
    .execute(&mut *conn)
    .await
    .map_err(fail)?;
    for quoted in quoted_forms([name, phone, email].into_iter().flatten()) {
        sqlx::query(
            "UPDATE calls SET result = ?2 \
                 WHERE tenant = ?1 AND result IS NOT NULL AND instr(result, ?3) > 0",
        )
        .bind(tenant)
        .bind(&note)
        .bind(quoted)
        .execute(&mut *conn)
        .await
        .map_err(fail)?;
    }
    Ok(())
}

/// The shortest value an erasure looks for in other calls' results: a shorter one
/// would match text that has nothing to do with the lead.
const MIN_QUOTED_LEN: usize = 4;

/// How an identifying value can appear in a stored result (JSON text): as itself,
/// and as the inside of a JSON string when escaping changes it.
fn quoted_forms(values: impl Iterator<Item = String>) -> Vec<String> {
    let mut forms = Vec::new();
    for value in values.filter(|v| v.chars().count() >= MIN_QUOTED_LEN) {
        let json = Value::String(value.clone()).to_string();
        let escaped = json[1..json.len() - 1].to_owned();
        if escaped != value {
            forms.push(escaped);
        }
        forms.push(value);
    }
    forms
}

/// Whether the lead has a verifiable parental consent in force at `now_ms`
/// (granted, neither withdrawn nor expired), read inside `conn`'s transaction.
async fn has_parental_consent_in(
    conn: &mut SqliteConnection,
    tenant: &str,
    lead_id: &str,
    now_ms: i64,
    action: &str,
) -> Result<bool, StoreError> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM consents WHERE tenant = ?1 AND lead_id = ?2 \
             AND parental = 1 AND granted_at_ms <= ?3 \
             AND (withdrawn_at_ms IS NULL OR withdrawn_at_ms > ?3) \
             AND (expires_at_ms IS NULL OR expires_at_ms > ?3))",
    )
    .bind(tenant)
    .bind(lead_id)
    .bind(now_ms)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| database(action, e))
}

/// Fails unless the tenant has the lead and it is not erased.
pub(super) async fn require_live_lead(
    conn: &mut SqliteConnection,
    tenant: &str,
    lead_id: &str,
) -> Result<(), StoreError> {
    let erased: Option<Option<i64>> =
        sqlx::query_scalar("SELECT erased_at_ms FROM leads WHERE tenant = ?1 AND lead_id = ?2")
            .bind(tenant)
            .bind(lead_id)
            .fetch_optional(conn)
            .await
            .map_err(|e| {
                database(
                    format!("looking up lead '{lead_id}' of tenant '{tenant}'"),
                    e,
                )
            })?;
    match erased {
        None => Err(StoreError::UnknownLead {
            tenant: tenant.into(),
            lead: lead_id.into(),
        }),
        Some(Some(_)) => Err(StoreError::LeadErased {
            tenant: tenant.into(),
            lead: lead_id.into(),
        }),
        Some(None) => Ok(()),
    }
}

async fn consent_by_id(
    conn: &mut SqliteConnection,
    tenant: &str,
    id: i64,
) -> Result<ConsentRecord, StoreError> {
    let row = sqlx::query(
        "SELECT id, tenant, lead_id, purpose, channel, granted_at_ms, expires_at_ms, \
         withdrawn_at_ms, source, evidence, parental FROM consents WHERE tenant = ?1 AND id = ?2",
    )
    .bind(tenant)
    .bind(id)
    .fetch_optional(conn)
    .await
    .map_err(|e| database(format!("reading consent {id} of tenant '{tenant}'"), e))?
    .ok_or_else(|| StoreError::NotFound {
        tenant: tenant.into(),
        what: format!("consent {id}"),
    })?;
    consent_from_row(&row)
}

/// Binds a lead's eleven columns, in the order both lead writes list them:
/// tenant, lead id, the personal fields, preferences (JSON text), age,
/// restriction and the write time.
trait BindLead<'q> {
    fn bind_lead(self, tenant: &'q str, lead: &'q Lead, now: i64) -> Self;
}

impl<'q> BindLead<'q> for sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments> {
    fn bind_lead(self, tenant: &'q str, lead: &'q Lead, now: i64) -> Self {
        let preferences = lead
            .preferences
            .as_ref()
            .map(|p| Value::Object(p.clone()).to_string());
        self.bind(tenant)
            .bind(&lead.lead_id)
            .bind(&lead.name)
            .bind(&lead.phone)
            .bind(&lead.email)
            .bind(&lead.location)
            .bind(&lead.language)
            .bind(preferences)
            .bind(lead.age.as_str())
            .bind(lead.restricted)
            .bind(now)
    }
}

fn lead_from_row(row: &SqliteRow) -> Result<Lead, StoreError> {
    let tenant: String = get(row, "leads", "tenant")?;
    let lead_id: String = get(row, "leads", "lead_id")?;
    let which = || format!("tenant '{tenant}' lead '{lead_id}'");
    let age = parse(
        "leads",
        "age_status",
        which,
        get(row, "leads", "age_status")?,
    )?;
    let preferences = match get::<Option<String>>(row, "leads", "preferences")? {
        None => None,
        Some(text) => match parse_json("leads", "preferences", which, text.clone())? {
            Value::Object(map) => Some(map),
            _ => {
                return Err(StoreError::Corrupt {
                    table: "leads",
                    column: "preferences",
                    row: which(),
                    value: text,
                    detail: "not a JSON object".into(),
                });
            }
        },
    };
    Ok(Lead {
        name: get(row, "leads", "name")?,
        phone: get(row, "leads", "phone")?,
        email: get(row, "leads", "email")?,
        location: get(row, "leads", "location")?,
        language: get(row, "leads", "language")?,
        preferences,
        age,
        restricted: get(row, "leads", "restricted")?,
        erased_at_ms: get(row, "leads", "erased_at_ms")?,
        created_at_ms: get(row, "leads", "created_at_ms")?,
        updated_at_ms: get(row, "leads", "updated_at_ms")?,
        tenant,
        lead_id,
    })
}

fn consent_from_row(row: &SqliteRow) -> Result<ConsentRecord, StoreError> {
    let id: i64 = get(row, "consents", "id")?;
    let which = || format!("consent {id}");
    let channel = match get::<Option<String>>(row, "consents", "channel")? {
        None => None,
        Some(text) => Some(parse("consents", "channel", which, text)?),
    };
    Ok(ConsentRecord {
        id,
        tenant: get(row, "consents", "tenant")?,
        lead: get(row, "consents", "lead_id")?,
        purpose: parse(
            "consents",
            "purpose",
            which,
            get(row, "consents", "purpose")?,
        )?,
        channel,
        granted_at_ms: get(row, "consents", "granted_at_ms")?,
        expires_at_ms: get(row, "consents", "expires_at_ms")?,
        withdrawn_at_ms: get(row, "consents", "withdrawn_at_ms")?,
        source: get(row, "consents", "source")?,
        evidence: get(row, "consents", "evidence")?,
        parental: get(row, "consents", "parental")?,
    })
}
