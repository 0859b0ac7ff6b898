-- The channel report's pre-aggregates, folded from the log as it grows (`analytics::rollup`).
-- Everything here can be rebuilt from the log (`switchboard analytics rebuild`) and equals a
-- recount of it.

-- Each outbound message: the milestones its events reached (as `analytics::sent_messages` reads
-- them from the log), what the outbox knows of it, and the inbound message that answered it.
CREATE TABLE analytics_messages (
    id INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,
    -- the vendor message id, or `#<interaction id>` for a logged message without one
    message_key TEXT NOT NULL,
    vendor_message_id TEXT,
    contact_id INTEGER,
    plugin_id TEXT,
    sent_at INTEGER NOT NULL,
    delivered_at INTEGER,
    opened_at INTEGER,
    clicked_at INTEGER,
    replied_at INTEGER,
    answered_at INTEGER,
    failure TEXT,
    bounced_at INTEGER,
    opted_out_at INTEGER,
    kind TEXT,
    urgency TEXT,
    template TEXT,
    -- the inbound message credited to it: its time and outcome (`replied`, or `opted_out` for
    -- a STOP, which is the message's opt-out rather than its response)
    response_at INTEGER,
    response_outcome TEXT,
    UNIQUE (message_key, channel)
);
-- A person's messages on one channel in order: which message an inbound message answers.
CREATE INDEX analytics_messages_thread ON analytics_messages (contact_id, channel, sent_at);
-- The messages of a period (the edges of a report that are not whole days).
CREATE INDEX analytics_messages_by_time ON analytics_messages (sent_at);

-- Per UTC day of sending and per channel, plugin, kind, urgency and template ('' for none): the
-- counts of the messages' fates (`analytics::rollup::Counts`, as JSON).
CREATE TABLE analytics_daily (
    day INTEGER NOT NULL,
    channel TEXT NOT NULL,
    plugin TEXT NOT NULL,
    kind TEXT NOT NULL,
    urgency TEXT NOT NULL,
    template TEXT NOT NULL,
    counts TEXT NOT NULL,
    PRIMARY KEY (day, channel, plugin, kind, urgency, template)
) WITHOUT ROWID;

-- Inbound messages of known contacts per UTC day and channel.
CREATE TABLE analytics_inbound_daily (
    day INTEGER NOT NULL,
    channel TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (day, channel)
) WITHOUT ROWID;

-- How far the log has been folded: every interaction up to this id is in the tables above.
CREATE TABLE analytics_folded (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    through_id INTEGER NOT NULL
);
INSERT INTO analytics_folded (id, through_id) VALUES (1, 0);

-- Contacts whose messages must be folded again from the log (merged).
CREATE TABLE analytics_refold (
    contact_id INTEGER PRIMARY KEY
);
-- Messages that must be folded again from the log (events of an erased contact left it).
CREATE TABLE analytics_refold_messages (
    message_key TEXT NOT NULL,
    channel TEXT NOT NULL,
    PRIMARY KEY (message_key, channel)
) WITHOUT ROWID;
