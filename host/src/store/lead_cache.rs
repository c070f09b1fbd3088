//! An in-process cache of each lead's record and consents, the two reads every
//! personal-data decision makes.
//!
//! Every write to a lead or its consents goes through the same store, which
//! invalidates the lead's entry after its transaction commits; so a withdrawal
//! is seen by the very next decision, and the cache never keeps a value read
//! before a write that finished. A read that was already under way when a
//! write invalidated its entry does not store what it read (each entry
//! remembers when it was last invalidated, against a counter taken when the
//! read began).

use std::collections::HashMap;
use std::sync::Mutex;

use std::sync::Arc;

use super::{Lead, LeadSnapshot};
use crate::consent::ConsentRecord;

/// Most leads kept; past this the cache starts over, which costs one database
/// read per lead and nothing else.
const MAX_LEADS: usize = 50_000;

/// Cached lead records and consents, keyed by tenant and lead id. Shared by
/// every clone of its store, so a write through any clone invalidates it.
#[derive(Default)]
pub(crate) struct LeadCache {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Advances on every invalidation; a read takes it as its ticket.
    clock: u64,
    /// When the cache last started over.
    cleared_at: u64,
    entries: HashMap<(String, String), Entry>,
}

#[derive(Default)]
struct Entry {
    invalidated_at: u64,
    lead: Option<Option<Lead>>,
    consents: Option<Vec<ConsentRecord>>,
    snapshot: Option<Arc<LeadSnapshot>>,
}

/// Taken before reading the database; a value is stored only if no write
/// invalidated its lead since.
#[derive(Clone, Copy)]
pub(crate) struct Ticket(u64);

impl std::fmt::Debug for LeadCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeadCache")
            .field("leads", &self.state().entries.len())
            .finish()
    }
}

impl LeadCache {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A ticket for a database read about to begin.
    pub(crate) fn ticket(&self) -> Ticket {
        Ticket(self.state().clock)
    }

    /// The cached record of a lead (`Some(None)`: known not to exist).
    pub(crate) fn lead(&self, tenant: &str, lead_id: &str) -> Option<Option<Lead>> {
        let state = self.state();
        state.entries.get(&key(tenant, lead_id))?.lead.clone()
    }

    /// The cached consents of a lead.
    pub(crate) fn consents(&self, tenant: &str, lead_id: &str) -> Option<Vec<ConsentRecord>> {
        let state = self.state();
        state.entries.get(&key(tenant, lead_id))?.consents.clone()
    }

    /// The cached record and consents of a lead, shared.
    pub(crate) fn snapshot(&self, tenant: &str, lead_id: &str) -> Option<Arc<LeadSnapshot>> {
        let state = self.state();
        state.entries.get(&key(tenant, lead_id))?.snapshot.clone()
    }

    /// Stores a lead's record and consents read with `ticket`, unless a write came since.
    pub(crate) fn put_snapshot(
        &self,
        tenant: &str,
        lead_id: &str,
        ticket: Ticket,
        snapshot: &Arc<LeadSnapshot>,
    ) {
        self.put(tenant, lead_id, ticket, |entry| {
            entry.snapshot = Some(snapshot.clone())
        });
    }

    /// Stores a lead's record read with `ticket`, unless a write came since.
    pub(crate) fn put_lead(
        &self,
        tenant: &str,
        lead_id: &str,
        ticket: Ticket,
        lead: &Option<Lead>,
    ) {
        self.put(tenant, lead_id, ticket, |entry| {
            entry.lead = Some(lead.clone())
        });
    }

    /// Stores a lead's consents read with `ticket`, unless a write came since.
    pub(crate) fn put_consents(
        &self,
        tenant: &str,
        lead_id: &str,
        ticket: Ticket,
        consents: &[ConsentRecord],
    ) {
        self.put(tenant, lead_id, ticket, |entry| {
            entry.consents = Some(consents.to_vec())
        });
    }

    fn put(&self, tenant: &str, lead_id: &str, ticket: Ticket, fill: impl FnOnce(&mut Entry)) {
        let mut state = self.state();
        if state.cleared_at > ticket.0 {
            return;
        }
        if state.entries.len() >= MAX_LEADS {
            state.clock += 1;
            state.cleared_at = state.clock;
            state.entries.clear();
            return;
        }
        let entry = state.entries.entry(key(tenant, lead_id)).or_default();
        if entry.invalidated_at <= ticket.0 {
            fill(entry);
        }
    }

    /// Forgets a lead's record and consents; called after every committed write to them.
    pub(crate) fn invalidate(&self, tenant: &str, lead_id: &str) {
        let mut state = self.state();
        state.clock += 1;
        let now = state.clock;
        let entry = state.entries.entry(key(tenant, lead_id)).or_default();
        entry.invalidated_at = now;
        entry.lead = None;
        entry.consents = None;
        entry.snapshot = None;
    }
}

fn key(tenant: &str, lead_id: &str) -> (String, String) {
    (tenant.to_owned(), lead_id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lead(name: &str) -> Option<Lead> {
        let mut lead = Lead::new("t", "l");
        lead.name = Some(name.into());
        Some(lead)
    }

    #[test]
    fn a_read_is_cached_until_a_write_invalidates_it() {
        let cache = LeadCache::default();
        let ticket = cache.ticket();
        cache.put_lead("t", "l", ticket, &lead("Ada"));
        assert_eq!(
            cache.lead("t", "l").unwrap().unwrap().name.as_deref(),
            Some("Ada")
        );
        cache.invalidate("t", "l");
        assert!(cache.lead("t", "l").is_none());
    }

    #[test]
    fn a_read_that_began_before_a_write_is_not_cached() {
        let cache = LeadCache::default();
        let ticket = cache.ticket();
        // A write commits and invalidates while the read is under way...
        cache.invalidate("t", "l");
        // ...so what the read saw (possibly the old value) is not kept.
        cache.put_lead("t", "l", ticket, &lead("Old"));
        assert!(cache.lead("t", "l").is_none());
        let later = cache.ticket();
        cache.put_lead("t", "l", later, &lead("New"));
        assert_eq!(
            cache.lead("t", "l").unwrap().unwrap().name.as_deref(),
            Some("New")
        );
    }

    #[test]
    fn a_shared_snapshot_is_dropped_by_a_write_and_not_kept_from_before_one() {
        let cache = LeadCache::default();
        let snapshot = Arc::new(LeadSnapshot {
            lead: lead("Ada"),
            consents: Vec::new(),
        });
        let ticket = cache.ticket();
        cache.put_snapshot("t", "l", ticket, &snapshot);
        assert!(Arc::ptr_eq(&cache.snapshot("t", "l").unwrap(), &snapshot));
        cache.invalidate("t", "l");
        assert!(cache.snapshot("t", "l").is_none());
        cache.put_snapshot("t", "l", ticket, &snapshot);
        assert!(cache.snapshot("t", "l").is_none(), "read before the write");
    }

    #[test]
    fn leads_and_tenants_are_kept_apart() {
        let cache = LeadCache::default();
        let ticket = cache.ticket();
        cache.put_consents("t", "l", ticket, &[]);
        assert!(cache.consents("t", "l").is_some());
        assert!(cache.consents("other", "l").is_none());
        cache.invalidate("t", "other-lead");
        assert!(cache.consents("t", "l").is_some());
    }
}
