#!/usr/bin/env python3
"""What each index of the interaction log costs an insert, and what the size of a commit does.

Rows shaped like `ingest_load --realistic 1` (5,000 people, distinct event and message ids, the
event's JSON as metadata) are inserted into the log's table in SQLite, WAL with
`synchronous = FULL` as Switchboard runs, committed N at a time as group commit does. Prints this
process's CPU time per row (user + system) for: every index of the schema as of migration 0006;
none; each one left out; empty metadata; and then the current indexes (0007) at several commit
sizes.

    python3 bench/log_index_cost.py [--rows 100000]
"""

import json
import os
import random
import sqlite3
import sys
import tempfile
import time

TABLE = """CREATE TABLE interaction_log (id INTEGER PRIMARY KEY AUTOINCREMENT,
 contact_id INTEGER, occurred_at INTEGER NOT NULL, received_at INTEGER NOT NULL,
 kind TEXT NOT NULL, channel TEXT NOT NULL, direction TEXT NOT NULL, outcome TEXT NOT NULL,
 vendor_status TEXT, plugin_id TEXT, vendor TEXT, vendor_message_id TEXT, vendor_event_id TEXT,
 raw_webhook_id INTEGER, time_to_action_ms INTEGER, summary TEXT,
 metadata TEXT NOT NULL DEFAULT '{}', created_by TEXT NOT NULL DEFAULT 'system')"""

# The log's indexes as of migration 0006 (0007 drops `by_contact_channel`).
INDEXES = {
    "timeline (contact_id, occurred_at)":
        "CREATE INDEX timeline ON interaction_log (contact_id, occurred_at DESC)",
    "by_message (vendor_message_id, channel)":
        "CREATE INDEX by_message ON interaction_log (vendor_message_id, channel)",
    "event_once (vendor, vendor_event_id)":
        "CREATE UNIQUE INDEX event_once ON interaction_log (vendor, vendor_event_id) "
        "WHERE vendor_event_id IS NOT NULL",
    "by_channel (channel, occurred_at)":
        "CREATE INDEX by_channel ON interaction_log (channel, occurred_at)",
    "by_contact_channel (contact_id, channel, occurred_at)":
        "CREATE INDEX by_contact_channel ON interaction_log (contact_id, channel, occurred_at DESC)",
}
DROPPED_IN_0007 = "by_contact_channel (contact_id, channel, occurred_at)"

COLUMNS = ("contact_id, occurred_at, received_at, kind, channel, direction, outcome, "
           "vendor_status, plugin_id, vendor, vendor_message_id, vendor_event_id, raw_webhook_id, "
           "time_to_action_ms, summary, metadata, created_by")


def rows(count):
    """Delivered emails to 5,000 people, three events per message, 50 per webhook."""
    rng = random.Random(1)
    start = 1_760_000_000_000
    made = []
    for i in range(count):
        contact = rng.randrange(5000) + 1
        message = f"msg{i // 3}.filter{rng.randrange(10**9)}"
        event = f"ev{i:08d}{rng.randrange(10**12)}"
        at = start + i * 10
        metadata = json.dumps({
            "email": f"p{contact}@example.org", "timestamp": at // 1000, "event": "delivered",
            "sg_event_id": event, "sg_message_id": message, "smtp-id": f"<{message}@ismtpd>",
            "category": ["cat"], "contact_id": str(contact), "ip": "1.2.3.4",
            "response": "250 OK",
        })
        made.append((contact, at, at + 5, "email_delivered", "email", "outbound", "delivered",
                     "delivered", "email-sendgrid", "sendgrid", message, event, i // 50 + 1,
                     None, None, metadata, "plugin:email-sendgrid"))
    return made


def cpu_per_row(data, indexes, per_commit):
    """µs of this process's CPU per row, inserting `data` committed `per_commit` at a time."""
    with tempfile.TemporaryDirectory() as directory:
        db = sqlite3.connect(os.path.join(directory, "log.db"), isolation_level=None)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")
        db.execute(TABLE)
        for name in indexes:
            db.execute(INDEXES[name])
        insert = f"INSERT INTO interaction_log ({COLUMNS}) VALUES ({', '.join('?' * 17)})"
        started = time.process_time()
        for at in range(0, len(data), per_commit):
            db.execute("BEGIN IMMEDIATE")
            db.executemany(insert, data[at:at + per_commit])
            db.execute("COMMIT")
        spent = time.process_time() - started
        db.close()
    return spent * 1e6 / len(data)


def main():
    count = 100_000
    if "--rows" in sys.argv:
        count = int(sys.argv[sys.argv.index("--rows") + 1])
    data = rows(count)
    every = list(INDEXES)
    print(f"{count} rows, committed 400 at a time; µs of CPU per row")
    print(f"  every index of 0006: {cpu_per_row(data, every, 400):.2f}")
    print(f"  no index: {cpu_per_row(data, [], 400):.2f}")
    for left_out in every:
        kept = [name for name in every if name != left_out]
        print(f"  all but {left_out}: {cpu_per_row(data, kept, 400):.2f}")
    empty = [row[:15] + ("{}",) + row[16:] for row in data]
    print(f"  every index, metadata empty: {cpu_per_row(empty, every, 400):.2f}")
    current = [name for name in every if name != DROPPED_IN_0007]
    print("the indexes of 0007, by rows per commit; µs of CPU per row")
    for per_commit in (200, 400, 800, 1600):
        print(f"  {per_commit}: {cpu_per_row(data, current, per_commit):.2f}")


if __name__ == "__main__":
    main()
