"""What every request leaves for operators: its request id, an access log line, and metrics.

The route wrapper (`web/guard.py`) takes the client's `X-Request-Id` if it is a sane token
(letters, digits, `._:-`, at most 128), else makes one here (this process's random prefix and a
counter: unique, and cheap to make); and it notes what each request did as one tuple: when
it ended and how long it took, method, template, status, bytes and request id.

The notes are handled in batches (`Observer.drain`): every `BATCH` requests, every
`DRAIN_EVERY` seconds, before `/metrics` answers and at a stop. A batch is counted into the
metrics (by template, method and status, with latencies) and handed to the access log (unless
`--no-access-log`), which formats and writes it off the request path. A cached feed takes
about 30 µs to serve; counting and logging each request on its own would add a quarter to that.
The access line never holds the query string, a header or a body: no token or search text
reaches the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import re
from collections.abc import AsyncIterator, Iterator

from aiohttp import web

from newsroom import logs
from newsroom.logs import AccessEntry
from newsroom.web.metrics import Metrics

access = logging.getLogger("newsroom.access")
sane_id = re.compile(r"[A-Za-z0-9._:-]{1,128}").fullmatch
"""Whether a client's X-Request-Id may be taken as it is (else a new one is made)."""
_PREFIX = os.urandom(5).hex()  # tells this process's ids from another's (and from a restart's)
_ENDINGS = [f"{n:02x}" for n in range(256)]  # the last two hex digits of a request id


def _ids_from(block: int) -> Iterator[str]:
    """Block `block` of this process's request ids: its prefix, then the block's number and
    each ending (20 hex digits in all, for the first 2**32 blocks: 2**40 ids)."""
    return map(f"{_PREFIX}{block:08x}".__add__, _ENDINGS)


# This process's request ids, one after the other. Each is one concatenation, made in C: about
# 730 instructions, where a UUID takes 15,600 and formatting a counter for each id 3,100.
new_request_id = itertools.chain.from_iterable(map(_ids_from, itertools.count())).__next__
BATCH = 256  # requests noted before they are counted and logged on the spot
DRAIN_EVERY = 0.25  # seconds a note may wait when fewer requests come


class Observer:
    """An app's metrics, the requests noted since the last batch, and whether they are logged."""

    def __init__(self, metrics: Metrics, access_log: bool) -> None:
        self.metrics = metrics
        self.access_log = access_log
        self.notes: list[AccessEntry] = []
        metrics.before_scrape = self.drain

    def drain(self) -> None:
        """Count the noted requests into the metrics and hand them to the access log."""
        if not self.notes:
            return
        batch = self.notes.copy()
        self.notes.clear()
        self.metrics.count_requests(batch)
        if not self.access_log:
            return
        if (sink := logs.access_log()) is not None:
            sink.write(batch)
        else:  # newsroom did not set up the output (tests, embedding): plain logging
            for _, took, method, route, status, size, rid in batch:
                ms = took / 1e6  # the notes' times are nanoseconds
                access.info(
                    "%s %s %d %.1f ms %d bytes", method, route, status, ms, size,
                    extra={"method": method, "route": route, "status": status,
                           "duration_ms": (took + 5_000) // 10_000 / 100,  # half up, as
                           "bytes": size, "request_id": rid},  # logs.access_lines rounds
                )  # fmt: skip

    async def drain_often(self) -> None:
        while True:
            await asyncio.sleep(DRAIN_EVERY)
            self.drain()


OBSERVER = web.AppKey("observer", Observer)


async def draining(app: web.Application) -> AsyncIterator[None]:
    """The app's notes drained every `DRAIN_EVERY` seconds while it runs, and at its end."""
    observer = app[OBSERVER]
    task = asyncio.create_task(observer.drain_often(), name="observer drain")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    observer.drain()
