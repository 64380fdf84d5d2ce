"""`newsroom verify` for a PostgreSQL log: the same checks as on SQLite, the same `Verdict`.

It reads everything, in one `REPEATABLE READ READ ONLY` transaction (one consistent log while
servers go on appending):
1. that the database holds a newsroom log this version reads (`postgres_tools.check_log`);
2. every event in position order, a page at a time: positions 1, 2, 3, ... up to the head in
   `newsroom_log` and none beyond it, each checksum, each stream's versions 1, 2, 3, ..., and
   that it decodes as a replay would decode it (`log_checks.py`);
3. the `streams` table against those events;
4. every idempotency record: the positions it names hold its stream's events.

PostgreSQL checks its own pages itself (and with data checksums on, every read does); there is
no `integrity_check` to run here.
"""

from __future__ import annotations

import time

import asyncpg

from newsroom.store.integrity import Problem, Progress, Verdict
from newsroom.store.log_checks import MISMATCHED_KEYS, EventChecks, key_problem, stream_problems
from newsroom.store.postgres import public_location
from newsroom.store.postgres_tools import EVENTS_AFTER, check_log, connected

PAGE = 10_000  # events fetched at a time


async def verify_database(url: str, progress: Progress | None = None) -> Verdict:
    """Check the whole log in the database at `url`, reading only; raise `StoreUnrecognised`
    if it holds no newsroom log, `StoreError` if it cannot be read."""
    started = time.monotonic()
    location = public_location(url)
    tell = progress or (lambda stage, done, total: None)
    async with (
        connected(url) as conn,
        conn.transaction(isolation="repeatable_read", readonly=True),
    ):
        await check_log(conn, location)
        head = await conn.fetchval("SELECT head FROM newsroom_log")
        checks = EventChecks(head, decode=True)
        problem = await _scan(conn, checks, tell) or checks.end()
        problems = [problem] if problem else await _tables(conn, checks)
    problems.sort(key=lambda p: (p.position is None, p.position or 0))
    seconds = time.monotonic() - started
    return Verdict(location, checks.events, len(checks.streams), head, seconds, tuple(problems))


async def _scan(conn: asyncpg.Connection, checks: EventChecks, tell: Progress) -> Problem | None:
    """Every event, in position order; the first problem stops the scan."""
    after = 0
    while rows := await conn.fetch(EVENTS_AFTER, after, PAGE):
        for row in rows:
            if (problem := checks.check(row)) is not None:
                return problem
        after = rows[-1]["position"]
        tell("reading events", checks.events, checks.head)
    return None


async def _tables(conn: asyncpg.Connection, checks: EventChecks) -> list[Problem]:
    """The tables that must agree with the events (read in full, so only once they are)."""
    recorded = dict(await conn.fetch("SELECT stream, version FROM streams"))
    problems = list(stream_problems(recorded, checks.streams))
    problems += map(key_problem, await conn.fetch(MISMATCHED_KEYS))
    return problems
