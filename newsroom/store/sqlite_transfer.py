"""Moving a log in and out of an SQLite file: the raw rows, for `newsroom export` / `import`.

Export reads like `verify`: the file is checked as start-up checks it, then read through a
read-only connection in one read transaction, a consistent snapshot even while a server appends
(in WAL mode a reader and the writer never wait for each other).

Import writes a new file, all or nothing: the rows go into a temporary file beside the target,
in one transaction with neither journal nor fsync (nobody else sees that file, and a crash only
leaves it behind); at the end it is flushed to disk and linked under the target's name, which
cannot replace a file that appeared meanwhile. The server's lock on the target is held
throughout, so no server opens the log before it is whole.

The sqlite3 calls block; each runs on a worker thread, so the event loop stays free. No sqlite3
object but the connection ever leaves the call that made it: a cursor dropped on another thread
would reset its cached statement while the next call uses it (SQLITE_MISUSE).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar

from newsroom.errors import StoreError, StoreUnrecognised
from newsroom.store.integrity import Problem
from newsroom.store.log_checks import MISMATCHED_KEYS, key_problem
from newsroom.store.rows import COLUMNS, stream_number
from newsroom.store.sqlite_errors import translate
from newsroom.store.sqlite_file import SCHEMA, check_existing, in_use, lock_exclusively
from newsroom.store.transfer import PAGE, Contents, EventRow, KeyRow

T = TypeVar("T")
_EVENTS = f"SELECT {COLUMNS}, checksum FROM events WHERE position > ? ORDER BY position LIMIT ?"
_KEYS = """
SELECT * FROM idempotency WHERE (first_position, key) > (?, ?)
ORDER BY first_position, key LIMIT ?
"""  # keys in byte order, as postgres_transfer.py pages them
_INSERT_EVENT = f"INSERT INTO events ({COLUMNS}, checksum) VALUES (?,?,?,?,?,?,?,?,?,?)"


class SQLiteSource:
    """An SQLite log read for export; open it with `async with SQLiteSource.reading(path)`."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self._path = path
        self._conn = conn

    @classmethod
    @contextlib.asynccontextmanager
    async def reading(cls, path: Path) -> AsyncIterator[SQLiteSource]:
        """The log at `path`, checked and opened read-only; `StoreUnrecognised` if there is none."""
        conn = await _run(path, lambda: _read_only(path))
        try:
            yield cls(path, conn)
        finally:
            conn.close()

    @property
    def location(self) -> str:
        return str(self._path)

    async def contents(self) -> Contents:
        def count() -> Contents:
            (head,) = self._conn.execute("SELECT coalesce(max(position), 0) FROM events").fetchone()
            (keys,) = self._conn.execute("SELECT count(*) FROM idempotency").fetchone()
            return Contents(head, keys)

        return await _run(self._path, count)

    async def events(self) -> AsyncIterator[Sequence[EventRow]]:
        after = 0
        while rows := await self._fetch(_EVENTS, after, PAGE):
            yield [EventRow._make(row) for row in rows]
            after = rows[-1][0]

    async def keys(self) -> AsyncIterator[Sequence[KeyRow]]:
        after: tuple[int, str] = (0, "")
        while rows := await self._fetch(_KEYS, *after, PAGE):
            yield [KeyRow._make(row) for row in rows]
            after = (rows[-1][4], rows[-1][0])

    async def _fetch(self, sql: str, *args: Any) -> list[Any]:
        return await _run(self._path, lambda: self._conn.execute(sql, args).fetchall())


class SQLiteTarget:
    """A new SQLite log being filled by an import; open it with
    `async with SQLiteTarget.writing(path)`. Leaving without `commit` leaves no file."""

    def __init__(self, path: Path, temporary: Path, conn: sqlite3.Connection) -> None:
        self._path = path
        self._temporary = temporary
        self._conn = conn

    @classmethod
    @contextlib.asynccontextmanager
    async def writing(cls, path: Path) -> AsyncIterator[SQLiteTarget]:
        """A temporary file beside `path`, with the schema and an open transaction; `StoreError`
        if `path` exists already (an import never writes over a file) or a server holds it."""
        lock = await asyncio.to_thread(_claim, path)
        temporary = path.with_name(f".{path.name}.importing")
        try:
            conn = await _run(path, lambda: _fresh(temporary))
            try:
                yield cls(path, temporary, conn)
            finally:
                conn.close()
                await asyncio.to_thread(temporary.unlink, missing_ok=True)
        finally:
            lock.close()

    @property
    def location(self) -> str:
        return str(self._path)

    async def add_events(self, rows: Sequence[EventRow]) -> None:
        await _run(self._path, lambda: self._conn.executemany(_INSERT_EVENT, rows).close())

    async def add_keys(self, rows: Sequence[KeyRow]) -> None:
        sql = _insert("idempotency", 6)
        await _run(self._path, lambda: self._conn.executemany(sql, rows).close())

    async def key_problem(self) -> Problem | None:
        def first() -> Problem | None:
            row = self._conn.execute(MISMATCHED_KEYS).fetchone()
            return None if row is None else key_problem(row)

        return await _run(self._path, first)

    async def commit(self, streams: Mapping[str, int]) -> None:
        await _run(self._path, lambda: self._finish(streams))
        await asyncio.to_thread(self._publish)

    def _finish(self, streams: Mapping[str, int]) -> None:
        rows = ((stream, version, stream_number(stream)) for stream, version in streams.items())
        self._conn.executemany(_insert("streams", 3), rows)
        self._conn.execute("COMMIT")
        self._conn.close()

    def _publish(self) -> None:
        """Flush the finished file to disk, then give it the target's name (a hard link, which
        fails rather than replace a file of that name), and make the new name durable."""
        with self._temporary.open("rb") as f:
            os.fsync(f.fileno())
        try:
            os.link(self._temporary, self._path)
        except FileExistsError:
            raise StoreError(
                f"{self._path}: a file of that name appeared during the import"
            ) from None
        self._temporary.unlink()
        directory = os.open(self._path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def _claim(path: Path) -> IO[str]:
    """Take the server's lock on `path`, which must name no file (nor a WAL), before and after."""
    _refuse_existing(path)
    lock = lock_exclusively(path)
    try:
        _refuse_existing(path)  # made meanwhile, before the lock was taken
    except StoreError:
        lock.close()
        raise
    return lock


def _refuse_existing(path: Path) -> None:
    for taken in (path, path.with_name(path.name + "-wal")):
        if taken.exists():
            raise StoreError(
                f"{taken}: exists already: import writes a new log and never over a file; "
                "name a path where there is none"
            )


def _read_only(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise StoreUnrecognised(f"{path}: {'not a file' if path.exists() else 'no such file'}")
    # A server's live WAL changes under a reader's feet: walk it only if nobody writes.
    check_existing(path, walk_wal=not in_use(path))
    conn = sqlite3.connect(
        f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None,
        check_same_thread=False,  # used from worker threads, one call at a time
    )  # fmt: skip
    conn.execute("PRAGMA query_only=1")
    conn.execute("BEGIN")  # one snapshot for the whole export
    return conn


def _fresh(path: Path) -> sqlite3.Connection:
    path.unlink(missing_ok=True)  # left by an import that crashed (the lock is ours now)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    # No journal and no fsync while filling: the file is only ever seen whole (`_publish`).
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.executescript(f"BEGIN; {SCHEMA}")
    return conn


def _insert(table: str, columns: int) -> str:
    return f"INSERT INTO {table} VALUES ({', '.join('?' * columns)})"


async def _run(path: Path, work: Callable[[], T]) -> T:
    """Run blocking sqlite3 work on a worker thread, with its errors in newsroom's terms."""
    try:
        return await asyncio.to_thread(work)
    except sqlite3.Error as e:
        raise translate(path, e) from e
