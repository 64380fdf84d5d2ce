"""What every request leaves for operators: its `X-Request-Id`, an access log line, and metrics.

Each route's handler is wrapped once (`observed`, applied by `web/app.py` with the route's
*template*, e.g. `/{category}/{slug}`), rather than by a middleware, for the reason
`error_boundary` gives. The wrapper:
- takes the client's `X-Request-Id` if it is a sane token (letters, digits, `._:-`, at most
  128), else makes one (this process's random prefix and a counter: unique, and a twentieth of
  the cost of a UUID), sends it back on the response, and keeps it in a context variable while
  the request is handled, so every log line written meanwhile carries it (`logs.py`);
- notes what happened as one tuple: the times, method, template, status, bytes and request id.

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
import functools
import itertools
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Iterator

from aiohttp import web
from aiohttp.typedefs import Handler
from multidict import istr

from newsroom import logs
from newsroom.logs import REQUEST_ID, AccessEntry
from newsroom.web.metrics import Metrics

access = logging.getLogger("newsroom.access")
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}").fullmatch
_PREFIX = os.urandom(5).hex()  # tells this process's ids from another's (and from a restart's)
REQUEST_ID_HEADER = istr("X-Request-Id")  # found without case-folding the name each time
IDS_AT_ONCE = 1024


def _new_ids() -> Iterator[str]:
    """This process's request ids: its prefix and a counter, made a block at a time (a loop
    over a block makes an id in a fifth of the time a call per id takes)."""
    for block in itertools.count(0, IDS_AT_ONCE):
        yield from [f"{_PREFIX}{n:010x}" for n in range(block + 1, block + 1 + IDS_AT_ONCE)]


_IDS = _new_ids()
BATCH = 256  # requests noted before they are counted and logged on the spot
DRAIN_EVERY = 0.25  # seconds a note may wait when fewer requests come


def request_id(request: web.Request) -> str:
    """The client's X-Request-Id if it is a sane value, else a new one (20 hex digits)."""
    given = request.headers.get(REQUEST_ID_HEADER)
    if given is not None and _SANE_ID(given):
        return given
    return next(_IDS)


def observed(handler: Handler, route: str, observer: Observer) -> Handler:
    """`handler` with a request id, metrics and an access log line; `route` is its template."""
    observer.metrics.route(route)  # its series exist from the start
    notes, clock = observer.notes, time.perf_counter

    @functools.wraps(handler)
    async def observing(request: web.Request) -> web.StreamResponse:
        rid = request_id(request)
        context = REQUEST_ID.set(rid)
        started = clock()
        status, size = 500, 0
        try:
            response = await handler(request)
            status = response.status
            if response.prepared:  # a WebSocket or a streamed reply: its head is sent already
                size = response.body_length
            else:
                response.headers[REQUEST_ID_HEADER] = rid
                size = _size(response)
            return response
        except web.HTTPException as e:  # a redirect or an error aiohttp answers for us
            status = e.status
            e.headers[REQUEST_ID_HEADER] = rid
            raise
        finally:
            notes.append((started, clock(), request.method, route, status, size, rid))
            if len(notes) >= BATCH:
                observer.drain()
            REQUEST_ID.reset(context)

    return observing


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
            for started, ended, method, route, status, size, rid in batch:
                ms = (ended - started) * 1000
                access.info(
                    "%s %s %d %.1f ms %d bytes", method, route, status, ms, size,
                    extra={"method": method, "route": route, "status": status,
                           "duration_ms": round(ms, 2), "bytes": size, "request_id": rid},
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


def _size(response: web.StreamResponse) -> int:
    """Bytes of a reply's body that is not sent yet."""
    body = getattr(response, "body", None)
    return len(body) if isinstance(body, bytes) else response.content_length or 0
