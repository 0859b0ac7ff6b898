-- Conversions: a person reached a goal (enrolled, paid), recorded by staff or a system through
-- the API. Conversions that plugins report as interactions stay in the log and are read from it
-- by kind (the analytics settings map kinds to goals).

CREATE TABLE conversions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    contact_id INTEGER NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    goal TEXT NOT NULL,
    -- in the organisation's currency; 0 when the goal has no value
    value REAL NOT NULL DEFAULT 0,
    occurred_at INTEGER NOT NULL,
    -- a repeated request with the same key records nothing more
    idempotency_key TEXT NOT NULL UNIQUE,
    -- SHA-256 of the request, to tell a true repeat from a reused key
    request_digest TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
-- Attribution reads a goal's conversions over a period.
CREATE INDEX conversions_by_goal ON conversions (goal, occurred_at);
CREATE INDEX conversions_by_contact ON conversions (contact_id, occurred_at);
