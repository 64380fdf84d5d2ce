"""`newsroom verify` for the SQLite log: the whole-file check that start-up no longer makes.

It reads everything, in order:
1. the checks start-up makes (header, WAL, schema: `sqlite_file.py`);
2. SQLite's own `PRAGMA integrity_check`: every page, and every index against its table;
3. every event in position order: its checksum, positions 1, 2, 3, ... with no gap, each
   stream's versions 1, 2, 3, ..., and that it decodes as a replay would decode it;
4. the `streams` table (what appends check `expected_version` against) against those events;
5. every idempotency record: the positions it names hold its stream's events.

It only reads: the connection is `mode=ro` and `query_only`, and all of it runs in one read
transaction, so it sees one consistent log even while a server appends to the same file (in WAL
mode a reader and the writer never wait for each other).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from newsroom.errors import StoreCorrupted, StoreError, StoreUnrecognised
from newsroom.store.integrity import Problem, Progress, Verdict
from newsroom.store.log_checks import MISMATCHED_KEYS, EventChecks, key_problem, stream_problems
from newsroom.store.rows import COLUMNS
from newsroom.store.sqlite_errors import is_corruption
from newsroom.store.sqlite_file import check_existing, in_use

PAGE = 10_000  # events fetched at a time
INTEGRITY_PROBLEMS = 10  # lines of integrity_check output kept; the first ones say enough
PROGRESS_STEPS = 1_000_000  # SQLite virtual machine steps between progress calls in the check


def verify_file(path: Path, progress: Progress | None = None) -> Verdict:
    """Check the whole log at `path`, reading only; raise `StoreUnrecognised` if it is not a
    newsroom log, `StoreCorrupted` if it cannot even be opened as one."""
    started = time.monotonic()
    if not path.is_file():
        raise StoreUnrecognised(f"{path}: {'not a file' if path.exists() else 'no such file'}")
    # A server holding the log has its WAL open and walked it at start; its frames now change
    # under a reader's feet, so only a log nobody writes has its WAL walked here.
    check_existing(path, walk_wal=not in_use(path))
    tell = progress or (lambda stage, done, total: None)
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
    except sqlite3.Error as e:
        raise StoreCorrupted(f"{path}: cannot be opened: {e}") from e
    try:
        conn.execute("PRAGMA query_only=1")
        conn.execute("BEGIN")  # one snapshot for every step below
        return _verify(path, conn, tell, started)
    except sqlite3.Error as e:
        if is_corruption(e):
            raise StoreCorrupted(f"{path}: the database is damaged: {e}") from e
        raise StoreError(f"{path}: cannot be read: {e}") from e
    finally:
        conn.close()


def _verify(path: Path, conn: sqlite3.Connection, tell: Progress, started: float) -> Verdict:
    problems = _integrity(conn, tell)
    (head,) = conn.execute("SELECT coalesce(max(position), 0) FROM events").fetchone()
    scan = _EventScan(head, tell)
    try:
        scan.read(conn)
    except sqlite3.Error as e:  # a page the rows live on is unreadable
        position = scan.checks.expected
        scan.problem = Problem(position, f"the event at position {position} cannot be read: {e}")
    if scan.problem is not None:
        problems.append(scan.problem)
    else:  # the tables below are compared with a complete picture of the events
        recorded = dict(conn.execute("SELECT stream, version FROM streams").fetchall())
        problems += stream_problems(recorded, scan.checks.streams)
        problems += map(key_problem, conn.execute(MISMATCHED_KEYS))
    problems.sort(key=lambda p: (p.position is None, p.position or 0))
    return Verdict(
        str(path),
        scan.checks.events,
        len(scan.checks.streams),
        head,
        time.monotonic() - started,
        tuple(problems),
    )


def _integrity(conn: sqlite3.Connection, tell: Progress) -> list[Problem]:
    """SQLite's own check of every page and index, reporting while it runs
    (https://www.sqlite.org/pragma.html#pragma_integrity_check)."""

    def still_checking() -> int:
        tell("SQLite integrity_check", 0, 0)
        return 0  # anything else would interrupt the check

    conn.set_progress_handler(still_checking, PROGRESS_STEPS)
    try:
        lines = _pragma(conn, "integrity_check")
    except sqlite3.DatabaseError as e:
        if not is_corruption(e):
            raise
        lines = _described(conn, str(e))
    finally:
        conn.set_progress_handler(None, 0)
    if lines == ["ok"]:
        return []
    return [Problem(None, f"SQLite integrity_check: {' '.join(line.split())}") for line in lines]


def _pragma(conn: sqlite3.Connection, check: str) -> list[str]:
    return [row[0] for row in conn.execute(f"PRAGMA {check}({INTEGRITY_PROBLEMS})")]


def _described(conn: sqlite3.Connection, error: str) -> list[str]:
    """What quick_check says of damage that stopped integrity_check: comparing an index with its
    table stops at a page that is no b-tree page at all; quick_check skips that step and still
    names the page."""
    try:
        lines = _pragma(conn, "quick_check")
    except sqlite3.DatabaseError:
        return [error]
    return [line for line in lines if line != "ok"] or [error]


class _EventScan:
    """Reads every event in position order, stopping at the first one that is wrong."""

    def __init__(self, head: int, tell: Progress) -> None:
        self.head = head
        self.tell = tell
        self.checks = EventChecks(head, decode=True)
        self.problem: Problem | None = None

    def read(self, conn: sqlite3.Connection) -> None:
        cursor = conn.execute(f"SELECT {COLUMNS}, checksum FROM events ORDER BY position")
        while rows := cursor.fetchmany(PAGE):
            for row in rows:
                if (problem := self.checks.check(row)) is not None:
                    self.problem = problem
                    return
            self.tell("reading events", self.checks.events, self.head)
