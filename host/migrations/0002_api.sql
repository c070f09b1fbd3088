-- 0002: what the HTTP API (`cally serve`) persists: API keys, uploaded plugin
-- versions, and the reviewers' decisions on them.
--
-- Never edit this file once released: add 0003_*.sql instead. Same conventions as
-- 0001 (times in *_ms, STRICT tables, enumerations CHECKed, keys start with the tenant).

-- An API key. Only its SHA-256 is stored: the key itself is shown once, when it is
-- issued. A platform admin's key belongs to no tenant; every other key to one.
CREATE TABLE api_keys (
    key_hash      TEXT    NOT NULL PRIMARY KEY,   -- lowercase hex SHA-256 of the key
    tenant        TEXT    REFERENCES tenants (id),
    role          TEXT    NOT NULL
                          CHECK (role IN ('platform-admin', 'tenant-admin', 'developer', 'reviewer', 'runtime')),
    label         TEXT    NOT NULL,               -- who or what holds it, for people
    created_at_ms INTEGER NOT NULL,
    CHECK ((role = 'platform-admin') = (tenant IS NULL))
) STRICT;
CREATE INDEX api_keys_by_tenant ON api_keys (tenant);

-- One uploaded version of a tenant's plugin: the exact bytes that were checked
-- (component and manifest), so an approval of their digests means these bytes.
-- Rows are never updated or deleted; upload order is `id` order.
CREATE TABLE plugin_versions (
    id               INTEGER NOT NULL PRIMARY KEY,
    tenant           TEXT    NOT NULL REFERENCES tenants (id),
    plugin           TEXT    NOT NULL,
    version          TEXT    NOT NULL,
    world            TEXT    NOT NULL CHECK (world IN ('call-flow', 'lead-tagger')),
    component        BLOB    NOT NULL,
    manifest         TEXT    NOT NULL,
    component_digest TEXT    NOT NULL,             -- sha256:<hex> of component
    manifest_digest  TEXT    NOT NULL,             -- sha256:<hex> of manifest
    uploaded_by      TEXT    NOT NULL,             -- the uploading key's label
    uploaded_at_ms   INTEGER NOT NULL,
    UNIQUE (tenant, plugin, version)
) STRICT;

-- What reviewers did to a plugin's versions, in order. A plugin's release state
-- (which version is approved, active, superseded, rolled back) is these events
-- replayed over its uploads through the approval model, so a restart keeps it.
CREATE TABLE plugin_release_events (
    id               INTEGER NOT NULL PRIMARY KEY,
    tenant           TEXT    NOT NULL REFERENCES tenants (id),
    plugin           TEXT    NOT NULL,
    kind             TEXT    NOT NULL CHECK (kind IN ('approve', 'activate', 'roll-back')),
    version          TEXT,                         -- NULL for roll-back
    actor            TEXT    NOT NULL,             -- the reviewer key's label
    component_digest TEXT,                         -- approve: the digests approved
    manifest_digest  TEXT,
    at_ms            INTEGER NOT NULL,
    CHECK ((kind = 'roll-back') = (version IS NULL))
) STRICT;
CREATE INDEX plugin_release_events_by_plugin ON plugin_release_events (tenant, plugin, id);
