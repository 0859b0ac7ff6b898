-- What staff work with: API keys and their scopes, merges of contacts, open intents, the audit
-- log, and the suppression list that keeps erased people erased.

CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    -- the token's first characters, shown in listings to tell keys apart; not enough to use it
    prefix TEXT NOT NULL,
    -- SHA-256 of the whole token, hex; the token itself is shown once, at creation
    token_hash TEXT NOT NULL UNIQUE,
    -- space-separated: admin staff sender analyst privacy
    scopes TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER,
    last_used_at INTEGER
);

-- A merged contact's row is deleted; this remembers where it went, so that a vendor echoing the
-- old id still finds the person.
CREATE TABLE contact_merges (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    survivor_id INTEGER NOT NULL,
    merged_id INTEGER NOT NULL UNIQUE,
    merged_at INTEGER NOT NULL,
    merged_by TEXT NOT NULL,
    -- JSON: what moved
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX contact_merges_by_survivor ON contact_merges (survivor_id);

-- What a person is trying to get done, across channels, until it is resolved.
CREATE TABLE intents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    contact_id INTEGER NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    intent TEXT NOT NULL,
    -- open | resolved
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 1,
    -- JSON array of channel words, in first-touched order
    channels TEXT NOT NULL DEFAULT '[]',
    summary TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    resolved_at INTEGER,
    created_by TEXT NOT NULL
);
CREATE INDEX intents_by_contact ON intents (contact_id, status, updated_at DESC);

-- Who did what to whose data. No foreign key: the record outlives an erased contact.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    contact_id INTEGER,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_by_contact ON audit_log (contact_id, at);

-- Identifiers of erased people, hashed (SHA-256 of `kind:value`): webhooks naming them are not
-- attributed to anyone and create no one.
CREATE TABLE suppressions (
    kind TEXT NOT NULL,
    value_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (kind, value_hash)
);

-- Search by name.
CREATE INDEX contacts_by_name ON contacts (display_name);
-- A contact's interactions of one channel, for the context view.
CREATE INDEX interaction_log_by_contact_channel ON interaction_log (contact_id, channel, occurred_at DESC);
