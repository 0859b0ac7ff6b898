-- Per provider (channel and plugin), the counts of the messages sent each UTC day and each hour
-- since the epoch (`analytics::rollup::Counts`, as JSON): what a channel report without a kind,
-- urgency or template in it adds up, in a few rows per day instead of one per group, and hours
-- for the edges of its period instead of the messages of a whole day.
CREATE TABLE analytics_daily_totals (
    day INTEGER NOT NULL,
    channel TEXT NOT NULL,
    plugin TEXT NOT NULL,
    counts TEXT NOT NULL,
    PRIMARY KEY (day, channel, plugin)
) WITHOUT ROWID;

CREATE TABLE analytics_hourly_totals (
    hour INTEGER NOT NULL,
    channel TEXT NOT NULL,
    plugin TEXT NOT NULL,
    counts TEXT NOT NULL,
    PRIMARY KEY (hour, channel, plugin)
) WITHOUT ROWID;

-- Inbound messages of known contacts per hour since the epoch and channel (the edges of a
-- report's period).
CREATE TABLE analytics_inbound_hourly (
    hour INTEGER NOT NULL,
    channel TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (hour, channel)
) WITHOUT ROWID;

-- The touches of attribution's journeys are every message of a span of time: read in order of
-- time from the index alone (a message's row lies where it was folded, which after a rebuild is
-- in no order of time). It serves the edges of a report's period as well.
DROP INDEX analytics_messages_by_time;
CREATE INDEX analytics_messages_touches
    ON analytics_messages (sent_at, contact_id, channel, plugin_id);

-- What people wrote to us in a span of time (the inbound touches of journeys, the replies a
-- period's messages got): a tenth of the log, which is otherwise scanned whole for it.
CREATE INDEX interaction_log_inbound
    ON interaction_log (occurred_at, contact_id, channel, outcome)
    WHERE direction = 'inbound';

-- The totals start empty, so the rollup folds the log again from the start (the next report,
-- or the background fold, does it; `switchboard analytics rebuild` does it at once).
DELETE FROM analytics_messages;
DELETE FROM analytics_daily;
DELETE FROM analytics_inbound_daily;
DELETE FROM analytics_refold;
DELETE FROM analytics_refold_messages;
UPDATE analytics_folded SET through_id = 0;
