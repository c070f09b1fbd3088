-- 0001: the first schema of a Cally host's database.
--
-- Never edit this file once released: add 0002_*.sql instead (sqlx checks checksums).
-- Written for SQLite; the PostgreSQL backend gets its own migrations with the same
-- tables, columns and meaning.
--
-- Conventions:
--   * times are INTEGER milliseconds since the Unix epoch (host clock), columns *_ms;
--   * booleans are INTEGER 0/1 with a CHECK;
--   * enumerations (purpose, channel, age status, ...) are stored as their kebab-case
--     spelling, checked here so a bad value cannot be stored by the host either;
--   * every row belongs to a tenant, and every key starts with the tenant, so no query
--     can reach another tenant's rows by id alone;
--   * STRICT tables: SQLite refuses a value of the wrong type instead of storing it.

-- A business using the platform. Rows are created on first use (a lead, a call or an
-- audit record for a new tenant); the API issue adds names and keys.
CREATE TABLE tenants (
    id            TEXT    NOT NULL PRIMARY KEY,
    created_at_ms INTEGER NOT NULL
) STRICT;

-- A tenant's lead: the person called. Personal fields are nullable: unknown, or
-- cleared by erasure (erased_at_ms set, the row kept so reads can be denied
-- `lead-erased` and consents keep their lead).
CREATE TABLE leads (
    tenant        TEXT    NOT NULL REFERENCES tenants (id),
    lead_id       TEXT    NOT NULL,           -- chosen by the tenant
    name          TEXT,
    phone         TEXT,
    email         TEXT,
    location      TEXT,
    language      TEXT,
    preferences   TEXT CHECK (preferences IS NULL OR json_type(preferences) = 'object'),
    age_status    TEXT    NOT NULL DEFAULT 'unknown'
                          CHECK (age_status IN ('adult', 'minor', 'unknown')),
    restricted    INTEGER NOT NULL DEFAULT 0 CHECK (restricted IN (0, 1)),
    erased_at_ms  INTEGER,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    PRIMARY KEY (tenant, lead_id)
) STRICT;

-- One consent a lead gave for one purpose (and channel, for messages). Rows are never
-- deleted: a withdrawal sets withdrawn_at_ms, so the history stays as evidence.
CREATE TABLE consents (
    id              INTEGER NOT NULL PRIMARY KEY,
    tenant          TEXT    NOT NULL,
    lead_id         TEXT    NOT NULL,
    purpose         TEXT    NOT NULL
                            CHECK (purpose IN ('call-handling', 'crm-tagging', 'marketing', 'analytics')),
    channel         TEXT    CHECK (channel IS NULL OR channel IN ('voice', 'sms', 'whatsapp', 'email')),
    granted_at_ms   INTEGER NOT NULL,
    expires_at_ms   INTEGER,
    withdrawn_at_ms INTEGER,
    source          TEXT    NOT NULL,         -- where it was collected: web-form, call, ...
    evidence        TEXT    NOT NULL,         -- what proves it: form id, recording ref, ...
    parental        INTEGER NOT NULL DEFAULT 0 CHECK (parental IN (0, 1)), -- verifiable parental consent
    FOREIGN KEY (tenant, lead_id) REFERENCES leads (tenant, lead_id)
) STRICT;
-- decide() reads all of a lead's consents on every read.
CREATE INDEX consents_by_lead ON consents (tenant, lead_id);

-- One call a plugin ran in. result is the call's result as JSON, set when it ends.
CREATE TABLE calls (
    tenant           TEXT    NOT NULL REFERENCES tenants (id),
    call_id          TEXT    NOT NULL,
    plugin           TEXT    NOT NULL,
    plugin_version   TEXT    NOT NULL,
    component_digest TEXT    NOT NULL,
    lead_id          TEXT,                    -- NULL: caller not (yet) known as a lead
    started_at_ms    INTEGER NOT NULL,
    ended_at_ms      INTEGER,
    result           TEXT CHECK (result IS NULL OR json_valid(result)),
    PRIMARY KEY (tenant, call_id)
) STRICT;

-- CRM tags written on leads by plugins. call_id is not a foreign key: tags written
-- outside a recorded call (simulation, imports) are still tags.
CREATE TABLE lead_tags (
    id            INTEGER NOT NULL PRIMARY KEY,
    tenant        TEXT    NOT NULL,
    lead_id       TEXT    NOT NULL,
    tag           TEXT    NOT NULL,
    call_id       TEXT    NOT NULL,
    plugin        TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL,
    FOREIGN KEY (tenant, lead_id) REFERENCES leads (tenant, lead_id)
) STRICT;
CREATE INDEX lead_tags_by_lead ON lead_tags (tenant, lead_id);

-- Messages plugins asked to send, after the consent check. The plugin never sees the
-- address: the host resolves it from the lead record when it sends, and records it here.
CREATE TABLE message_outbox (
    id            INTEGER NOT NULL PRIMARY KEY,
    tenant        TEXT    NOT NULL,
    lead_id       TEXT    NOT NULL,
    channel       TEXT    NOT NULL CHECK (channel IN ('voice', 'sms', 'whatsapp', 'email')),
    template      TEXT    NOT NULL,
    params        TEXT    CHECK (params IS NULL OR json_valid(params)), -- NULL once erased
    call_id       TEXT    NOT NULL,
    status        TEXT    NOT NULL DEFAULT 'queued'
                          CHECK (status IN ('queued', 'sent', 'failed', 'cancelled')),
    address       TEXT,                       -- filled by the host at send time
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    FOREIGN KEY (tenant, lead_id) REFERENCES leads (tenant, lead_id)
) STRICT;
CREATE INDEX message_outbox_by_status ON message_outbox (status, created_at_ms);

-- The audit log: one row per use of personal data, hash-chained per tenant (see
-- host/src/audit/record.rs for the canonical encoding). Append-only: the host never
-- updates or deletes a row. No foreign keys: a record outlives whatever it mentions.
-- purpose/decision/reason are not CHECKed: a newer version may write values this one
-- does not know, and verification must still see (and hash) them.
CREATE TABLE audit_log (
    tenant           TEXT    NOT NULL,
    seq              INTEGER NOT NULL CHECK (seq >= 1), -- 1, 2, 3, ... per tenant
    time_ms          INTEGER NOT NULL,
    plugin           TEXT    NOT NULL,
    plugin_version   TEXT    NOT NULL,
    component_digest TEXT    NOT NULL,
    call_id          TEXT    NOT NULL,
    lead             TEXT,                    -- pseudonym (keyed hash), never the lead id
    resource         TEXT    NOT NULL,
    purpose          TEXT    NOT NULL,
    decision         TEXT    NOT NULL,
    reason           TEXT,
    consent_id       INTEGER,
    prev_hash        TEXT    NOT NULL,
    hash             TEXT    NOT NULL,
    PRIMARY KEY (tenant, seq)
) STRICT;
-- Exports by lead and time range.
CREATE INDEX audit_log_by_lead ON audit_log (tenant, lead, seq);
CREATE INDEX audit_log_by_time ON audit_log (tenant, time_ms);

-- The newest record of each tenant's chain, updated in the same transaction as every
-- append. Verification compares it with the log's last row, so deleting the newest
-- record(s) is detected too; the next append continues from here.
CREATE TABLE audit_heads (
    tenant    TEXT    NOT NULL PRIMARY KEY,
    last_seq  INTEGER NOT NULL,
    last_hash TEXT    NOT NULL
) STRICT;
