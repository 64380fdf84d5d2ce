"""The PostgreSQL event store: one log shared by several newsroom processes.

Each process keeps its own views in memory; the log is the one thing they share. This module
keeps every promise of `store/base.py` across processes, through asyncpg.

**Dense positions in commit order, across processes.** A sequence would not do: it hands out
numbers when rows are inserted, but transactions commit in any order, so a reader could see
position 11 committed while 10 is still in flight, move past it, and never read 10. Here the
head of the log lives in the one row of `newsroom_log`. Every append transaction starts by
locking that row (`SELECT head ... FOR UPDATE`), numbers its events from head + 1, writes them,
moves the head, and commits, which releases the lock. The next appender, in this process or any
other, waits on the lock until then and reads the new head only once the previous events are
committed and visible (PostgreSQL makes a commit visible before it releases its locks). So the
committed events are always exactly positions 1..head: `read_all(after=p)` can never miss one
that commits later. Mature PostgreSQL event stores serialise appends the same way, most with a
transaction-level advisory lock; a row lock is the same idea and keeps the head beside it.

**Group commit.** The cost of that serialisation is one transaction at a time for the whole
cluster, so each transaction carries every append waiting in the process (as on SQLite): one
writer task takes the queue, checks every append of the group with bulk reads (the streams'
versions, the idempotency keys), writes all rows with one `INSERT ... SELECT unnest(...)` per
table, and commits once. The number of statements per transaction does not grow with the group.

**Fan-out to the other processes.** Each transaction calls `pg_notify` with the new head before
it commits; PostgreSQL delivers notifications only on commit, in commit order. `heads()` yields
the head as this process learns it, from LISTEN on a connection of its own and from a poll every
`POLL_EVERY` seconds, so a lost notification or a dropped connection delays an event but never
loses it; the bus then reads the events themselves with `read_all` (`Bus.relay`).

**Reads** never wait behind appends (MVCC) and never hold them up: the command path (a stream,
an idempotency key, a new id) and pages of the log (subscriptions, `events`, views catching up)
read through two separate small pools, so a crowd of log readers cannot starve a command.

**Faults.** Every call has a deadline. If PostgreSQL is down or a connection is killed, appends
fail with `StoreError` within `WRITE_TIMEOUT` (the command answers 503), `alive` turns False
until the listening connection is back, and the next append connects again: no restart needed.
An append whose COMMIT was sent but not answered may or may not be in the log; the error says
so, and a retry with its idempotency key gives one result either way.

The password of the URL is never kept in `location` or put in a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit
from uuid import uuid4

import asyncpg
import orjson

from newsroom.errors import (
    ConcurrencyError,
    IdempotencyKeyReused,
    NewsroomError,
    StoreError,
    StoreUnrecognised,
)
from newsroom.events import Event, codec
from newsroom.store.base import Anchor, AppendResult, Recorded, append_metadata
from newsroom.store.rows import COLUMNS, checksum, decode_rows, stream_number

log = logging.getLogger(__name__)
T = TypeVar("T")

SCHEMA_VERSION = 1  # newsroom_log.schema_version; bump with a migration when the tables change
CHANNEL = "newsroom_log"  # LISTEN/NOTIFY channel; the payload is the new head
MAX_GROUP = 1_000  # appends per transaction
# Two pools of reading connections, so pages of the log read for subscriptions, `events` and
# catching-up views never keep a command from reading its stream (reads never delay writes).
COMMAND_READERS = 4  # streams, idempotency keys, ids and the head, for commands and health
LOG_READERS = 2  # pages of the log
DECODE_ON_THREAD = 200  # rows from which a page is checked and decoded off the event loop
# Per-connection settings, sent when it connects (so they survive anything): a transaction left
# idle (its process frozen) cannot hold the head's lock for long, and commits stay durable
# whatever the server's default.
SESSION = {"idle_in_transaction_session_timeout": "5s", "synchronous_commit": "on"}
CONNECT_TIMEOUT = 3.0  # seconds to open a connection
WRITE_TIMEOUT = 4.0  # seconds a whole group transaction may take before it fails
READ_TIMEOUT = 10.0  # seconds a read may take (a page of the log included)
POLL_EVERY = 1.0  # seconds between polls of the head: the safety net under LISTEN/NOTIFY
RECONNECT_EVERY = 0.5  # seconds between attempts to reconnect the listening connection
UNCERTAIN = (
    "the append failed (if PostgreSQL received its COMMIT it may be in the log: "
    "retry it with its idempotency key)"
)
SETUP_LOCK = 0x4E575352
# What the driver raises when the server or the connection fails; all become StoreError here.
DRIVER_ERRORS = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,  # e.g. a connection left mid-operation when its session was killed
)  # advisory lock held while one process checks or creates the schema

SCHEMA = f"""
CREATE TABLE newsroom_log (
    one            boolean PRIMARY KEY DEFAULT true CHECK (one),  -- exactly one row
    schema_version integer NOT NULL,
    head           bigint  NOT NULL   -- the last position given out; locked by every append
);
INSERT INTO newsroom_log (schema_version, head) VALUES ({SCHEMA_VERSION}, 0);
CREATE TABLE events (
    position       bigint  PRIMARY KEY,  -- global, dense, commit order
    stream         text    NOT NULL,
    version        integer NOT NULL,     -- 1, 2, ... per stream
    event_id       text    NOT NULL,
    type           text    NOT NULL,     -- stable type name, never a Python path
    schema_version integer NOT NULL,
    data           bytea   NOT NULL,     -- JSON
    metadata       bytea   NOT NULL,     -- JSON
    recorded_at    text    NOT NULL,     -- ISO 8601, UTC, as checksummed
    checksum       bigint  NOT NULL,     -- CRC-32 of every other column (store/rows.py)
    UNIQUE (stream, version)
);
CREATE TABLE streams (
    stream  text PRIMARY KEY,
    version integer NOT NULL,
    number  bigint                       -- the N of 'article-N', for picking the next id
);
CREATE INDEX streams_by_number ON streams (number);
CREATE TABLE numbers (
    prefix text PRIMARY KEY,
    last   bigint NOT NULL                -- the last N handed out by claim_number(prefix)
);
CREATE TABLE idempotency (
    key            text PRIMARY KEY,
    fingerprint    text    NOT NULL,
    stream         text    NOT NULL,
    version        integer NOT NULL,
    first_position bigint  NOT NULL,
    last_position  bigint  NOT NULL
);
"""

_INSERT_EVENTS = f"""
INSERT INTO events ({COLUMNS}, checksum)
SELECT * FROM unnest($1::bigint[], $2::text[], $3::integer[], $4::text[], $5::text[],
                     $6::integer[], $7::bytea[], $8::bytea[], $9::text[], $10::bigint[])
"""
_UPSERT_STREAMS = """
INSERT INTO streams (stream, version, number)
SELECT * FROM unnest($1::text[], $2::integer[], $3::bigint[])
ON CONFLICT (stream) DO UPDATE SET version = excluded.version
"""
_INSERT_KEYS = """
INSERT INTO idempotency
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::integer[], $5::bigint[], $6::bigint[])
"""
_CLAIM = """
INSERT INTO numbers AS n (prefix, last)
VALUES ($2, coalesce((SELECT max(number) FROM streams WHERE left(stream, $1) = $2), 0) + $3)
ON CONFLICT (prefix) DO UPDATE SET last = greatest(
    n.last, (SELECT coalesce(max(number), 0) FROM streams WHERE left(stream, $1) = $2)) + $3
RETURNING last
"""
_MOVE_HEAD = "WITH moved AS (UPDATE newsroom_log SET head = $1) SELECT pg_notify($2, $1::text)"
_KEY_COLUMNS = "fingerprint, stream, version, first_position, last_position"


def public_location(url: str) -> str:
    """The URL without its password (and without query options), for messages and /healthz."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    user = f"{parts.username}@" if parts.username else ""
    port = f":{parts.port}" if parts.port else ""
    return f"postgresql://{user}{host}{port}{parts.path}"


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


_STOP = object()


class PostgresEventStore:
    """An `EventStore` in a PostgreSQL database; create it with `await
    PostgresEventStore.open(url)`. Several processes may open the same database."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._location = public_location(url)
        self._jobs: asyncio.Queue[_Append | object] = asyncio.Queue()
        self._writer: asyncpg.Connection | None = None
        self._pool: asyncpg.Pool | None = None  # for the command path
        self._log_pool: asyncpg.Pool | None = None  # for pages of the log
        self._closed = False
        self._connected = True  # the listening connection is up (or not yet known to be down)
        self._known_head = 0  # the highest head this process has seen committed
        self._head_moved = asyncio.Event()  # replaced by a fresh one each time it is set
        self._tasks: list[asyncio.Task[None]] = []
        self.transactions = 0  # commits written so far (observable group commit)
        self.on_commit: Callable[[int], None] | None = None
        self._reconnects = 0

    @classmethod
    async def open(cls, url: str) -> PostgresEventStore:
        """Connect, create the schema in an empty database or check it in a newsroom one."""
        store = cls(url)
        try:
            store._writer = await store._connect()
            await store._set_up(store._writer)
            store._pool = await _pool(url, COMMAND_READERS)
            store._log_pool = await _pool(url, LOG_READERS)
            store._known_head = await store._writer.fetchval("SELECT head FROM newsroom_log")
        except BaseException as e:
            await store._release()
            if isinstance(e, NewsroomError):
                raise
            if isinstance(e, Exception):
                raise store._failure("cannot open the event store", e) from None
            raise
        store._tasks = [
            asyncio.create_task(store._write_groups(), name="postgres appends"),
            asyncio.create_task(store._follow(), name="postgres heads"),
        ]
        log.info(
            "event store: PostgreSQL at %s (schema %d), %s events",
            store._location, SCHEMA_VERSION, f"{store._known_head:,}",
        )  # fmt: skip
        return store

    @property
    def location(self) -> str:
        return self._location

    @property
    def alive(self) -> bool:
        return not self._closed and self._connected

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def reconnects(self) -> int:
        return self._reconnects

    # --- the EventStore API ----------------------------------------------------------------------

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
        if "\x00" in stream or "\x00" in (idempotency_key or "") or "\x00" in fingerprint:
            raise ValueError("stream names and idempotency keys cannot hold a NUL character")
        job = _Append(
            stream,
            events,
            [codec.encode(e) for e in events],
            expected_version,
            idempotency_key,
            fingerprint,
            orjson.dumps(meta),
            asyncio.get_running_loop().create_future(),
        )
        if self._closed:
            raise StoreError(f"{self._location}: the event store is closed")
        self._jobs.put_nowait(job)
        return await job.future

    async def read_stream(self, stream: str) -> list[Recorded]:
        sql = f"SELECT {COLUMNS}, checksum FROM events WHERE stream = $1 ORDER BY version"
        rows = await self._read(lambda c: c.fetch(sql, stream))
        return decode_rows(self._location, rows)

    async def read_all(self, after: int, limit: int) -> list[Recorded]:
        sql = (
            f"SELECT {COLUMNS}, checksum FROM events WHERE position > $1 ORDER BY position LIMIT $2"
        )
        rows = await self._read(lambda c: c.fetch(sql, after, limit), self._log_pool)
        if len(rows) < DECODE_ON_THREAD:
            return decode_rows(self._location, rows, after=after)
        return await asyncio.to_thread(decode_rows, self._location, rows, after)

    async def head(self) -> int:
        if self._closed:
            return self._known_head  # the last head seen, as a closed SQLite store answers too
        head: int = await self._read(lambda c: c.fetchval("SELECT head FROM newsroom_log"))
        self._note_head(head)
        return head

    async def find_idempotent(self, key: str) -> tuple[str, AppendResult] | None:
        sql = f"SELECT {_KEY_COLUMNS} FROM idempotency WHERE key = $1"
        row = await self._read(lambda c: c.fetchrow(sql, key))
        return None if row is None else _replayed(row)

    async def anchor(self, position: int) -> Anchor | None:
        async def read(c: asyncpg.Connection) -> tuple[Any, Any]:
            first = await c.fetchval("SELECT event_id FROM events WHERE position = 1")
            sql = f"SELECT {COLUMNS}, checksum FROM events WHERE position = $1"
            return first, await c.fetchrow(sql, position)

        first, row = await self._read(read, self._log_pool)
        if first is None or row is None:
            return None
        decode_rows(self._location, [row])  # StoreCorrupted if the event fails its checksum
        return Anchor(first, row["checksum"])

    async def max_stream_number(self, prefix: str) -> int:
        sql = "SELECT max(number) FROM streams WHERE left(stream, $1) = $2"
        found = await self._read(lambda c: c.fetchval(sql, len(prefix), prefix))
        return int(found or 0)

    async def claim_numbers(self, prefix: str, count: int) -> int:
        """The first of `count` consecutive numbers for new streams `{prefix}N` that no process
        got before, above every existing one. Committed without waiting for the disk: if a crash
        loses the claim, no append used it (an append's commit makes every earlier commit
        durable)."""

        async def claim(c: asyncpg.Connection) -> int:
            async with c.transaction():
                await c.execute("SET LOCAL synchronous_commit = off")
                last: int = await c.fetchval(_CLAIM, len(prefix), prefix, count)
                return last - count + 1

        return int(await self._read(claim))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True  # from here on `append` refuses, so _STOP is the last job queued
        self._jobs.put_nowait(_STOP)
        for task in self._tasks[1:]:
            task.cancel()  # the follower: nothing of it needs finishing
        await asyncio.gather(*self._tasks, return_exceptions=True)  # the writer ends at _STOP
        await self._release()

    # --- what other processes appended -----------------------------------------------------------

    async def heads(self) -> AsyncIterator[int]:
        """Yield the log's head each time this process learns that it moved (any process's
        appends), from notifications and polls; never two equal values in a row."""
        seen = 0
        while True:
            while self._known_head <= seen:
                await self._head_moved.wait()
            seen = self._known_head
            yield seen

    def _note_head(self, head: int) -> None:
        if head > self._known_head:
            self._known_head = head
            moved, self._head_moved = self._head_moved, asyncio.Event()
            moved.set()  # wakes every `heads()` waiting on it

    async def _follow(self) -> None:
        """Keep a listening connection; poll the head on it; reconnect whenever it is lost."""
        while not self._closed:
            conn: asyncpg.Connection | None = None
            try:
                conn = await self._connect()
                await conn.add_listener(CHANNEL, self._notified)
                if not self._connected:
                    log.warning("event store: %s is reachable again", self._location)
                    self._reconnects += 1
                self._connected = True
                while not conn.is_closed():
                    head = await conn.fetchval("SELECT head FROM newsroom_log", timeout=POLL_EVERY)
                    self._note_head(head)
                    await asyncio.sleep(POLL_EVERY)
            except (*DRIVER_ERRORS, StoreError) as e:
                if self._connected:
                    log.error("event store: lost %s (%s); reconnecting", self._location, _why(e))
                self._connected = False
            finally:
                if conn is not None:
                    await _close(conn)
            await asyncio.sleep(RECONNECT_EVERY)

    def _notified(self, conn: object, pid: int, channel: str, payload: str) -> None:
        with contextlib.suppress(ValueError):
            self._note_head(int(payload))

    # --- appends: one writer task, one transaction per group -------------------------------------

    async def _write_groups(self) -> None:
        while True:
            batch = [await self._jobs.get()]
            while len(batch) < MAX_GROUP and not self._jobs.empty():
                batch.append(self._jobs.get_nowait())
            appends = [job for job in batch if isinstance(job, _Append)]
            if appends:
                for job, outcome in zip(appends, await self._commit(appends), strict=True):
                    _settle(job.future, outcome)
            if _STOP in batch:
                return

    async def _commit(self, jobs: list[_Append]) -> list[Any]:
        """Write every append of `jobs` in one transaction; each one fails or succeeds alone,
        but a failure of the transaction fails them all."""
        try:
            async with asyncio.timeout(WRITE_TIMEOUT):
                if self._writer is None or self._writer.is_closed():
                    self._writer = await self._connect()
                return await self._write(self._writer, jobs)
        except StoreError as e:  # could not connect: nothing was sent
            return [e] * len(jobs)
        except Exception as e:  # the writer task must outlive any one group
            if self._writer is not None:
                self._writer.terminate()  # a transaction cut short is rolled back by the server
                self._writer = None
            if not isinstance(e, DRIVER_ERRORS):
                log.exception("event store: an append group failed unexpectedly")
            return [self._failure(UNCERTAIN, e)] * len(jobs)

    async def _write(self, conn: asyncpg.Connection, jobs: list[_Append]) -> list[Any]:
        async with conn.transaction():
            head = await conn.fetchval("SELECT head FROM newsroom_log FOR UPDATE")
            streams = list({job.stream for job in jobs})
            versions: dict[str, int] = dict(
                await conn.fetch(
                    "SELECT stream, version FROM streams WHERE stream = ANY($1::text[])", streams
                )
            )
            keys = [job.key for job in jobs if job.key is not None]
            earlier: dict[str, tuple[str, AppendResult]] = {}
            if keys:
                sql = f"SELECT key, {_KEY_COLUMNS} FROM idempotency WHERE key = ANY($1::text[])"
                earlier = {row[0]: _replayed(row[1:]) for row in await conn.fetch(sql, keys)}
            group = _Group(head, versions, earlier, datetime.now(UTC))
            outcomes = [group.add(job) for job in jobs]
            if group.rows:
                await conn.execute(_INSERT_EVENTS, *zip(*group.rows, strict=True))
                moved = [(s, v, stream_number(s)) for s, v in group.moved.items()]
                await conn.execute(_UPSERT_STREAMS, *zip(*moved, strict=True))
                if group.keys:
                    await conn.execute(_INSERT_KEYS, *zip(*group.keys, strict=True))
                await conn.execute(_MOVE_HEAD, group.head, CHANNEL)
        if group.rows:
            self.transactions += 1
            if self.on_commit is not None:
                self.on_commit(len(group.rows))
            self._note_head(group.head)
        return outcomes

    # --- connections ------------------------------------------------------------------------------

    async def _connect(self) -> asyncpg.Connection:
        try:
            conn: asyncpg.Connection = await asyncpg.connect(
                self._url, timeout=CONNECT_TIMEOUT, command_timeout=READ_TIMEOUT,
                server_settings=SESSION,
            )  # fmt: skip
        except DRIVER_ERRORS as e:
            raise self._failure("cannot connect", e) from None
        return conn

    async def _read(
        self, query: Callable[[asyncpg.Connection], Any], pool: asyncpg.Pool | None = None
    ) -> Any:
        """Run `query` on a connection of `pool` (the command path's by default)."""
        pool = pool or self._pool
        if self._closed or pool is None:
            raise StoreError(f"{self._location}: the event store is closed")
        try:
            async with asyncio.timeout(READ_TIMEOUT):
                async with pool.acquire() as conn:
                    try:
                        return await query(conn)
                    except DRIVER_ERRORS:
                        conn.terminate()  # never hand a connection in an unknown state out again
                        raise
        except DRIVER_ERRORS as e:
            raise self._failure("the read failed", e) from None

    async def _set_up(self, conn: asyncpg.Connection) -> None:
        """Create the schema in a database without tables; check it in one that has them."""
        await conn.execute("SELECT pg_advisory_lock($1)", SETUP_LOCK)  # one process at a time
        try:
            if await conn.fetchval("SELECT to_regclass('newsroom_log') IS NOT NULL"):
                found = await conn.fetchval("SELECT schema_version FROM newsroom_log")
                if found > SCHEMA_VERSION:
                    raise StoreUnrecognised(
                        f"{self._location}: the log has schema version {found}, newer than this "
                        f"newsroom's ({SCHEMA_VERSION}): upgrade newsroom to serve it"
                    )
                return
            tables = await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                "ORDER BY tablename LIMIT 5"
            )
            if tables:
                names = ", ".join(row[0] for row in tables)
                raise StoreUnrecognised(
                    f"{self._location}: not a newsroom database (it has other tables: {names}); "
                    "give newsroom an empty database of its own"
                )
            async with conn.transaction():
                await conn.execute(SCHEMA)
            log.info("event store: created the newsroom schema in %s", self._location)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", SETUP_LOCK)

    async def _release(self) -> None:
        if self._writer is not None:
            await _close(self._writer)
            self._writer = None
        pools = [p for p in (self._pool, self._log_pool) if p is not None]
        self._pool = self._log_pool = None
        for pool in pools:
            try:
                await asyncio.wait_for(pool.close(), CONNECT_TIMEOUT)
            except asyncio.CancelledError:
                pool.terminate()
                raise
            except Exception:
                pool.terminate()
        while not self._jobs.empty():
            job = self._jobs.get_nowait()
            if isinstance(job, _Append):
                _settle(job.future, StoreError(f"{self._location}: the event store is closed"))

    def _failure(self, what: str, error: BaseException) -> StoreError:
        return StoreError(f"{self._location}: {what}: {_why(error)}")


class _Group:
    """The appends of one transaction, checked and numbered in order against what the database
    held when the transaction took the head's lock."""

    def __init__(
        self,
        head: int,
        versions: dict[str, int],
        earlier: dict[str, tuple[str, AppendResult]],
        now: datetime,
    ) -> None:
        self.head = head
        self.versions = versions
        self.earlier = earlier
        self.now = now
        self.recorded_at = now.isoformat()
        self.rows: list[tuple[Any, ...]] = []
        self.moved: dict[str, int] = {}
        self.keys: list[tuple[Any, ...]] = []

    def add(self, job: _Append) -> AppendResult | NewsroomError:
        try:
            return self._add(job)
        except NewsroomError as e:
            return e

    def _add(self, job: _Append) -> AppendResult:
        if job.key is not None and (earlier := self.earlier.get(job.key)):
            fingerprint, result = earlier
            if fingerprint != job.fingerprint:
                raise IdempotencyKeyReused(
                    f"idempotency key {job.key!r} was already used for a different command"
                )
            return result
        current = self.versions.get(job.stream, 0)
        if current != job.expected_version:
            raise ConcurrencyError(
                f"{job.stream} is at version {current}, not at the expected version "
                f"{job.expected_version}; reload it and try again"
            )
        records = []
        metadata = orjson.loads(job.metadata)
        for i, (event, (type_name, schema, data)) in enumerate(
            zip(job.events, job.encoded, strict=True)
        ):
            position, version, event_id = self.head + 1 + i, current + 1 + i, str(uuid4())
            values = (position, job.stream, version, event_id, type_name, schema, data,
                      job.metadata, self.recorded_at)  # fmt: skip
            self.rows.append((*values, checksum(values)))
            records.append(
                Recorded(position, job.stream, version, event_id, event, self.now, metadata)
            )
        first, count = self.head + 1, len(records)
        self.head += count
        version = current + count
        self.versions[job.stream] = self.moved[job.stream] = version
        result = AppendResult(job.stream, version, first, self.head, tuple(records))
        if job.key is not None:
            self.keys.append((job.key, job.fingerprint, job.stream, version, first, self.head))
            self.earlier[job.key] = (job.fingerprint, replace_replayed(result))
        return result


def replace_replayed(result: AppendResult) -> AppendResult:
    """What a repeat of `result`'s idempotency key returns: the same numbers, nothing new."""
    return AppendResult(
        result.stream, result.version, result.first_position, result.last_position, replayed=True
    )


def _replayed(row: Sequence[Any]) -> tuple[str, AppendResult]:
    fingerprint, stream, version, first, last = row
    return fingerprint, AppendResult(stream, version, first, last, replayed=True)


async def _pool(url: str, size: int) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        url, min_size=1, max_size=size, timeout=CONNECT_TIMEOUT, command_timeout=READ_TIMEOUT,
        server_settings=SESSION, reset=_keep_session,
    )  # fmt: skip


async def _keep_session(conn: asyncpg.Connection) -> None:
    """What a pooled connection needs between two users: nothing. asyncpg's default runs
    `RESET ALL` and more, a round trip per use (8 % of a createArticle's time here), and
    these connections keep no session state: every transaction ends before release, and the
    only SET is transaction-local."""


async def _close(conn: asyncpg.Connection) -> None:
    """Close a connection politely if the server answers in time, else cut it."""
    try:
        await conn.close(timeout=1.0)
    except asyncio.CancelledError:
        conn.terminate()
        raise
    except Exception:  # the server is gone or slow: nothing to be polite to
        conn.terminate()


def _settle(future: asyncio.Future[Any], outcome: Any) -> None:
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def _why(error: BaseException) -> str:
    """A driver error in a few words, without anything that could carry the URL."""
    text = str(error).splitlines()[0] if str(error) else ""
    name = type(error).__name__
    if isinstance(error, TimeoutError):
        return "no answer in time"
    return f"{name}: {text}" if text else name
