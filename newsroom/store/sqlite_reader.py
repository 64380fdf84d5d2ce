"""The SQLite store's read path: a second connection, read-only, on a thread of its own, so
reads never queue in front of an append (the writer thread does nothing but append).

Reads are served in two classes: short ones a command waits for (its stream, an idempotency
key) go first; pages of the log (replays, subscriptions, the `events` query) after them.

DESIGN.md gives the store one connection because two connections that *write or checkpoint* the
same WAL database can race (the SQLite in many Pythons still has that bug). This one can do
neither: it is opened with `mode=ro` and `query_only`, it never commits, and the store closes it
before the writer, so it is never the last connection (the one SQLite lets checkpoint on close).
The writer stays the only connection that changes the file. WAL gives a reader a consistent
snapshot of what was committed when its statement began, so a page of the log is always whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import queue
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from newsroom.errors import NewsroomError, StoreError
from newsroom.store.sqlite_errors import translate

T = TypeVar("T")
_STOP = object()


class _Job(NamedTuple):
    rank: int  # 0: a command waits for it; 1: a page of the log; 2: stop
    order: int
    fn: Callable[[sqlite3.Connection], Any]
    future: Any


class Reader:
    """A read-only connection to the log, served by one thread; `call` runs a read on it."""

    def __init__(self, path: Path, loop: asyncio.AbstractEventLoop) -> None:
        self._path = path
        self._loop = loop
        self._jobs: queue.PriorityQueue[_Job] = queue.PriorityQueue()
        self._order = itertools.count()  # first come, first served within a class
        self._closed = False
        self._thread = threading.Thread(target=self._work, name=f"sqlite-read:{path.name}")
        self._thread.daemon = True

    def start(self) -> None:
        """Start the thread; the connection opens with the first read (the writer made the file)."""
        self._thread.start()

    async def call(self, fn: Callable[[sqlite3.Connection], T], *, first: bool = False) -> T:
        """Run `fn(connection)` on the reader's thread and return its result; with `first`,
        ahead of every waiting read that was not asked for `first`."""
        if self._closed:
            raise StoreError(f"{self._path}: the event store is closed")
        future: asyncio.Future[T] = self._loop.create_future()
        self._jobs.put(_Job(0 if first else 1, next(self._order), fn, future))
        return await future

    async def close(self) -> None:
        """Finish the reads already asked for, then close the connection."""
        if self._closed:
            return
        self._closed = True
        if self._thread.is_alive():
            self._jobs.put(_Job(2, next(self._order), lambda _: None, _STOP))
            await asyncio.to_thread(self._thread.join)

    def _work(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while True:
                _, _, fn, future = self._jobs.get()
                if future is _STOP:
                    return
                try:
                    if conn is None:
                        conn = self._connect()
                    outcome: Any = fn(conn)
                except NewsroomError as e:
                    outcome = e
                except sqlite3.Error as e:
                    outcome = translate(self._path, e)
                except Exception as e:  # the thread must outlive any one read
                    outcome = StoreError(f"{self._path}: {type(e).__name__}: {e}")
                self._send(future, outcome)
        finally:
            if conn is not None:
                conn.close()

    def _connect(self) -> sqlite3.Connection:
        uri = f"{self._path.resolve().as_uri()}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=True)
        conn.execute("PRAGMA query_only=1")
        return conn

    def _send(self, future: asyncio.Future[Any], outcome: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
            self._loop.call_soon_threadsafe(settle, future, outcome)


def settle(future: asyncio.Future[Any], outcome: Any) -> None:
    """Resolve `future` (on its loop) with `outcome`: a result, or an exception to raise."""
    if future.cancelled():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
