"""What every request leaves for operators: its `X-Request-Id`, an access log line, and metrics.

Each route's handler is wrapped once (`observed`, applied by `web/app.py` with the route's
*template*, e.g. `/{category}/{slug}`), rather than by a middleware, for the reason
`error_boundary` gives. The wrapper:
- takes the client's `X-Request-Id` if it is a sane token (letters, digits, `._:-`, at most
  128), else makes one (this process's random prefix and a counter: unique, and a twentieth of
  the cost of a UUID), sends it back on the response, and keeps it in a context variable while
  the request is handled, so every log line written meanwhile carries it (`logs.py`);
- counts the request in `/metrics` by template, method and status, with its latency;
- logs one line on the `newsroom.access` logger (unless `--no-access-log`): method, template,
  status, milliseconds, bytes, request id. Never the query string, a header or a body: no
  token or search text reaches the log.
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
import re
import time

from aiohttp import web
from aiohttp.typedefs import Handler

from newsroom import logs
from newsroom.logs import REQUEST_ID
from newsroom.web.metrics import Metrics

access = logging.getLogger("newsroom.access")
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_PREFIX = os.urandom(5).hex()  # tells this process's ids from another's (and from a restart's)
_NUMBERS = itertools.count(1)


def request_id(request: web.Request) -> str:
    """The client's X-Request-Id if it is a sane value, else a new one (20 hex digits)."""
    given = request.headers.get("X-Request-Id")
    if given is not None and _SANE_ID.fullmatch(given):
        return given
    return f"{_PREFIX}{next(_NUMBERS):010x}"


def observed(handler: Handler, route: str, observer: Observer) -> Handler:
    """`handler` with a request id, metrics and an access log line; `route` is its template."""
    counts = observer.metrics.route(route)  # found once here, not per request

    @functools.wraps(handler)
    async def observing(request: web.Request) -> web.StreamResponse:
        rid = request_id(request)
        context = REQUEST_ID.set(rid)
        started = time.perf_counter()
        status, response = 500, None
        try:
            response = await handler(request)
            status = response.status
            if not response.prepared:  # a WebSocket or a streamed reply sent its head already
                response.headers["X-Request-Id"] = rid
            return response
        except web.HTTPException as e:  # a redirect or an error aiohttp answers for us
            status = e.status
            e.headers["X-Request-Id"] = rid
            raise
        finally:
            seconds = time.perf_counter() - started
            counts.observe(request.method, status, seconds)
            if observer.access_log:
                observer.log(request.method, route, status, seconds, response, rid)
            REQUEST_ID.reset(context)

    return observing


class Observer:
    """An app's metrics, and whether (and where) its requests are logged (`web/app.py`)."""

    def __init__(self, metrics: Metrics, access_log: bool) -> None:
        self.metrics = metrics
        self.access_log = access_log

    def log(
        self,
        method: str,
        route: str,
        status: int,
        seconds: float,
        response: web.StreamResponse | None,
        rid: str,
    ) -> None:
        size = _size(response)
        if (sink := logs.access_log()) is not None:
            sink.write(method, route, status, seconds * 1000, size, rid)
        else:  # newsroom did not set up the output (tests, embedding): plain logging
            access.info(
                "%s %s %d %.1f ms %d bytes", method, route, status, seconds * 1000, size,
                extra={"method": method, "route": route, "status": status,
                       "duration_ms": round(seconds * 1000, 2), "bytes": size,
                       "request_id": rid},
            )  # fmt: skip


OBSERVER = web.AppKey("observer", Observer)


def _size(response: web.StreamResponse | None) -> int:
    """Bytes of the reply's body: sent so far if it was streamed, else its length."""
    if response is None:
        return 0
    if response.prepared:
        return response.body_length
    body = getattr(response, "body", None)
    return len(body) if isinstance(body, bytes) else response.content_length or 0
