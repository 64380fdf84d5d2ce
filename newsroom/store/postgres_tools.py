"""One plain connection to a PostgreSQL log for the tools that work on a whole log at once
(`export`, `import`, `verify`): its driver errors in newsroom's terms, and the check that the
database holds a newsroom log this version can read.

A server's store (`postgres.py`) needs pools, a writer task and a listener; these tools need
none of that, and must not create the schema in a database they only read.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg

from newsroom.errors import StoreError, StoreUnrecognised
from newsroom.store.postgres import (
    CONNECT_TIMEOUT,
    DRIVER_ERRORS,
    SCHEMA_VERSION,
    public_location,
)
from newsroom.store.rows import COLUMNS

STATEMENT_TIMEOUT = 600.0  # seconds one statement may take (a page, a COPY, a check of a table)
# A page of the log: the events after a position (keyset paging: each page is found through
# the primary key, however far into the log it starts).
EVENTS_AFTER = (
    f"SELECT {COLUMNS}, checksum FROM events WHERE position > $1 ORDER BY position LIMIT $2"
)


@contextlib.asynccontextmanager
async def connected(url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the database at `url`; a driver error while it is open (in the body
    too) comes out as `StoreError`, naming the database without its password."""
    location = public_location(url)
    try:
        conn = await asyncpg.connect(
            url, timeout=CONNECT_TIMEOUT, command_timeout=STATEMENT_TIMEOUT
        )
    except DRIVER_ERRORS as e:
        raise StoreError(f"{location}: cannot connect: {why(e)}") from None
    try:
        yield conn
    except DRIVER_ERRORS as e:
        raise StoreError(f"{location}: {why(e)}") from None
    finally:
        await _close(conn)


async def has_log(conn: asyncpg.Connection) -> bool:
    """True if the database has newsroom's tables (an empty log counts)."""
    return bool(await conn.fetchval("SELECT to_regclass('newsroom_log') IS NOT NULL"))


async def check_log(conn: asyncpg.Connection, location: str) -> None:
    """Raise `StoreUnrecognised` unless the database holds a newsroom log this version reads."""
    if not await has_log(conn):
        raise StoreUnrecognised(f"{location}: holds no newsroom log (no newsroom_log table)")
    found = await conn.fetchval("SELECT schema_version FROM newsroom_log")
    if found > SCHEMA_VERSION:
        raise StoreUnrecognised(
            f"{location}: the log has schema version {found}, newer than this newsroom's "
            f"({SCHEMA_VERSION}): upgrade newsroom"
        )


async def other_tables(conn: asyncpg.Connection) -> list[str]:
    """The first few tables of the database's schema (for a database that holds no log)."""
    rows = await conn.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
        "ORDER BY tablename LIMIT 5"
    )
    return [row[0] for row in rows]


def why(error: BaseException) -> str:
    """A driver error in a few words: its first line, which never carries the URL."""
    if isinstance(error, TimeoutError):
        return "no answer in time"
    text = str(error).splitlines()[0] if str(error) else ""
    name = type(error).__name__
    return f"{name}: {text}" if text else name


async def _close(conn: asyncpg.Connection) -> None:
    """Close politely if the server answers in time, else cut the connection."""
    try:
        await conn.close(timeout=CONNECT_TIMEOUT)
    except asyncio.CancelledError:
        conn.terminate()
        raise
    except Exception:  # the server is gone or slow: nothing to be polite to
        conn.terminate()
