-- One word per concept (docs/glossary.md): the columns and tables say what the API says.

-- An attempt whose try ended without knowing the vendor's answer: "outcome unknown".
ALTER TABLE message_attempts RENAME COLUMN ambiguous TO outcome_unknown;

-- What happened to a message and its attempts, in order: its history.
ALTER TABLE message_events RENAME TO message_history;
DROP INDEX message_events_by_message;
CREATE INDEX message_history_by_message ON message_history (message_id, id);

-- The system an interaction came through is its vendor, as a plugin's `describe` names it.
ALTER TABLE interaction_log RENAME COLUMN external_system TO vendor;

-- Never read or written since the foundation: every row said 'communication'.
ALTER TABLE interaction_log DROP COLUMN category;
