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

-- The totals start empty, so the rollup folds the log again from the start (the next report,
-- or the background fold, does it; `switchboard analytics rebuild` does it at once).
DELETE FROM analytics_messages;
DELETE FROM analytics_daily;
DELETE FROM analytics_inbound_daily;
DELETE FROM analytics_refold;
DELETE FROM analytics_refold_messages;
UPDATE analytics_folded SET through_id = 0;
