"""Connection limits: how many connections may be open (in all, and per client address), and how
long a connection may stay silent.

Every connection holds a file descriptor, and a process has a fixed number of them. Without these
limits, 1,100 clients that connect and say nothing would take all of a 1,024-descriptor process
and every other client would be refused by the kernel. With them:

- a connection past `max_connections` in all, or past `max_connections_per_address` from one
  client (see addresses.py: loopback is exempt unless asked), is answered at once with a minimal
  `503 Service Unavailable` (JSON error, `Retry-After`, `X-Request-Id`, `Connection: close`) and
  closed, so its
  descriptor is free again before it ever reaches aiohttp's request handling (a client that
  already sent its request then sees a reset after the reply: the kernel resets a connection
  closed with bytes unread, and reading them first would hold the descriptor longer);
- a new connection has `header_timeout` seconds to send its first request's head; a client that
  sends nothing, or trickles a head a byte at a time (slowloris), is closed then;
- between requests, aiohttp's own `keepalive_timeout` applies: its timer is set again after each
  reply and closes a connection still waiting for (the rest of) its next request head. It also
  runs from the moment a connection opens, so the first head gets the shorter of the two.

- a reply the client stops reading is cut: once more of it waits to be sent than the transport
  buffers (asyncio pauses the writer), it must make progress every `send_timeout` seconds, or
  the connection is aborted and the reply's memory freed. A client cannot hold a 4 MiB reply
  (or a WebSocket's backlog) in the server by never reading it.

A request line or header past aiohttp's limit (8,190 bytes) gets a JSON 414 or 431 that says
so. A request's body has its own bound (`body_timeout`, read_json_object). A WebSocket is a request
still being handled, which neither timer touches, so an upgraded connection is never cut by them.

Where it hooks into aiohttp: a connection *is* an aiohttp `RequestHandler` (an asyncio
protocol); `GuardedConnection` subclasses it and adds the guard to the two calls that start and
end every connection, `connection_made` and `connection_lost`, so a count can only be taken by a
connection that asyncio will also report lost. `GuardedSite` listens like aiohttp's `TCPSite` but
builds a `GuardedConnection` per connection, registered with the runner's `Server` as aiohttp's
own would be, so graceful shutdown drains them unchanged. A wrapper around the protocol factory
could not know the client's address (the factory gets no transport), and a proxy protocol would
add a call to every chunk of data received. `GuardedConnection.start`, the connection's task,
also puts the holder of its requests' ids in that task's context (`logs.RequestId`).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, cast

import orjson
from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong
from aiohttp.http_parser import RawRequestMessage
from aiohttp.streams import StreamReader
from aiohttp.web_request import BaseRequest

from newsroom.config import Settings
from newsroom.logs import FAILURE_LINES, REQUEST_ID, LineBudget, RequestId
from newsroom.web.addresses import client_key
from newsroom.web.http import REQUEST_ID_HEADER
from newsroom.web.observe import new_request_id

log = logging.getLogger(__name__)
RETRY_AFTER = 1  # seconds; a slot frees as soon as any connection closes
DESCRIPTOR_RESERVE = 128  # descriptors kept for the store, its checkpoints, logs, the loop itself
WARN_EVERY = 60.0  # seconds between warnings about refused connections
UNREADABLE_LINES = (10, 1.0)  # lines about unreadable requests: 10 at once, then one a second


def refusal(message: str, request_id: str) -> bytes:
    """A complete HTTP/1.1 503 reply whose JSON body (the `json_error` shape) says `message`,
    with `request_id` as its `X-Request-Id` (every reply has one)."""
    body = orjson.dumps({"errors": [{"message": message}]})
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Retry-After: {RETRY_AFTER}\r\n"
        f"{REQUEST_ID_HEADER}: {request_id}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


def connection_cap(wanted: int, descriptors: int | None) -> int:
    """`wanted`, lowered if needed so that every connection still leaves descriptors to spare.

    `descriptors` is the process's limit on open descriptors (None: unknown, nothing lowered)."""
    if descriptors is None:
        return wanted
    reserve = min(DESCRIPTOR_RESERVE, descriptors // 2)
    return max(1, min(wanted, descriptors - reserve))


class ConnectionGuard:
    """Counts open connections, in all and per client key, and turns away those past a cap."""

    def __init__(
        self,
        total: int,
        per_address: int,
        limit_loopback: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total, self.per_address, self.limit_loopback = total, per_address, limit_loopback
        self.open = 0
        self.by_address: Counter[str] = Counter()  # only keys with a connection open
        self.refused = 0
        self._too_many = f"the server has its {total} connections open; retry shortly"
        self._too_many_here = (
            f"too many connections from your address (at most {per_address} at once); "
            "close one or retry shortly"
        )
        # A flood must not flood the log: one warning a minute about refused connections, and
        # a budget for the lines about requests aiohttp could not read (`GuardedConnection`).
        self.warnings = LineBudget("refused_connections", 1, WARN_EVERY, clock)
        self.unreadable_lines = LineBudget("unreadable_request", *UNREADABLE_LINES, clock=clock)

    def admit(self, key: str | None) -> bytes | None:
        """Count a new connection from `key` (None: no per-address limit); or, past a cap,
        count nothing and return the reply that refuses it."""
        if self.open >= self.total:
            return self._refuse(self._too_many, "in all")
        if key is not None:
            if self.by_address[key] >= self.per_address:
                return self._refuse(self._too_many_here, f"from {key}")
            self.by_address[key] += 1
        self.open += 1
        return None

    def release(self, key: str | None) -> None:
        """Uncount a connection `admit` counted, once it is closed."""
        self.open -= 1
        if key is not None:
            self.by_address[key] -= 1
            if not self.by_address[key]:
                del self.by_address[key]  # the table holds open connections only

    def _refuse(self, message: str, where: str) -> bytes:
        self.refused += 1
        if self.warnings.take() is not None:
            log.warning("refusing connections: too many open %s (%d so far)", where, self.refused)
        return refusal(message, new_request_id())


class GuardedConnection(web.RequestHandler):
    """aiohttp's handler of one connection, admitted by the guard, with a deadline for its
    first request head."""

    __slots__ = (
        "_admitted",
        "_guard",
        "_head_deadline",
        "_header_timeout",
        "_key",
        "_send_check",
        "_send_timeout",
        "request_id",
    )

    def __init__(
        self,
        manager: web.Server,
        guard: ConnectionGuard,
        header_timeout: float,
        keepalive_timeout: float,
        send_timeout: float,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        # access_log=None turns aiohttp's access log off (as documented); its annotation says
        # Logger only, hence the ignore.
        super().__init__(
            manager,
            loop=loop,
            keepalive_timeout=keepalive_timeout,
            access_log=None,  # type: ignore[arg-type]
        )
        self._guard, self._header_timeout = guard, header_timeout
        self._key: str | None = None
        self._admitted = False
        self._head_deadline: asyncio.TimerHandle | None = None
        self._send_timeout = send_timeout
        self._send_check: asyncio.TimerHandle | None = None
        self.request_id = RequestId()  # the id of the request being handled (`start`)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Admit the connection and start aiohttp's handling, or refuse it and close."""
        peer = transport.get_extra_info("peername")
        self._key = client_key(
            peer[0] if isinstance(peer, tuple) else None, self._guard.limit_loopback
        )
        if (reply := self._guard.admit(self._key)) is not None:
            tcp = cast(asyncio.Transport, transport)  # uvloop's is not registered as one
            tcp.write(reply)
            tcp.close()  # once the reply is written; the descriptor is free then
            return
        self._admitted = True
        try:
            super().connection_made(transport)
        except BaseException:
            # uvloop never reports a connection lost whose connection_made raised (asyncio's
            # loop does, and then finds nothing left to uncount)
            self._admitted = False
            self._guard.release(self._key)
            raise
        self._head_deadline = self._loop.call_later(self._header_timeout, self._head_overdue)

    async def start(self) -> None:
        """aiohttp's handling of the connection's requests, in this connection's task, with the
        connection's `RequestId` holder in its context: each request's task copies the context,
        and the guard puts the request's id in the holder (`logs.RequestId` says why). aiohttp
        makes each request, a malformed one too, with its request factory, in this task, before
        the request's own task: wrapped here, it empties the holder, so no line about a request
        carries its predecessor's id before the guard gives it its own (or never does)."""
        holder = self.request_id
        REQUEST_ID.set(holder)
        make = self._request_factory
        assert make is not None, "aiohttp sets it before the connection starts"

        def new_request(
            message: RawRequestMessage,
            payload: StreamReader,
            protocol: web.RequestHandler,
            writer: AbstractStreamWriter,
            task: asyncio.Task[None],
        ) -> BaseRequest:
            holder.value = None
            return make(message, payload, protocol, writer, task)

        self._request_factory = new_request
        await super().start()

    def connection_lost(self, exc: BaseException | None) -> None:
        """Stop aiohttp's handling; an admitted connection gives its count back, come what may."""
        for timer in (self._head_deadline, self._send_check):
            if timer is not None:
                timer.cancel()
        self._head_deadline = self._send_check = None
        try:
            super().connection_lost(exc)
        finally:
            if self._admitted:
                self._admitted = False
                self._guard.release(self._key)

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """aiohttp's reply to a request it could not take. For a request that is not valid
        HTTP, a JSON 400 (for a line past its limit, a long `GET /graphql?query=...` or a huge
        header, a 414 or 431 that says which and what to do), and one short log line instead of
        aiohttp's ERROR traceback, within a budget (`UNREADABLE_LINES`): one client sending
        malformed requests must not fill the log. Either reply carries an `X-Request-Id`, as
        every reply does: the request's own if its handling began (the guard set it; `start`
        empties the holder before each request), else a new one, which the lines about the
        request then carry."""
        holder = REQUEST_ID.get()
        if holder is not None and holder.value is not None:
            rid = holder.value  # the guard's: an error it let out, or a client gone
        else:
            rid = new_request_id()
            if holder is not None:  # the connection's: its lines after this one carry it too
                holder.value = rid
            else:  # aiohttp calls this in the request's own task (a copy of the context)
                REQUEST_ID.set(RequestId(rid))
        if not isinstance(exc, BadHttpMessage):
            response = super().handle_error(request, status, exc, message)
            response.headers[REQUEST_ID_HEADER] = rid
            return response
        if isinstance(exc, LineTooLong):
            line, limit = exc.args[0], exc.args[1]
            if isinstance(line, bytes | bytearray) and line.startswith(b"/"):  # the target
                status = 414
                said = f"the URL is longer than {limit} bytes; send long documents by POST"
            else:
                status, said = 431, f"a header is longer than {limit} bytes"
            self._log_unreadable(logging.INFO, request, said)
        else:  # a NUL or control byte in a header, a raw byte in the URL, a bad request line
            status, said = 400, "the request is not valid HTTP/1.1"
            self._log_unreadable(logging.DEBUG, request, f"malformed: {exc}")
        response = web.Response(
            status=status, body=orjson.dumps({"errors": [{"message": said}]}),
            content_type="application/json", charset="utf-8", headers={REQUEST_ID_HEADER: rid},
        )  # fmt: skip
        response.force_close()
        return response

    def log_exception(self, *args: Any, **kw: Any) -> None:
        """aiohttp's own ERROR lines (with a traceback) about a request it could not handle or
        an exception outside every handler (a body that ends too soon or will not decode), within
        the failed requests' budget per type of error: a client repeating such a request must
        not fill the log with tracebacks."""
        error = kw.get("exc_info")
        kind = type(error).__qualname__ if isinstance(error, BaseException) else str(args[0])
        if (more := FAILURE_LINES.take(f"aiohttp {kind}")) is not None:
            super().log_exception(f"{args[0]}{more}", *args[1:], **kw)

    def _log_unreadable(self, level: int, request: BaseRequest, what: str) -> None:
        """One line about a request aiohttp could not read, within the guard's budget for them
        (each such request costs its client a connection, which no request rate counts)."""
        if log.isEnabledFor(level) and (more := self._guard.unreadable_lines.take()) is not None:
            log.log(level, "refused a request from %s: %s%s", request.remote, what, more)

    def _head_overdue(self) -> None:
        self._head_deadline = None
        # aiohttp's own count of the request heads it parsed on this connection. A private
        # attribute, so the header-timeout tests are what tell if an aiohttp release drops it.
        if self._request_count == 0:
            self.force_close()  # as aiohttp's keep-alive timer closes: no reply

    def pause_writing(self) -> None:
        """The transport holds more than it wants to: from now on, sending must make progress."""
        super().pause_writing()
        if self._send_check is None and self.transport is not None:
            self._expect_progress(self.transport.get_write_buffer_size())

    def resume_writing(self) -> None:
        """The client caught up: no deadline until the writer pauses again."""
        super().resume_writing()
        if self._send_check is not None:
            self._send_check.cancel()
            self._send_check = None

    def _expect_progress(self, unsent: int) -> None:
        self._send_check = self._loop.call_later(self._send_timeout, self._check_progress, unsent)

    def _check_progress(self, unsent_before: int) -> None:
        self._send_check = None
        if self.transport is None:
            return
        unsent = self.transport.get_write_buffer_size()
        if unsent < unsent_before:
            self._expect_progress(unsent)  # slow but reading: another period
        else:
            log.debug("a client read none of %d bytes in %g s: connection cut", unsent,
                      self._send_timeout)  # fmt: skip
            self.transport.abort()  # frees what it holds; connection_lost follows


class GuardedSite(web.BaseSite):
    """A TCP site, as aiohttp's `TCPSite`, whose connections are `GuardedConnection`s."""

    __slots__ = (
        "_guard",
        "_header_timeout",
        "_host",
        "_keepalive_timeout",
        "_more_servers",
        "_port",
        "_send_timeout",
        "_sockets",
    )

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        guard: ConnectionGuard,
        header_timeout: float,
        keepalive_timeout: float,
        send_timeout: float,
        sockets: Sequence[socket.socket] = (),
    ) -> None:
        super().__init__(runner)
        self._host, self._port, self._guard = host, port, guard
        self._sockets = sockets  # bound already (`reserve`): listen on these, not host:port
        self._more_servers: Sequence[asyncio.AbstractServer] = ()
        self._header_timeout, self._keepalive_timeout = header_timeout, keepalive_timeout
        self._send_timeout = send_timeout

    @property
    def name(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host  # an IPv6 address
        return f"http://{host}:{self._port}"

    async def start(self) -> None:
        """Listen; each connection accepted gets a `GuardedConnection` of the runner's server."""
        await super().start()
        server, loop = self._runner.server, asyncio.get_running_loop()
        assert server is not None, "the runner is set up before its sites start"

        def connection() -> GuardedConnection:
            return GuardedConnection(
                server,
                self._guard,
                self._header_timeout,
                self._keepalive_timeout,
                self._send_timeout,
                loop,
            )

        if not self._sockets:
            self._server = await loop.create_server(
                connection, self._host, self._port, backlog=self._backlog
            )
            return
        servers = [
            await loop.create_server(connection, sock=s, backlog=self._backlog)
            for s in self._sockets
        ]
        self._server = servers[0]
        self._more_servers = servers[1:]  # e.g. ::1 beside 127.0.0.1 for "localhost"

    async def stop(self) -> None:
        for server in self._more_servers:
            server.close()
        await super().stop()


def reserve(host: str, port: int) -> list[socket.socket]:
    """Bind every address `host` resolves to on `port`, without listening yet, so that a port
    in use is found before anything is written to the log; raise `OSError` if one is taken.
    The site listens on them once the views are ready (until then, connections are refused)."""
    bound: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        ):
            s = socket.socket(family, kind, proto)
            bound.append(s)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio's own servers
            if family == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind(address)
    except OSError:
        for s in bound:
            s.close()
        raise
    return bound


def guarded_site(
    runner: web.BaseRunner,
    settings: Settings,
    descriptors: int | None,
    sockets: Sequence[socket.socket] = (),
) -> GuardedSite:
    """The site `python -m newsroom` listens on, with the limits of `settings`; logs them.

    `descriptors` is the process's limit on open descriptors (see `runtime.raise_descriptor_limit`);
    the total cap is lowered to what it leaves room for."""
    total = connection_cap(settings.max_connections, descriptors)
    if total < settings.max_connections:
        log.warning(
            "at most %d connections, not %d: the process may open %d descriptors and keeps %d "
            "for its own files",
            total,
            settings.max_connections,
            descriptors,
            (descriptors or 0) - total,
        )
    per_address = min(settings.max_connections_per_address, total)
    exempt = "" if settings.limit_loopback else ", loopback exempt"
    log.info(
        "accepting at most %d connections (%d per address%s); a new one has %g s to send its "
        "request's head, an idle one closes after %g s, an unread reply is cut after %g s",
        total,
        per_address,
        exempt,
        settings.header_timeout,
        settings.keepalive_timeout,
        settings.send_timeout,
    )
    guard = ConnectionGuard(total, per_address, settings.limit_loopback)
    return GuardedSite(
        runner,
        settings.host,
        settings.port,
        guard,
        settings.header_timeout,
        settings.keepalive_timeout,
        settings.send_timeout,
        sockets,
    )
