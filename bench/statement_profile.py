#!/usr/bin/env python3
"""Where the database time of a run goes, statement by statement.

Reads a server log written with `RUST_LOG=info,sqlx::query=debug` (sqlx logs every statement
with the time it took, as its caller waited for it: the database's work and the hand-offs to its
thread) and prints, per statement shape, how many ran, how long they took in all and how many
rows they handed back (each one a hand-off between threads in sqlx's SQLite driver). Statements
that differ only in their number of placeholders (`IN (?, ?, ?)`, multi-row `VALUES`) are one
shape.

    BENCH_SERVER_LOG=info,sqlx::query=debug target/release/ingest_load --realistic 1
    python3 bench/statement_profile.py target/ingest_load-server.log [--webhooks N]

With `--webhooks N` (the run's accepted webhooks) the counts are also shown per webhook. Lines
before the first statement that stores a webhook are skipped (the run's set-up: its contacts);
`--from TEXT` starts at the first line containing TEXT instead (`--from ''` reads everything:
`dispatch_load`'s log).
"""

import re
import sys
from collections import defaultdict

ANSI = re.compile(r"\x1b\[[0-9;]*m")
SUMMARY = re.compile(r'summary="((?:[^"\\]|\\.)*)"')
STATEMENT = re.compile(r'db\.statement="((?:[^"\\]|\\.)*)"')
ELAPSED = re.compile(r"elapsed_secs=([0-9.eE+-]+)")
RETURNED = re.compile(r"rows_returned=([0-9]+)")
PLACEHOLDERS = re.compile(r"\?(\s*,\s*\?)+")
ROWS = re.compile(r"\(\?\)(\s*,\s*\(\?\))+")


def shape(line):
    """The statement of a log line with its placeholder lists folded, or None."""
    # sqlx writes the whole statement only when its summary is shortened.
    found = STATEMENT.search(line)
    if not found or not found.group(1):
        found = SUMMARY.search(line)
    if not found:
        return None
    text = found.group(1).encode().decode("unicode_escape")
    text = " ".join(text.split())
    text = PLACEHOLDERS.sub("?…", text)
    text = ROWS.sub("(?…)…", text)
    return text[:140]


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    webhooks = None
    if "--webhooks" in args:
        at = args.index("--webhooks")
        webhooks = int(args[at + 1])
        del args[at : at + 2]
    start = "INSERT INTO raw_webhooks"
    if "--from" in args:
        at = args.index("--from")
        start = args[at + 1]
        del args[at : at + 2]
    started = False
    count = defaultdict(int)
    seconds = defaultdict(float)
    returned = defaultdict(int)
    with open(args[0], encoding="utf-8", errors="replace") as log:
        for line in log:
            started = started or start in line
            if not started or "sqlx::query" not in line:
                continue
            line = ANSI.sub("", line)
            text = shape(line)
            elapsed = ELAPSED.search(line)
            if text is None or elapsed is None:
                continue
            count[text] += 1
            seconds[text] += float(elapsed.group(1))
            rows = RETURNED.search(line)
            returned[text] += int(rows.group(1)) if rows else 0
    total = sum(seconds.values())
    statements = sum(count.values())
    rows = sum(returned.values())
    print(f"{statements} statements returning {rows} rows, {total:.3f} s waited for in all")
    header = "  count    per webhook   total s   share  mean µs  rows back  statement"
    print(header)
    for text in sorted(seconds, key=seconds.get, reverse=True)[:30]:
        per = f"{count[text] / webhooks:11.2f}" if webhooks else " " * 11
        mean = seconds[text] / count[text] * 1e6
        share = seconds[text] / total * 100 if total else 0
        print(
            f"{count[text]:7d}  {per}  {seconds[text]:8.3f}  {share:5.1f}%  {mean:7.0f}"
            f"  {returned[text]:9d}  {text}"
        )


if __name__ == "__main__":
    main()
