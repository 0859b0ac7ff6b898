"""The physical floor of logging: the rows of a Switchboard run's interaction log, inserted again
by a tight loop (Python's sqlite3, whose executemany loops in C) into an empty copy of the same
table and indexes, in one transaction, WAL with synchronous = FULL as Switchboard runs.

Usage: python3 bench/sqlite_floor.py <switchboard.db>
Prints the CPU time per row in microseconds (this process's user + system time).
"""

import os
import sqlite3
import sys
import tempfile
import time


def main(source_path: str) -> None:
    source = sqlite3.connect(source_path)
    schema = [
        sql
        for (sql,) in source.execute(
            "SELECT sql FROM sqlite_master WHERE tbl_name = 'interaction_log' AND sql IS NOT NULL"
        )
    ]
    columns = [row[1] for row in source.execute("PRAGMA table_info(interaction_log)")]
    rows = source.execute(f"SELECT {', '.join(columns)} FROM interaction_log ORDER BY id").fetchall()
    source.close()
    if not rows:
        sys.exit("the source log is empty")

    with tempfile.TemporaryDirectory() as directory:
        target = sqlite3.connect(os.path.join(directory, "floor.db"), isolation_level=None)
        target.execute("PRAGMA journal_mode = WAL")
        target.execute("PRAGMA synchronous = FULL")
        for statement in schema:
            target.execute(statement)
        insert = (
            f"INSERT INTO interaction_log ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' for _ in columns)})"
        )
        started = time.process_time()
        target.execute("BEGIN")
        target.executemany(insert, rows)
        target.execute("COMMIT")
        spent = time.process_time() - started
        target.close()
    print(f"{spent * 1e6 / len(rows):.3f}")


if __name__ == "__main__":
    main(sys.argv[1])
