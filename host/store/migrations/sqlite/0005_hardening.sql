-- Hardening: what is kept of requests nobody verified, tokens a webhook may use only once, the
-- server key's check value, and keyed (HMAC) suppression hashes.

-- Whether the host saw the request's signature verified before storing it. An unverified request
-- is kept only where our own configuration kept the plugin from verifying it, within a budget per
-- plugin. Rows stored before this column existed count as verified.
ALTER TABLE raw_webhooks ADD COLUMN verified INTEGER NOT NULL DEFAULT 1;
-- When an erasure removed someone's events from this request's body.
ALTER TABLE raw_webhooks ADD COLUMN redacted_at INTEGER;
CREATE INDEX raw_webhooks_unverified ON raw_webhooks (plugin_id, id) WHERE verified = 0;

-- Signed values a webhook may use once (Mailgun's token): the first request that commits one
-- owns it until it expires; another request using it is refused as a replay.
CREATE TABLE webhook_nonces (
    plugin_id TEXT NOT NULL,
    nonce TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    raw_webhook_id INTEGER REFERENCES raw_webhooks (id) ON DELETE SET NULL,
    PRIMARY KEY (plugin_id, nonce)
);
CREATE INDEX webhook_nonces_by_expiry ON webhook_nonces (expires_at);

-- Facts about the server itself, e.g. a check value of the server key (never the key).
CREATE TABLE server_meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- `sha256`: SHA-256 of `kind:value` (before this migration; rewritten at start-up), `hmac`:
-- HMAC-SHA256 with the server key of that SHA-256, so the list cannot be enumerated without the
-- key.
ALTER TABLE suppressions ADD COLUMN scheme TEXT NOT NULL DEFAULT 'sha256';

-- Which people each stored webhook is about — through its new events and through the repeats of
-- events the log already held (a vendor's retry) — so that export and erasure find every copy of
-- a person's events.
CREATE TABLE webhook_contacts (
    contact_id INTEGER NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    raw_webhook_id INTEGER NOT NULL REFERENCES raw_webhooks (id) ON DELETE CASCADE,
    PRIMARY KEY (contact_id, raw_webhook_id)
);
CREATE INDEX webhook_contacts_by_webhook ON webhook_contacts (raw_webhook_id);
INSERT INTO webhook_contacts (contact_id, raw_webhook_id)
    SELECT DISTINCT contact_id, raw_webhook_id FROM interaction_log
    WHERE contact_id IS NOT NULL AND raw_webhook_id IS NOT NULL;

-- How many times an attempt's lease ran out (its dispatcher stopped, or could not record the
-- vendor's answer). The first time it is tried again; after that it stops as `unknown`.
ALTER TABLE message_attempts ADD COLUMN recoveries INTEGER NOT NULL DEFAULT 0;
