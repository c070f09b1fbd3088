-- 0003: per-tenant retention policies, and indexes for the purge that applies them.
--
-- Never edit this file once released: add 0004_*.sql instead. Same conventions as
-- 0001 (times in *_ms, STRICT tables, keys start with the tenant).

-- How long a tenant keeps ended calls (their stored results) and its message log
-- (outbox rows), in days; NULL keeps them until the lead is erased. Audit records are
-- never purged: they hold pseudonyms, not personal data, and the chain must verify.
CREATE TABLE retention_policies (
    tenant        TEXT    NOT NULL PRIMARY KEY REFERENCES tenants (id),
    calls_days    INTEGER CHECK (calls_days IS NULL OR calls_days BETWEEN 1 AND 36500),
    messages_days INTEGER CHECK (messages_days IS NULL OR messages_days BETWEEN 1 AND 36500),
    updated_at_ms INTEGER NOT NULL
) STRICT;

-- The purge deletes by tenant and age.
CREATE INDEX calls_by_age ON calls (tenant, ended_at_ms, started_at_ms);
CREATE INDEX message_outbox_by_age ON message_outbox (tenant, created_at_ms);
