-- What the preference and selection engine keeps: engagement counters updated as interactions
-- arrive (and rebuildable from the log), the consent ledger, reachability of identities, and
-- what people told us about how to reach them.

-- The three engagement tables are clustered on their keys (WITHOUT ROWID): one contact's rows sit
-- together, so reading them for a selection touches a page or two.

-- Per contact, channel and UTC day: how often each milestone happened. `metric` is one of sent,
-- delivered, opened, responded, answered, failed, inbound, active, hour (slot = local hour of an
-- engagement, 0–23) and tta (slot = time-to-action bucket, `sum_ms` their total). The windowed
-- view sums the days inside the window.
CREATE TABLE engagement_counts (
    contact_id INTEGER NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    channel TEXT NOT NULL,
    day INTEGER NOT NULL,
    metric TEXT NOT NULL,
    slot INTEGER NOT NULL DEFAULT 0,
    count INTEGER NOT NULL,
    sum_ms INTEGER NOT NULL DEFAULT 0,
    -- the latest occurred_at counted here
    last_at INTEGER NOT NULL,
    PRIMARY KEY (contact_id, channel, day, metric, slot)
) WITHOUT ROWID;
-- Fitting the population's priors reads a window of days across everyone.
CREATE INDEX engagement_counts_by_day ON engagement_counts (day);

-- Milestones already counted for each message (a bit set), so that a second open or a vendor's
-- repeated "delivered" counts once.
CREATE TABLE engagement_messages (
    contact_id INTEGER NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    channel TEXT NOT NULL,
    vendor_message_id TEXT NOT NULL,
    seen INTEGER NOT NULL,
    PRIMARY KEY (contact_id, channel, vendor_message_id)
) WITHOUT ROWID;

-- The latest outbound message on a channel that has had no reply yet: an inbound message within
-- the reply window counts as its response.
CREATE TABLE engagement_awaiting (
    contact_id INTEGER NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    channel TEXT NOT NULL,
    since INTEGER NOT NULL,
    PRIMARY KEY (contact_id, channel)
) WITHOUT ROWID;

-- Every opt-in and opt-out, never updated: the current state of a channel is its latest entry.
CREATE TABLE consent_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    contact_id INTEGER NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    channel TEXT NOT NULL,
    -- opted_in | opted_out
    status TEXT NOT NULL,
    -- inbound_stop | inbound_start | unsubscribe | resubscribe | spam_report | staff |
    -- preference_centre
    source TEXT NOT NULL,
    occurred_at INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL,
    recorded_by TEXT NOT NULL,
    -- the evidence: the interaction and the raw webhook it came from, when it came from one
    interaction_id INTEGER REFERENCES interaction_log (id) ON DELETE SET NULL,
    raw_webhook_id INTEGER REFERENCES raw_webhooks (id) ON DELETE SET NULL,
    note TEXT
);
CREATE INDEX consent_events_by_contact ON consent_events (contact_id, channel, occurred_at, id);

-- A hard bounce or a permanently undeliverable number marks the identity unreachable until staff
-- re-verify it.
ALTER TABLE identities ADD COLUMN unreachable_at INTEGER;
ALTER TABLE identities ADD COLUMN unreachable_reason TEXT;
ALTER TABLE identities ADD COLUMN unreachable_interaction_id INTEGER;

-- What a person told us: the channels they prefer, in order, and their own quiet hours.
CREATE TABLE contact_preferences (
    contact_id INTEGER PRIMARY KEY REFERENCES contacts (id) ON DELETE CASCADE,
    -- JSON array of channel words
    preferred_channels TEXT NOT NULL DEFAULT '[]',
    -- minutes after local midnight; both or neither
    quiet_start INTEGER,
    quiet_end INTEGER,
    updated_at INTEGER NOT NULL,
    updated_by TEXT NOT NULL
);
