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
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from newsroom.errors import CodecError, StoreCorrupted, StoreError, StoreUnrecognised
from newsroom.events import codec
from newsroom.store.integrity import Problem, Progress, Verdict
from newsroom.store.rows import COLUMNS, checksum
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
        scan.problem = Problem(
            scan.expected, f"the event at position {scan.expected} cannot be read: {e}"
        )
    if scan.problem is not None:
        problems.append(scan.problem)
    else:  # the tables below are compared with a complete picture of the events
        problems += _streams(conn, scan.streams)
        problems += _idempotency(conn)
    problems.sort(key=lambda p: (p.position is None, p.position or 0))
    return Verdict(
        str(path), scan.events, len(scan.streams), head, time.monotonic() - started, tuple(problems)
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
        self.expected = 1  # the position the next event must have
        self.events = 0
        self.streams: dict[str, tuple[int, int]] = {}  # stream -> (last version, its position)
        self.problem: Problem | None = None

    def read(self, conn: sqlite3.Connection) -> None:
        cursor = conn.execute(f"SELECT {COLUMNS}, checksum FROM events ORDER BY position")
        while rows := cursor.fetchmany(PAGE):
            for row in rows:
                if (problem := self._check(row)) is not None:
                    self.problem = problem
                    return
                self.expected += 1
                self.events += 1
            self.tell("reading events", self.events, self.head)

    def _check(self, row: Sequence[Any]) -> Problem | None:
        *values, stored_checksum = row
        position, stream, version, _, type_name, schema, data, metadata, recorded_at = values
        if position != self.expected:
            return Problem(self.expected, f"the event at position {self.expected} is missing")
        if stored_checksum != checksum(values):
            return Problem(
                position,
                f"the event at position {position} fails its checksum: "
                "its stored bytes were altered or damaged",
            )
        previous = self.streams.get(stream, (0, 0))[0]
        if version != previous + 1:
            return Problem(
                position,
                f"the event at position {position} is version {version} of {stream}, "
                f"but the one before it was version {previous}: versions must run 1, 2, 3, ...",
            )
        self.streams[stream] = (version, position)
        try:  # what a replay does with it (rows.decode_rows)
            codec.decode(type_name, schema, data)
            orjson.loads(metadata)
            datetime.fromisoformat(recorded_at)
        except (CodecError, ValueError, TypeError) as e:
            return Problem(position, f"the event at position {position} cannot be decoded: {e}")
        return None


def _streams(conn: sqlite3.Connection, seen: dict[str, tuple[int, int]]) -> Iterator[Problem]:
    """The version `streams` records for each stream is the version of its last event."""
    recorded = dict(conn.execute("SELECT stream, version FROM streams").fetchall())
    for stream, (version, position) in seen.items():
        if recorded.get(stream) != version:
            says = "has no row" if stream not in recorded else f"says version {recorded[stream]}"
            yield Problem(
                position,
                f"the streams table {says} for {stream}, whose last event (position "
                f"{position}) is version {version}",
            )
    for stream in recorded.keys() - seen.keys():
        yield Problem(None, f"the streams table names {stream}, which has no events")


_IDEMPOTENCY = """
SELECT i.key, i.stream, i.version, i.first_position, i.last_position,
       f.stream, f.version, l.stream, l.version
FROM idempotency AS i
LEFT JOIN events AS f ON f.position = i.first_position
LEFT JOIN events AS l ON l.position = i.last_position
"""


def _idempotency(conn: sqlite3.Connection) -> Iterator[Problem]:
    """A repeated key answers with the positions its record names: they must be its events."""
    for key, stream, version, first, last, f_stream, f_version, l_stream, l_version in conn.execute(
        _IDEMPOTENCY
    ):
        if (f_stream, f_version, l_stream, l_version) != (
            stream, version - (last - first), stream, version,
        ):  # fmt: skip
            yield Problem(
                first,
                f"the idempotency record of key {key!r} names positions {first}-{last} as "
                f"{stream} up to version {version}, but the log holds other events there",
            )
