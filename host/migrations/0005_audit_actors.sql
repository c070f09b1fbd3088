-- 0005: people's access to personal data in the audit log.
--
-- Never edit this file once released: add 0006_*.sql instead. Same conventions as
-- 0001 (times in *_ms, STRICT tables, keys start with the tenant).

-- A record of a person's request through the API names its actor: the API key's id
-- (never the key), its role, the client's address and the operation. All four are
-- NULL on a record of a plugin's use or of a host task (all rows written before this
-- migration), and all four are set on a person's; the canonical encoding (version 2,
-- see host/src/audit/record.rs) hashes them, so an edit to any is detected.
ALTER TABLE audit_log ADD COLUMN actor_key TEXT;
ALTER TABLE audit_log ADD COLUMN actor_role TEXT;
ALTER TABLE audit_log ADD COLUMN client_address TEXT;
ALTER TABLE audit_log ADD COLUMN operation TEXT;
-- `GET /v1/audit?actor=<key id>`.
CREATE INDEX audit_log_by_actor ON audit_log (tenant, actor_key, seq) WHERE actor_key IS NOT NULL;
