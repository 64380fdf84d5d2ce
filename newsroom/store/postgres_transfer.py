"""Moving a log in and out of PostgreSQL: the raw rows, for `newsroom export` / `import`.

Export reads in one `REPEATABLE READ READ ONLY` transaction, a consistent snapshot while
servers go on appending, a page at a time (keyset pages by position).

Import is one transaction, schema included when the database has none yet, so a failure at
any line leaves the database exactly as it was. It takes the advisory lock servers take to set
up the schema and the head's row lock appends take, so nothing is appended meanwhile; it writes
with COPY, the fastest way into PostgreSQL. Besides the rows of the file it sets what the
appends and id claims of `postgres.py` read: the streams table, the `numbers` table (each
prefix's highest number, so ids a server hands out continue above the imported ones) and the
head, then notifies the servers listening (if any) as an append would.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence

import asyncpg

from newsroom.errors import StoreError, StoreUnrecognised
from newsroom.store.integrity import Problem
from newsroom.store.log_checks import MISMATCHED_KEYS, key_problem
from newsroom.store.postgres import CHANNEL, DRIVER_ERRORS, SCHEMA, SETUP_LOCK, public_location
from newsroom.store.postgres_tools import EVENTS_AFTER, check_log, connected, has_log, other_tables
from newsroom.store.rows import COLUMNS, stream_number
from newsroom.store.transfer import PAGE, Contents, EventRow, KeyRow

EVENT_COLUMNS = [*COLUMNS.split(", "), "checksum"]
# By first position, then key in byte order (the "C" collation, as SQLite's BINARY), so that
# even a damaged log with two records at one position pages through both, in one order.
_KEYS = """
SELECT * FROM idempotency WHERE (first_position, key COLLATE "C") > ($1, $2)
ORDER BY first_position, key COLLATE "C" LIMIT $3
"""
_ANY_ROWS = """
SELECT EXISTS (SELECT FROM events) OR EXISTS (SELECT FROM streams)
    OR EXISTS (SELECT FROM idempotency)
"""
_NUMBERS = """
INSERT INTO numbers AS n (prefix, last) SELECT * FROM unnest($1::text[], $2::bigint[])
ON CONFLICT (prefix) DO UPDATE SET last = greatest(n.last, excluded.last)
"""


class PostgresSource:
    """A PostgreSQL log read for export; open it with `async with PostgresSource.reading(url)`."""

    def __init__(self, location: str, conn: asyncpg.Connection) -> None:
        self._location = location
        self._conn = conn

    @classmethod
    @contextlib.asynccontextmanager
    async def reading(cls, url: str) -> AsyncIterator[PostgresSource]:
        """The log at `url` in one snapshot; `StoreUnrecognised` if the database holds none."""
        location = public_location(url)
        async with (
            connected(url) as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            await check_log(conn, location)
            yield cls(location, conn)

    @property
    def location(self) -> str:
        return self._location

    async def contents(self) -> Contents:
        head = await self._conn.fetchval("SELECT head FROM newsroom_log")
        keys = await self._conn.fetchval("SELECT count(*) FROM idempotency")
        return Contents(head, keys)

    async def events(self) -> AsyncIterator[Sequence[EventRow]]:
        after = 0
        while rows := await self._conn.fetch(EVENTS_AFTER, after, PAGE):
            yield [EventRow._make(row) for row in rows]
            after = rows[-1]["position"]

    async def keys(self) -> AsyncIterator[Sequence[KeyRow]]:
        after: tuple[int, str] = (0, "")
        while rows := await self._conn.fetch(_KEYS, *after, PAGE):
            yield [KeyRow._make(row) for row in rows]
            after = (rows[-1]["first_position"], rows[-1]["key"])


class PostgresTarget:
    """An empty PostgreSQL database being filled by an import, in one transaction; open it with
    `async with PostgresTarget.writing(url)`. Leaving without `commit` rolls it all back."""

    def __init__(
        self, location: str, conn: asyncpg.Connection, transaction: asyncpg.Transaction
    ) -> None:
        self._location = location
        self._conn = conn
        self._transaction = transaction
        self._head = 0
        self._committed = False

    @classmethod
    @contextlib.asynccontextmanager
    async def writing(cls, url: str) -> AsyncIterator[PostgresTarget]:
        """The database at `url`, in a transaction that has checked it is empty (creating the
        schema if it has no tables); `StoreError` if it holds a log with events or other tables."""
        location = public_location(url)
        async with connected(url) as conn:
            target = cls(location, conn, conn.transaction())
            await target._transaction.start()
            try:
                await _take_empty(conn, location)
                yield target
            finally:
                if not target._committed:
                    with contextlib.suppress(*DRIVER_ERRORS):  # a lost connection rolled it back
                        await target._transaction.rollback()

    @property
    def location(self) -> str:
        return self._location

    async def add_events(self, rows: Sequence[EventRow]) -> None:
        await self._conn.copy_records_to_table("events", records=rows, columns=EVENT_COLUMNS)
        if rows:
            self._head = rows[-1].position

    async def add_keys(self, rows: Sequence[KeyRow]) -> None:
        await self._conn.copy_records_to_table("idempotency", records=rows)

    async def key_problem(self) -> Problem | None:
        row = await self._conn.fetchrow(MISMATCHED_KEYS)
        return None if row is None else key_problem(row)

    async def commit(self, streams: Mapping[str, int]) -> None:
        rows = [(stream, version, stream_number(stream)) for stream, version in streams.items()]
        await self._conn.copy_records_to_table("streams", records=rows)
        numbers = highest_numbers(streams)
        await self._conn.execute(_NUMBERS, list(numbers), list(numbers.values()))
        await self._conn.execute("UPDATE newsroom_log SET head = $1", self._head)
        await self._conn.execute("SELECT pg_notify($1, $2)", CHANNEL, str(self._head))
        await self._transaction.commit()
        self._committed = True


def highest_numbers(streams: Mapping[str, int]) -> dict[str, int]:
    """The highest N among the streams named '{prefix}N', for each prefix."""
    highest: dict[str, int] = {}
    for stream in streams:
        if (number := stream_number(stream)) is not None:
            prefix = stream.removesuffix(stream.rpartition("-")[2])  # 'article-' of 'article-7'
            highest[prefix] = max(highest.get(prefix, 0), number)
    return highest


async def _take_empty(conn: asyncpg.Connection, location: str) -> None:
    """Make sure the database is an empty log for the rest of the transaction: lock out schema
    set-ups and appends, create the schema in a database without tables, refuse anything else."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", SETUP_LOCK)
    if await has_log(conn):
        await check_log(conn, location)
        head = await conn.fetchval("SELECT head FROM newsroom_log FOR UPDATE")  # appends wait
        if head or await conn.fetchval(_ANY_ROWS):
            raise StoreError(
                f"{location}: not empty (its log holds {head:,} events): import only into "
                "an empty database"
            )
    elif tables := await other_tables(conn):
        raise StoreUnrecognised(
            f"{location}: not a newsroom database (it has other tables: {', '.join(tables)}); "
            "import into an empty database"
        )
    else:
        await conn.execute(SCHEMA)
