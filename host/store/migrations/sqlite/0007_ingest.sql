-- Ingest efficiency: what each new row of the log costs to index.

-- A contact's timeline filtered by channel is served by the timeline index (the contact's rows
-- newest first, the other channels skipped), so this second index on the contact (written at a
-- random place in the index for every row) is not kept: it was a third of the cost of inserting
-- a row (BENCHMARKS.md §2).
DROP INDEX interaction_log_by_contact_channel;
