-- 0004: a MAC on every record that binds a plugin version to its reviewed bytes.
--
-- Never edit this file once released: add 0005_*.sql instead. Same conventions as
-- 0001 (times in *_ms, STRICT tables, keys start with the tenant).

-- Hex HMAC-SHA256, under the host's approval key (<data-dir>/approval.key, never in
-- the database), over the row's tenant, plugin, version, digests and the rest of its
-- fields (not its id). NULL in rows written before this migration: the first start
-- after the upgrade signs them (see the README, "Approvals bind bytes"); a NULL
-- anywhere else refuses the version, as a wrong MAC does.
ALTER TABLE plugin_versions ADD COLUMN mac TEXT;
ALTER TABLE plugin_release_events ADD COLUMN mac TEXT;
