"""The SQLite event store: one writing connection, owned by one thread, with group commit.

Why one thread: the SQLite linked into many Pythons (3.40 here) can corrupt a WAL database when
two connections write or checkpoint it, and sqlite3 calls block. So a single worker thread owns
the only connection that writes; coroutines hand it jobs and await futures. Appends that queue
up while a transaction is being written go into the next transaction together (group commit):
one fsync for many commands. Durability: WAL with synchronous=FULL, and a reply only after
COMMIT. Every read (streams for commands, pages of the log for replays and subscribers) goes to
a read-only connection on a second thread (`sqlite_reader.py`), so an append never waits behind
a read, however many readers there are.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, TypeVar
from uuid import uuid4

import orjson

from newsroom.errors import (
    ConcurrencyError,
    IdempotencyKeyReused,
    NewsroomError,
    StoreError,
)
from newsroom.events import Event, codec
from newsroom.store.base import Anchor, AppendResult, Recorded, append_metadata
from newsroom.store.rows import COLUMNS, checksum, decode_rows, stream_number
from newsroom.store.sqlite_errors import translate
from newsroom.store.sqlite_file import SCHEMA, check_existing, lock_exclusively
from newsroom.store.sqlite_reader import Reader, settle

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_GROUP = 1_000  # appends per transaction; bounds the time one commit holds the thread


@dataclass(slots=True)
class _Append:
    stream: str
    events: Sequence[Event]
    encoded: list[tuple[str, int, bytes]]
    expected_version: int
    key: str | None
    fingerprint: str
    metadata: bytes
    future: asyncio.Future[AppendResult] = field(repr=False)


@dataclass(slots=True)
class _Call:
    fn: Callable[[sqlite3.Connection], Any]
    future: asyncio.Future[Any] = field(repr=False)


_STOP = object()


class SQLiteEventStore:
    """An `EventStore` in one SQLite file; create it with `await SQLiteEventStore.open(path)`."""

    def __init__(self, path: Path, loop: asyncio.AbstractEventLoop) -> None:
        self._path = path
        self._loop = loop
        self._jobs: queue.SimpleQueue[_Append | _Call | object] = queue.SimpleQueue()
        self._conn: sqlite3.Connection | None = None
        self._lock: IO[str] | None = None
        self._head = 0  # last committed position; written only by the worker thread
        self._closed = False
        self._ready: asyncio.Future[None] = loop.create_future()
        self._thread = threading.Thread(target=self._work, name=f"sqlite:{path.name}", daemon=True)
        self._reader = Reader(path, loop)
        self.transactions = 0  # commits written so far (observable group commit)
        self.on_commit: Callable[[int], None] | None = None

    @classmethod
    async def open(cls, path: Path) -> SQLiteEventStore:
        """Open (or create) the log at `path`; raise `StoreCorrupted` if the file is damaged."""
        store = cls(path, asyncio.get_running_loop())
        store._thread.start()
        await store._ready  # the worker thread opens and checks the file first
        store._reader.start()
        return store

    @property
    def location(self) -> str:
        return str(self._path)

    @property
    def alive(self) -> bool:
        return not self._closed and self._thread.is_alive()

    # --- the EventStore API (called on the event loop) ------------------------------------------

    async def append(
        self,
        stream: str,
        events: Sequence[Event],
        expected_version: int,
        *,
        idempotency_key: str | None = None,
        fingerprint: str = "",
        metadata: Mapping[str, str] | None = None,
    ) -> AppendResult:
        meta = append_metadata(events, expected_version, metadata, idempotency_key)
        job = _Append(
            stream,
            events,
            [codec.encode(e) for e in events],
            expected_version,
            idempotency_key,
            fingerprint,
            orjson.dumps(meta),
            self._loop.create_future(),
        )
        result: AppendResult = await self._submit(job)
        return result

    async def read_stream(self, stream: str) -> list[Recorded]:
        sql = f"SELECT {COLUMNS}, checksum FROM events WHERE stream = ? ORDER BY version"
        return await self._reader.call(
            lambda c: decode_rows(self._path, c.execute(sql, (stream,))), first=True
        )

    async def read_all(self, after: int, limit: int) -> list[Recorded]:
        sql = f"SELECT {COLUMNS}, checksum FROM events WHERE position > ? ORDER BY position LIMIT ?"
        return await self._reader.call(
            lambda c: decode_rows(self._path, c.execute(sql, (after, limit)), after=after)
        )

    async def head(self) -> int:
        return self._head

    async def find_idempotent(self, key: str) -> tuple[str, AppendResult] | None:
        return await self._reader.call(lambda c: self._find_idempotent(c, key), first=True)

    async def anchor(self, position: int) -> Anchor | None:
        return await self._reader.call(lambda c: self._anchor(c, position), first=True)

    def _anchor(self, conn: sqlite3.Connection, position: int) -> Anchor | None:
        first = conn.execute("SELECT event_id FROM events WHERE position = 1").fetchone()
        sql = f"SELECT {COLUMNS}, checksum FROM events WHERE position = ?"
        row = conn.execute(sql, (position,)).fetchone()
        if first is None or row is None:
            return None
        decode_rows(self._path, [row])  # StoreCorrupted if the event fails its checksum
        return Anchor(first[0], row[-1])

    async def max_stream_number(self, prefix: str) -> int:
        sql = "SELECT max(number) FROM streams WHERE substr(stream, 1, ?) = ?"
        row = await self._reader.call(
            lambda c: c.execute(sql, (len(prefix), prefix)).fetchone(), first=True
        )
        return int(row[0] or 0)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True  # from here on `_submit` refuses, so _STOP is the last job queued
        await self._reader.close()  # first: the writer must be the last connection to close
        self._jobs.put(_STOP)
        await asyncio.to_thread(self._thread.join)

    # --- handing work to the thread ------------------------------------------------------------

    async def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        job: _Call = _Call(fn, self._loop.create_future())
        result: T = await self._submit(job)
        return result

    async def _submit(self, job: _Append | _Call) -> Any:
        if self._closed or not self._thread.is_alive():
            raise StoreError(f"{self._path}: the event store is closed")
        self._jobs.put(job)
        return await job.future

    def _deliver(self, outcomes: list[tuple[asyncio.Future[Any], Any]]) -> None:
        """Resolve futures on the loop, in submission order (which is commit order)."""
        for future, outcome in outcomes:
            settle(future, outcome)

    def _send(self, outcomes: list[tuple[asyncio.Future[Any], Any]]) -> None:
        if outcomes:
            # RuntimeError: the loop is gone, so nobody is waiting any more
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._deliver, outcomes)

    # --- the worker thread ---------------------------------------------------------------------

    def _work(self) -> None:
        try:
            self._conn = self._connect()
        except NewsroomError as e:
            self._closed = True
            if self._lock is not None:
                self._lock.close()
            self._send([(self._ready, e)])
            return
        self._send([(self._ready, None)])
        try:
            while self._serve_batch():
                pass
        finally:
            self._conn.close()
            if self._lock is not None:
                self._lock.close()
            self._fail_leftovers()

    def _serve_batch(self) -> bool:
        """Take every job waiting now; run consecutive appends as one transaction."""
        batch = [self._jobs.get()]
        while len(batch) < MAX_GROUP:
            try:
                batch.append(self._jobs.get_nowait())
            except queue.Empty:
                break
        appends: list[_Append] = []
        for job in batch:
            if isinstance(job, _Append):
                appends.append(job)
                continue
            self._send(self._commit(appends))
            appends = []
            if job is _STOP:
                return False
            assert isinstance(job, _Call)
            self._send([(job.future, self._run(job))])
        self._send(self._commit(appends))
        return True

    def _fail_leftovers(self) -> None:
        closed = StoreError(f"{self._path}: the event store is closed")
        leftovers = []
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if isinstance(job, _Append | _Call):
                leftovers.append((job.future, closed))
        self._send(leftovers)

    def _run(self, job: _Call) -> Any:
        assert self._conn is not None
        try:
            return job.fn(self._conn)
        except NewsroomError as e:
            return e
        except sqlite3.Error as e:
            return translate(self._path, e)
        except Exception as e:  # the worker must outlive any one job (e.g. unencodable text)
            return StoreError(f"{self._path}: {type(e).__name__}: {e}")

    def _connect(self) -> sqlite3.Connection:
        path = self._path
        self._lock_exclusively()
        # Only a missing file starts a new log. An existing empty one may be a log that lost its
        # contents (truncated by a tool or a failing disk): starting afresh over it would bury
        # every article without a word, so check_existing refuses it.
        fresh = not path.exists()
        try:
            if not fresh:
                check_existing(path)
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=True)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(
                "PRAGMA synchronous=FULL"
            )  # WAL + FULL: a COMMIT is on disk when it returns
            if fresh:
                conn.executescript(f"BEGIN; {SCHEMA} COMMIT;")
            (self._head,) = conn.execute("SELECT coalesce(max(position), 0) FROM events").fetchone()
        except sqlite3.Error as e:
            raise translate(path, e) from e
        except OSError as e:
            raise StoreError(f"{path}: cannot open the event store: {e}") from e
        log.info(
            "event store: SQLite %s at %s (WAL, synchronous=FULL), %s events",
            sqlite3.sqlite_version, path, f"{self._head:,}",
        )  # fmt: skip
        return conn

    def _lock_exclusively(self) -> None:
        """Hold an OS lock beside the file so a second process cannot open the same log."""
        self._lock = lock_exclusively(self._path)

    # --- appends (worker thread) ---------------------------------------------------------------

    def _commit(self, jobs: list[_Append]) -> list[tuple[asyncio.Future[Any], Any]]:
        """Write every append of `jobs` in one transaction; each one fails or succeeds alone."""
        if not jobs:
            return []
        conn = self._conn
        assert conn is not None
        head = self._head
        outcomes: list[Any] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for job in jobs:
                try:
                    result = self._append_one(conn, job, head)
                    head = result.last_position if not result.replayed else head
                    outcomes.append(result)
                except NewsroomError as e:
                    outcomes.append(e)
            conn.execute("COMMIT")
            self.transactions += 1
            if self.on_commit is not None and head > self._head:
                self.on_commit(head - self._head)
            self._head = head
        except Exception as e:  # the worker must outlive any one group
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            failure = (
                translate(self._path, e)
                if isinstance(e, sqlite3.Error)
                else StoreError(f"{self._path}: the append was not written: {e}")
            )
            outcomes = [failure] * len(jobs)
        return [(job.future, outcome) for job, outcome in zip(jobs, outcomes, strict=True)]

    def _append_one(self, conn: sqlite3.Connection, job: _Append, head: int) -> AppendResult:
        if job.key is not None and (earlier := self._find_idempotent(conn, job.key)):
            fingerprint, result = earlier
            if fingerprint != job.fingerprint:
                raise IdempotencyKeyReused(
                    f"idempotency key {job.key!r} was already used for a different command"
                )
            return result
        row = conn.execute("SELECT version FROM streams WHERE stream = ?", (job.stream,)).fetchone()
        current = row[0] if row else 0
        if current != job.expected_version:
            raise ConcurrencyError(
                f"{job.stream} is at version {current}, not at the expected version "
                f"{job.expected_version}; reload it and try again"
            )
        now = datetime.now(UTC)
        recorded_at = now.isoformat()
        rows, records = [], []
        for i, (event, (type_name, schema, data)) in enumerate(
            zip(job.events, job.encoded, strict=True)
        ):
            position, version, event_id = head + 1 + i, current + 1 + i, str(uuid4())
            values = (
                position,
                job.stream,
                version,
                event_id,
                type_name,
                schema,
                data,
                job.metadata,
                recorded_at,
            )
            rows.append((*values, checksum(values)))
            records.append(
                Recorded(
                    position, job.stream, version, event_id, event, now, orjson.loads(job.metadata)
                )
            )
        conn.executemany(
            f"INSERT INTO events ({COLUMNS}, checksum) VALUES (?,?,?,?,?,?,?,?,?,?)", rows
        )
        version, first, last = current + len(rows), head + 1, head + len(rows)
        conn.execute(
            "INSERT INTO streams (stream, version, number) VALUES (?, ?, ?) "
            "ON CONFLICT (stream) DO UPDATE SET version = excluded.version",
            (job.stream, version, stream_number(job.stream)),
        )
        if job.key is not None:
            conn.execute(
                "INSERT INTO idempotency VALUES (?, ?, ?, ?, ?, ?)",
                (job.key, job.fingerprint, job.stream, version, first, last),
            )
        return AppendResult(job.stream, version, first, last, tuple(records))

    @staticmethod
    def _find_idempotent(conn: sqlite3.Connection, key: str) -> tuple[str, AppendResult] | None:
        row = conn.execute(
            "SELECT fingerprint, stream, version, first_position, last_position "
            "FROM idempotency WHERE key = ?",
            (key,),
        ).fetchone()
        if row is None:
            return None
        fingerprint, stream, version, first, last = row
        return fingerprint, AppendResult(stream, version, first, last, replayed=True)
