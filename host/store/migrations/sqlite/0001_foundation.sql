-- The unified interaction log and what it hangs on: contacts, their identities, and every raw
-- webhook as the vendor sent it. Times are milliseconds since the Unix epoch, UTC.

CREATE TABLE contacts (
    -- AUTOINCREMENT: an erased contact's id is never handed to someone else, so a late webhook
    -- carrying it cannot attach to the wrong person.
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    display_name TEXT,
    timezone TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE identities (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    contact_id INTEGER NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    -- email | phone | external
    kind TEXT NOT NULL,
    -- normalized: lowercase email, E.164 phone, `system:id`
    value TEXT NOT NULL,
    -- who linked it: `plugin:<id>`, `staff:<key>`, ...
    source TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (kind, value)
);
CREATE INDEX identities_by_contact ON identities (contact_id);

CREATE TABLE raw_webhooks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    plugin_id TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    query TEXT NOT NULL,
    -- JSON array of [name, value] pairs, names lowercase, in the order received
    headers TEXT NOT NULL,
    body BLOB NOT NULL,
    -- processed | rejected (the plugin could not parse it) | failed (the plugin failed)
    status TEXT NOT NULL,
    error TEXT,
    interactions INTEGER NOT NULL DEFAULT 0,
    duplicates INTEGER NOT NULL DEFAULT 0,
    -- how many times it was handed to a plugin (first delivery plus replays)
    attempts INTEGER NOT NULL DEFAULT 1,
    processed_at INTEGER
);
CREATE INDEX raw_webhooks_by_status ON raw_webhooks (status, id);
CREATE INDEX raw_webhooks_by_plugin ON raw_webhooks (plugin_id, received_at);

CREATE TABLE interaction_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    contact_id INTEGER REFERENCES contacts (id) ON DELETE CASCADE,
    occurred_at INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    -- `<channel>_<event>`: email_opened, sms_replied, ...
    kind TEXT NOT NULL,
    category TEXT NOT NULL DEFAULT 'communication',
    channel TEXT NOT NULL,
    direction TEXT NOT NULL,
    outcome TEXT NOT NULL,
    vendor_status TEXT,
    plugin_id TEXT,
    -- the vendor (`sendgrid`, `twilio`), or NULL for Switchboard's own records
    external_system TEXT,
    vendor_message_id TEXT,
    vendor_event_id TEXT,
    raw_webhook_id INTEGER REFERENCES raw_webhooks (id) ON DELETE SET NULL,
    -- for events that follow a send: milliseconds since the message left us
    time_to_action_ms INTEGER,
    summary TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_by TEXT NOT NULL DEFAULT 'system'
);
-- A contact's timeline, newest first.
CREATE INDEX interaction_log_timeline ON interaction_log (contact_id, occurred_at DESC);
-- Every event of one message, to correlate and to measure time to action.
CREATE INDEX interaction_log_by_message ON interaction_log (vendor_message_id, channel);
-- A vendor retry of the same event adds nothing.
CREATE UNIQUE INDEX interaction_log_event_once
    ON interaction_log (external_system, vendor_event_id)
    WHERE vendor_event_id IS NOT NULL;
-- A channel's effectiveness over a period.
CREATE INDEX interaction_log_by_channel ON interaction_log (channel, occurred_at);
