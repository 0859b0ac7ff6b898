-- The outbox: messages staff or systems asked to send, the attempts that carry each one on a
-- channel, the history of both, and the two carriers Switchboard runs itself (the staff call
-- queue and the portal inbox).

-- One row per message. `plan` is the channel order selection chose when it was accepted (JSON);
-- `accepted` is the response its creation returned, given again to a repeated request with the
-- same idempotency key; `request_digest` tells a true repeat from a reused key.
CREATE TABLE messages (
    id TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    request_digest TEXT NOT NULL,
    contact_id INTEGER NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    urgency TEXT NOT NULL,
    kind TEXT NOT NULL,
    content TEXT NOT NULL,
    allow_fallback INTEGER NOT NULL,
    not_before INTEGER,
    plan TEXT NOT NULL,
    accepted TEXT NOT NULL,
    -- pending (an attempt is queued or in flight), sent (the vendor took it), delivered (it
    -- reached them or they engaged: final), failed (no channel left: final)
    status TEXT NOT NULL,
    status_reason TEXT,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX messages_by_contact ON messages (contact_id, created_at);

-- One row per channel a message is tried on (`seq` 1 is the first choice, 2 the first fallback).
-- status: queued (due at `due_at`), in_flight (a dispatcher holds it until `lease_until`), sent,
-- delivered, failed. `tries` counts calls to the carrier; `ambiguous` marks an attempt one of
-- whose tries ended without knowing whether the vendor took it (a crash, a timeout).
CREATE TABLE message_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    channel TEXT NOT NULL,
    carrier TEXT,
    address TEXT,
    status TEXT NOT NULL,
    tries INTEGER NOT NULL DEFAULT 0,
    due_at INTEGER NOT NULL,
    lease_until INTEGER,
    idempotency_key TEXT NOT NULL,
    vendor_message_id TEXT,
    ambiguous INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (message_id, seq)
);
-- The dispatcher's claim: queued attempts by due time; and leases to recover.
CREATE INDEX message_attempts_due ON message_attempts (status, due_at);
-- A vendor's webhook about a message finds its attempt.
CREATE INDEX message_attempts_by_vendor_id ON message_attempts (vendor_message_id)
    WHERE vendor_message_id IS NOT NULL;

-- What happened to a message, in order: accepted, sent, retry scheduled, outcome unknown,
-- failed, fallback, delivered. `detail` is JSON.
CREATE TABLE message_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    attempt_seq INTEGER,
    at INTEGER NOT NULL,
    event TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX message_events_by_message ON message_events (message_id, id);

-- The staff call queue: a phone attempt is a call for staff to make. Completing it logs the call,
-- whose outcome moves the attempt (answered or voicemail: delivered; no answer or busy: failed).
CREATE TABLE call_tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    attempt_id INTEGER NOT NULL UNIQUE REFERENCES message_attempts (id) ON DELETE CASCADE,
    message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    contact_id INTEGER NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    phone TEXT NOT NULL,
    script TEXT NOT NULL,
    urgency TEXT NOT NULL,
    -- open, claimed, done
    status TEXT NOT NULL,
    claimed_by TEXT,
    claimed_at INTEGER,
    outcome TEXT,
    interaction_id INTEGER,
    created_at INTEGER NOT NULL,
    completed_at INTEGER
);
CREATE INDEX call_tasks_by_status ON call_tasks (status, created_at);

-- The portal inbox: a portal attempt posts the message here, under the message's id (a message
-- is tried on each channel at most once). Reading it logs a portal interaction.
CREATE TABLE portal_messages (
    id TEXT PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    attempt_id INTEGER NOT NULL UNIQUE REFERENCES message_attempts (id) ON DELETE CASCADE,
    contact_id INTEGER NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    subject TEXT,
    text TEXT,
    html TEXT,
    posted_at INTEGER NOT NULL,
    read_at INTEGER
);
CREATE INDEX portal_messages_by_contact ON portal_messages (contact_id, posted_at);
