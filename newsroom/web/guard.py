"""The one wrapper every route's handler runs in (`guard`, applied by `web/app.py`, and by
`web/unmatched.py` to what answers a request whose target is not a path).

For each request it:
- gives the request its id (the client's `X-Request-Id` if sane, else a new one: `observe.py`),
  keeps it where the log lines written while the request is handled find it (`logs.RequestId`),
  and sends it back on the reply;
- holds back a client past its request rate (a JSON 429, `rates.py`);
- is the error boundary: a newsroom error becomes its 4xx or 503 once, here, and anything else a
  JSON 500 that names nothing; never a traceback to a client;
- notes what happened for the metrics and the access log (`observe.py`).

It is a wrapper on each route rather than a middleware: once an app has any middleware, aiohttp
runs every request through two more layers, a measurable share of serving a cached feed
(docs/benchmarks.md, section 6). And it is one coroutine, not a wrapper in a wrapper: each layer
costs a coroutine per request, about 1 % of a cached feed's instructions (section 10).

Each guarded route also takes `expect_continue` as its `Expect` handler, which aiohttp runs
before the handler: so a request with an unusual `Expect` header still reaches the guard.
"""

from __future__ import annotations

import functools
import logging
import time

from aiohttp import HttpVersion11, hdrs, web
from aiohttp.http_writer import StreamWriter
from aiohttp.typedefs import Handler

from newsroom.errors import NewsroomError, StoreError
from newsroom.logs import FAILURE_LINES, REQUEST_ID, RequestId
from newsroom.web.connections import GuardedConnection
from newsroom.web.http import REQUEST_ID_HEADER, REQUEST_RATE, json_error, refusal
from newsroom.web.observe import BATCH, OBSERVER, new_request_id, sane_id
from newsroom.web.rates import RequestRate

log = logging.getLogger(__name__)
BODY_MAX = 64 * 1024  # bytes; the largest request body newsroom reads


def guard(handler: Handler, route: str, app: web.Application) -> Handler:
    """`handler` with a request id, behind `app`'s request rate and the error boundary, and
    observed; `route` is its template (or label), as the metrics and the access log show it.
    The app is taken here rather than from each request (`request.app`), so a request that no
    router matched (`unmatched.front_door`) is guarded too."""
    observer = app[OBSERVER]
    observer.metrics.route(route)  # its series exist from the start
    notes, clock, header = observer.notes, time.perf_counter_ns, REQUEST_ID_HEADER

    @functools.wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        # The request's `headers` and `method` are read from aiohttp's attributes, as the
        # reply's are below (the comment there says why).
        given = request._headers.get(header)
        rid = given if given is not None and sane_id(given) else new_request_id()
        # Where the log lines written meanwhile find the id (logs.RequestId says why): on
        # newsroom's server, the holder of the request's connection, which put it in the
        # context this request's task copied and empties it before the next request. It is
        # reached through the connection: reading the context variable searched the task's
        # new copy of the context each time (docs/benchmarks.md, section 10). On aiohttp's own
        # server (tests, an embedding program), a holder for this request's task alone.
        if isinstance(connection := request._protocol, GuardedConnection):
            connection.request_id.value = rid
        else:
            holder_elsewhere(rid)
        started = clock()
        status, size = 500, 0
        try:
            rate = app[REQUEST_RATE]
            if wait := rate.wait(request.remote):
                response: web.StreamResponse = await too_many_requests(rate, wait)
            else:
                try:
                    response = await handler(request)
                except web.HTTPRequestEntityTooLarge:
                    limit = BODY_MAX // 1024
                    response = json_error(
                        413, f"the request body is larger than the {limit} KiB limit"
                    )
                except (web.HTTPException, ConnectionResetError):
                    raise  # a redirect or an error aiohttp answers; a client gone mid-request
                except Exception as e:
                    response = failure(request, e)
            # What aiohttp's properties `status`, `prepared`, `body_length`, `headers` and
            # `body` return, read from its attributes: in Python 3.11 each property is a call
            # into the interpreter, and these were a tenth of what observing a request costs
            # (docs/benchmarks.md, section 10). Whether the reply is prepared (a WebSocket or a
            # streamed reply, its head sent) is asked of the request's writer first: the
            # reply's own attributes for it are class defaults until it is, which Python 3.11
            # looks up in the class every time. Only where a head went out (this reply's, or
            # one its handler prepared before it failed) is the reply itself asked.
            # tests/web/test_guard.py checks that they agree, for the request's too.
            status = response._status
            writer: StreamWriter = request._payload_writer  # type: ignore[assignment]
            if (writer._headers_written or writer._headers_buf is not None) and (
                response._eof_sent or response._payload_writer is not None
            ):  # prepared
                size = response._body_length
            else:
                response._headers[header] = rid
                body = response._body
                size = len(body) if isinstance(body, bytes) else response.content_length or 0
            return response
        except web.HTTPException as e:
            status = e.status
            e.headers[header] = rid
            raise
        finally:
            ended = clock()
            notes.append((ended, ended - started, request._method, route, status, size, rid))
            if len(notes) >= BATCH:
                observer.drain()

    return guarded


def holder_elsewhere(rid: str) -> None:
    """Keep `rid` where log lines find it when the connection is not newsroom's: in the holder
    of the context, if one is there, else in a new one for this request's task."""
    if (holder := REQUEST_ID.get()) is None:
        REQUEST_ID.set(holder := RequestId())
    holder.value = rid


def failure(request: web.Request, error: Exception) -> web.Response:
    """The reply to a handler that raised `error`: a newsroom error's own 4xx or 503, else a
    500 that names nothing (the log has the traceback). The log line names the path as the
    client sent it, still percent-encoded, and without the query: a decoded path could carry
    a line break (`%0A`) and forge a log line, and a query may carry search text."""
    path = request.rel_url.raw_path
    if not isinstance(error, NewsroomError):
        if (more := FAILURE_LINES.take(type(error).__qualname__)) is not None:
            log.error("%s %s failed unexpectedly%s", request.method, path, more, exc_info=error)
        return json_error(500, "internal error")
    if (refused := refusal(error)) is not None:
        return json_error(refused.status, refused.message, **refused.headers)
    if (more := FAILURE_LINES.take(type(error).__qualname__)) is not None:
        log.error("%s %s failed: %s%s", request.method, path, error, more)
    if isinstance(error, StoreError):  # its message names files: for the log, not the client
        return json_error(503, error.public, **{"Retry-After": "1"})
    return json_error(503, str(error))


async def expect_continue(request: web.Request) -> None:
    """Each route's `Expect` handler: `100-continue` is answered as aiohttp does (the client may
    send its body), and any other expectation is ignored, as RFC 9110 (section 10.1.1) allows,
    so the request still reaches its handler through the guard. aiohttp's own would answer a
    417 from outside the guard: without a request id, a count or an access line, and with the
    client's header in its body."""
    expect = request.headers.get(hdrs.EXPECT, "")
    if request.version == HttpVersion11 and expect.lower() == "100-continue":
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0  # the reply proper has not started


async def too_many_requests(rate: RequestRate, wait: float) -> web.Response:
    """429 for a client past its request rate, with the whole seconds until it may retry; sent
    only after that time (rates.py says why)."""
    retry = rate.retry_after(wait)
    await rate.held_back(wait)
    return json_error(
        429,
        f"too many requests from your address (at most {rate.rate} a second, {rate.burst} at "
        f"once); retry in {retry} s",
        **{"Retry-After": str(retry)},
    )
