"""Connection limits: caps in all and per address answered with a raw 503, counts that never leak,
and the header and keep-alive timeouts, on small inline servers behind `GuardedSite`."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from unittest import mock

import pytest
from aiohttp import ClientSession, WSMsgType, web
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong
from aiohttp.test_utils import make_mocked_request

from newsroom.logs import FAILURE_LINES, REQUEST_ID, RequestId, _RequestId, current_request_id
from newsroom.web.connections import (
    UNREADABLE_LINES,
    WARN_EVERY,
    ConnectionGuard,
    GuardedConnection,
    GuardedSite,
    connection_cap,
    refusal,
)
from newsroom.web.guard import expect_continue, guard
from newsroom.web.http import REQUEST_RATE
from newsroom.web.metrics import Metrics
from newsroom.web.observe import OBSERVER, Observer, sane_id
from newsroom.web.rates import RequestRate
from tests.factories import Monotonic

LONG = 30.0  # seconds: a timeout the test must not meet
SAFETY = 10.0  # seconds after which a wait for the server has surely failed


class WatchedGuard(ConnectionGuard):
    """A guard that wakes the test whenever a connection gives its count back."""

    def __init__(self, total: int, per_address: int) -> None:
        super().__init__(total, per_address, limit_loopback=True)
        self._released = asyncio.Event()

    def release(self, key: str | None) -> None:
        super().release(key)
        self._released.set()

    async def until_open(self, count: int) -> None:
        """Return once exactly `count` connections are open."""
        async with asyncio.timeout(SAFETY):
            while self.open != count:
                self._released.clear()
                await self._released.wait()


async def hello(request: web.Request) -> web.Response:
    return web.Response(text="hello")


LARGE = 32 * 1024 * 1024  # bytes: more than the kernel's socket buffers on both ends can take


async def large(request: web.Request) -> web.Response:
    return web.Response(body=b"x" * LARGE)


async def echo(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for message in ws:
        await ws.send_str(message.data)
    return ws


@contextlib.asynccontextmanager
async def serving(
    guard: ConnectionGuard,
    header_timeout: float = LONG,
    keepalive_timeout: float = LONG,
    send_timeout: float = LONG,
) -> AsyncIterator[int]:
    """Serve a hello route, a large reply and a WebSocket echo behind `guard` on a free port;
    yield the port."""
    app = web.Application()
    app.router.add_get("/", hello)
    app.router.add_get("/large", large)
    app.router.add_get("/ws", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = GuardedSite(
        runner, "127.0.0.1", 0, guard, header_timeout, keepalive_timeout, send_timeout
    )
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


async def connect(
    port: int, source: str = "127.0.0.1"
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw TCP connection to the server from the loopback address `source`."""
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))


async def read_to_end(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes (a reset after a refusal counts as closed)."""
    data = b""
    with contextlib.suppress(ConnectionResetError):
        async with asyncio.timeout(SAFETY):
            while chunk := await reader.read(4096):
                data += chunk
    return data


async def get(port: int, source: str = "127.0.0.1") -> bytes:
    """GET / with Connection: close; everything the server answered."""
    reader, writer = await connect(port, source)
    writer.write(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
    try:
        return await read_to_end(reader)
    finally:
        writer.close()


def message_of(reply: bytes) -> str:
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503 Service Unavailable\r\n"), reply
    message: str = json.loads(body)["errors"][0]["message"]
    return message


# --- the guard's counts ---------------------------------------------------------------------------


def test_a_connection_past_the_per_address_cap_is_refused_and_others_are_not() -> None:
    """The third connection from one address is refused; another address is still admitted."""
    guard = ConnectionGuard(total=10, per_address=2)
    assert [guard.admit("203.0.113.1") for _ in range(2)] == [None, None]
    assert "from your address" in message_of(guard.admit("203.0.113.1") or b"")
    assert guard.admit("203.0.113.2") is None
    assert (guard.open, guard.refused, dict(guard.by_address)) == (
        3,
        1,
        {"203.0.113.1": 2, "203.0.113.2": 1},
    )


def test_each_refusal_carries_a_request_id_of_its_own() -> None:
    """A refused connection's 503 has an X-Request-Id like every reply, a new one each time."""
    guard = ConnectionGuard(total=1, per_address=1)
    assert guard.admit("203.0.113.1") is None
    ids = set()
    for _ in range(3):
        head = (guard.admit("203.0.113.9") or b"").partition(b"\r\n\r\n")[0].decode("ascii")
        ids |= {line[len("X-Request-Id: ") :] for line in head.split("\r\n")
                if line.startswith("X-Request-Id: ")}  # fmt: skip
    assert len(ids) == 3 and all(sane_id(i) for i in ids), ids


def test_a_connection_past_the_total_cap_is_refused_until_one_closes() -> None:
    """Past the total cap every connection is refused, even without a key; a release admits one."""
    guard = ConnectionGuard(total=2, per_address=2)
    assert [guard.admit(None), guard.admit("203.0.113.1")] == [None, None]
    assert "its 2 connections open" in message_of(guard.admit("203.0.113.2") or b"")
    guard.release(None)
    assert guard.admit("203.0.113.2") is None


def test_the_address_table_holds_only_addresses_with_connections_open() -> None:
    """Once every connection closed, the per-address table is empty: it grows with open ones only."""
    guard = ConnectionGuard(total=100_000, per_address=1)
    keys = [f"10.0.{n // 256}.{n % 256}" for n in range(5_000)]
    for key in keys:
        assert guard.admit(key) is None
    for key in keys:
        guard.release(key)
    assert (guard.open, len(guard.by_address)) == (0, 0)


def test_a_refusal_is_a_complete_http_reply_that_closes() -> None:
    """The raw 503 carries Retry-After, Connection: close, a JSON content type and an exact length."""
    head, _, body = refusal("full", "ab12").partition(b"\r\n\r\n")
    status, *lines = head.decode("ascii").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    assert status == "HTTP/1.1 503 Service Unavailable"
    assert headers["Retry-After"] == "1" and headers["Connection"] == "close"
    assert headers["Content-Type"] == "application/json" and headers["X-Request-Id"] == "ab12"
    assert int(headers["Content-Length"]) == len(body)
    assert json.loads(body) == {"errors": [{"message": "full"}]}


@pytest.mark.parametrize(
    ("wanted", "descriptors", "cap"),
    [(4096, 1024, 896), (4096, None, 4096), (100, 65536, 100), (4096, 100, 50), (10, 1, 1)],
)
def test_the_total_cap_leaves_descriptors_to_spare(
    wanted: int, descriptors: int | None, cap: int
) -> None:
    """The cap is lowered below the descriptor limit, keeping some for the process's own files."""
    assert connection_cap(wanted, descriptors) == cap


# --- on a real server -----------------------------------------------------------------------------


async def test_excess_connections_get_a_503_and_are_closed_while_others_are_served() -> None:
    """Past the per-address and then the total cap a connection gets the 503 and is closed; others are served."""
    guard = WatchedGuard(total=4, per_address=2)
    async with serving(guard) as port:
        idle = [await connect(port) for _ in range(2)]
        reader, writer = await connect(port)
        assert "from your address" in message_of(await read_to_end(reader))
        writer.close()
        assert (await get(port, "127.0.0.2")).endswith(b"hello")
        idle.append(await connect(port, "127.0.0.2"))
        idle.append(await connect(port, "127.0.0.3"))
        assert "its 4 connections open" in message_of(await get(port, "127.0.0.4"))
        assert guard.open == 4
        for _, writer in idle:
            writer.close()
        await guard.until_open(0)
        assert (await get(port)).endswith(b"hello")


async def test_counts_never_leak_however_a_connection_ends() -> None:
    """After clean closes, resets, timeouts, refusals, served requests and WebSockets, nothing is counted."""
    guard = WatchedGuard(total=6, per_address=6)
    async with serving(guard, header_timeout=0.2) as port:
        assert (await get(port)).endswith(b"hello")  # served, then closed by the server
        _, quiet = await connect(port)  # times out
        _, closer = await connect(port)
        closer.close()  # closed by the client
        _, resetter = await connect(port)
        resetter.write(b"GET / HTTP/1.1\r\nHo")
        sock = resetter.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        resetter.transport.abort()  # a reset in the middle of a head
        async with (
            ClientSession() as session,
            session.ws_connect(f"http://127.0.0.1:{port}/ws") as ws,
        ):
            await ws.send_str("hi")
            assert (await ws.receive()).data == "hi"
        await guard.until_open(0)
        held = [await connect(port) for _ in range(6)]
        assert "its 6 connections open" in message_of(await get(port))  # refused: not counted
        for _, writer in held:
            writer.close()
        await guard.until_open(0)
        assert not guard.by_address
        quiet.close()


async def test_a_silent_connection_is_closed_after_the_header_timeout() -> None:
    """A client that connects and sends nothing is closed, without a reply, once the header timeout passed."""
    guard = WatchedGuard(total=10, per_address=10)
    async with serving(guard, header_timeout=0.2) as port:
        reader, writer = await connect(port)
        assert await read_to_end(reader) == b""
        writer.close()
        await guard.until_open(0)


async def test_a_slowloris_is_closed_though_it_keeps_sending() -> None:
    """A head trickled a line at a time never completes: the connection is closed at the header timeout."""
    guard = WatchedGuard(total=10, per_address=10)
    async with serving(guard, header_timeout=0.3) as port:
        reader, writer = await connect(port)
        writer.write(b"GET / HTTP/1.1\r\nHost: test\r\n")
        for line in range(1_000):
            with contextlib.suppress(ConnectionError):
                writer.write(b"X-Line-%d: still typing\r\n" % line)
            with contextlib.suppress(TimeoutError):
                assert await asyncio.wait_for(reader.read(1), 0.05) == b""  # closed, no reply
                break
        else:
            pytest.fail("the slowloris was never closed")
        writer.close()
        await guard.until_open(0)


async def test_an_idle_connection_is_closed_after_the_keepalive_timeout() -> None:
    """After a reply, a keep-alive connection that sends no next request is closed at the keep-alive timeout."""
    guard = WatchedGuard(total=10, per_address=10)
    async with serving(guard, keepalive_timeout=0.2) as port:
        reader, writer = await connect(port)
        writer.write(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200") and b"Connection: close" not in head
        assert await reader.readexactly(len(b"hello")) == b"hello"
        assert await read_to_end(reader) == b""
        writer.close()
        await guard.until_open(0)


async def test_a_reply_left_unread_is_cut_after_the_send_timeout() -> None:
    """A client that asks for a large reply and never reads it loses its connection once the
    reply made no progress for the send timeout: the server holds no unread reply for good."""
    guard = WatchedGuard(total=10, per_address=10)
    async with serving(guard, send_timeout=0.3) as port:
        reader, writer = await connect(port)
        writer.write(b"GET /large HTTP/1.1\r\nHost: test\r\n\r\n")
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
        await guard.until_open(0)  # cut by the server, while this client still holds its socket
        received = 0
        with contextlib.suppress(ConnectionResetError):
            while chunk := await reader.read(1 << 20):
                received += len(chunk)
        assert received < LARGE
        writer.close()


async def test_a_slow_reader_is_not_cut_while_it_makes_progress() -> None:
    """A client that reads a large reply in pauses, but steadily, gets all of it."""
    guard = WatchedGuard(total=10, per_address=10)
    async with serving(guard, send_timeout=0.5) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        writer.write(b"GET /large HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        received = 0
        while chunk := await reader.read(4 << 20):
            received += len(chunk)
            await asyncio.sleep(0.05)  # the client's pace: slower than the server could send
        head = len(b"HTTP/1.1 200 OK\r\n")
        assert received > LARGE + head
        writer.close()


async def test_a_websocket_outlives_the_header_and_keepalive_timeouts() -> None:
    """Once upgraded, a WebSocket is not cut when both timeouts of its connection have passed."""
    guard = WatchedGuard(total=10, per_address=10)
    async with serving(guard, header_timeout=0.2, keepalive_timeout=0.2) as port:
        async with (
            ClientSession() as session,
            session.ws_connect(f"http://127.0.0.1:{port}/ws") as ws,
        ):
            # A later connection's keep-alive deadline: once it closed, the WebSocket's passed too.
            reader, writer = await connect(port)
            writer.write(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            assert (await read_to_end(reader)).endswith(b"hello")
            writer.close()
            await ws.send_str("still here")
            message = await ws.receive()
            assert (message.type, message.data) == (WSMsgType.TEXT, "still here")
        await guard.until_open(0)


async def test_aiohttps_own_error_reply_carries_the_id_its_log_line_has() -> None:
    """A reply aiohttp makes for an error outside every handler (here: any exception) carries a
    new request id, and the id is set for the lines logged about it (aiohttp calls this in the
    request's own task; the test runs it in a context of its own)."""
    server = web.Server(lambda request: None)  # type: ignore[arg-type,return-value]
    connection = GuardedConnection(
        server, ConnectionGuard(10, 10), 1.0, 1.0, 1.0, asyncio.get_running_loop()
    )
    request = make_mocked_request("GET", "/", writer=mock.Mock(output_size=0))  # nothing sent

    def fail() -> tuple[str, str | None]:
        reply = connection.handle_error(request, 500, RuntimeError("boom"))
        return reply.headers["X-Request-Id"], current_request_id()

    sent, logged = contextvars.copy_context().run(fail)
    assert sane_id(sent) and logged == sent


def test_refused_connections_are_warned_about_once_a_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Monotonic()
    guard = ConnectionGuard(total=10, per_address=1, clock=clock)
    assert guard.admit("203.0.113.9") is None
    with caplog.at_level(logging.WARNING, logger="newsroom.web.connections"):
        for _ in range(50):
            assert guard.admit("203.0.113.9") is not None
        clock.now += WARN_EVERY
        assert guard.admit("203.0.113.9") is not None
    assert [r.getMessage() for r in caplog.records] == [
        "refusing connections: too many open from 203.0.113.9 (1 so far)",
        "refusing connections: too many open from 203.0.113.9 (51 so far)",
    ]


async def test_lines_about_unreadable_requests_stay_within_their_budget(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A client sending requests aiohttp cannot read, one connection each, gets each its reply
    but adds at most `UNREADABLE_LINES` lines to the log: a burst, then one a second, which
    says how many were held back."""
    clock = Monotonic()
    server = web.Server(lambda request: None)  # type: ignore[arg-type,return-value]
    connection = GuardedConnection(
        server, ConnectionGuard(10, 10, clock=clock), 1.0, 1.0, 1.0, asyncio.get_running_loop()
    )
    request = make_mocked_request("GET", "/", writer=mock.Mock(output_size=0))
    burst, every = UNREADABLE_LINES
    too_long = LineTooLong(b"/" + b"a" * 9000, 8190, 9001)

    def refuse(error: BadHttpMessage) -> int:
        return contextvars.copy_context().run(connection.handle_error, request, 400, error).status

    with caplog.at_level(logging.DEBUG, logger="newsroom.web.connections"):
        assert {refuse(too_long) for _ in range(burst + 30)} == {414}
        assert len(caplog.records) == burst
        clock.now += every
        assert refuse(BadHttpMessage("a NUL in a header")) == 400
    assert len(caplog.records) == burst + 1
    last = caplog.records[-1]
    assert last.levelno == logging.DEBUG
    assert last.getMessage().endswith("a NUL in a header (30 more since the last such line)")


async def test_aiohttps_own_error_lines_stay_within_the_failure_budget(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """aiohttp's ERROR lines with a traceback (an exception outside every handler, a body that
    will not decode) go through the failed requests' budget: a client repeating the request
    gets a burst of them, not one each time."""
    clock = Monotonic()
    monkeypatch.setattr(FAILURE_LINES, "clock", clock)
    server = web.Server(lambda request: None)  # type: ignore[arg-type,return-value]
    connection = GuardedConnection(
        server, ConnectionGuard(10, 10), 1.0, 1.0, 1.0, asyncio.get_running_loop()
    )
    with caplog.at_level(logging.ERROR, logger="aiohttp.server"):
        for _ in range(FAILURE_LINES.burst + 5):
            connection.log_exception("Unhandled exception", exc_info=ValueError("bad gzip"))
        assert len(caplog.records) == FAILURE_LINES.burst
        assert all(r.exc_info for r in caplog.records)
        clock.now += FAILURE_LINES.every
        connection.log_exception("Unhandled exception", exc_info=ValueError("bad gzip"))
    assert caplog.records[-1].getMessage() == (
        "Unhandled exception (5 more since the last such line)"
    )


async def test_a_connections_requests_find_one_id_holder_and_each_its_own_id() -> None:
    """On newsroom's connection the request id's holder is set once, in the connection's task,
    and every request's task finds that same one (no context variable set per request:
    `logs.RequestId` says why); each request still sees its own id while it is handled, and a
    malformed request after a good one on the same connection gets a new id, not the last
    good one's."""
    holders: list[RequestId | None] = []

    async def handler(request: web.Request) -> web.Response:
        holders.append(REQUEST_ID.get())
        return web.Response(text=str(current_request_id()))

    app = web.Application()
    app[OBSERVER] = Observer(Metrics(), access_log=False)
    app[REQUEST_RATE] = RequestRate(10**6, 10**6)
    app.router.add_get("/", guard(handler, "/", app))
    runner = web.AppRunner(app)
    await runner.setup()
    site = GuardedSite(runner, "127.0.0.1", 0, ConnectionGuard(10, 10), LONG, LONG, LONG)
    await site.start()
    try:
        port = runner.addresses[0][1]
        reader, writer = await connect(port)
        for n in (1, 2, 3):
            writer.write(f"GET / HTTP/1.1\r\nHost: test\r\nX-Request-Id: id-{n}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            assert b"X-Request-Id: id-%d\r\n" % n in head
            assert await reader.readexactly(length) == b"id-%d" % n
        writer.write(b"GET /\x01 HTTP/1.1\r\nHost: test\r\n\r\n")  # not valid HTTP
        refused = await read_to_end(reader)
        writer.close()
    finally:
        await runner.cleanup()
    assert refused.split(b" ", 2)[1] == b"400"
    given = refused.split(b"X-Request-Id: ")[1].split(b"\r\n")[0].decode()
    assert sane_id(given) and given != "id-3"
    assert len(holders) == 3 and holders[0] is not None
    assert holders[0] is holders[1] is holders[2]  # one holder: set by the connection


async def test_a_request_waiting_before_its_guard_carries_no_id_of_the_last_one() -> None:
    """The one wait before a request's guard is its `Expect` handler's (aiohttp then waits for
    the `100 Continue` to be sent): a line written there, such as aiohttp's about a client gone,
    must not carry the connection's last request's id (the connection empties its holder as
    aiohttp makes each request)."""
    before_guard: list[str | None] = []

    async def expect_then_look(request: web.Request) -> None:
        await expect_continue(request)
        before_guard.append(current_request_id())

    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=str(current_request_id()))

    app = web.Application()
    app[OBSERVER] = Observer(Metrics(), access_log=False)
    app[REQUEST_RATE] = RequestRate(10**6, 10**6)
    app.router.add_post("/", guard(handler, "/", app), expect_handler=expect_then_look)
    runner = web.AppRunner(app)
    await runner.setup()
    await GuardedSite(runner, "127.0.0.1", 0, ConnectionGuard(10, 10), LONG, LONG, LONG).start()
    try:
        reader, writer = await connect(runner.addresses[0][1])
        for n, expect in ((1, b""), (2, b"Expect: 100-continue\r\n")):
            writer.write(
                b"POST / HTTP/1.1\r\nHost: test\r\nX-Request-Id: id-%d\r\n%s"
                b"Content-Length: 0\r\n\r\n" % (n, expect)
            )
            if expect:
                assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            assert await reader.readexactly(length) == b"id-%d" % n  # the guard's, after
        writer.close()
    finally:
        await runner.cleanup()
    assert before_guard == [None]  # the second request's, before its guard: not "id-1"


class RequestIds(logging.Handler):
    """Every record's logger, message and the request id newsroom's filter finds for it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.addFilter(_RequestId())
        self.seen: list[tuple[str, str, str | None]] = []
        self.aiohttp_logged = asyncio.Event()  # a line from aiohttp's server came

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append((record.name, record.getMessage(), getattr(record, "request_id", None)))
        if record.name == "aiohttp.server":
            self.aiohttp_logged.set()


@contextlib.asynccontextmanager
async def guarded_app(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> AsyncIterator[tuple[int, Observer, RequestIds]]:
    """`handler` guarded on GET and POST /, on a guarded site; yield its port, the app's observer
    and the request ids of every line logged meanwhile."""
    app = web.Application()
    observer = app[OBSERVER] = Observer(Metrics(), access_log=False)
    app[REQUEST_RATE] = RequestRate(10**6, 10**6)
    guarded = guard(handler, "/", app)
    for method in ("GET", "POST"):
        app.router.add_route(method, "/", guarded, expect_handler=expect_continue)
    ids, root = RequestIds(), logging.getLogger()
    root.addHandler(ids)
    level, root.level = root.level, logging.DEBUG
    runner = web.AppRunner(app)
    await runner.setup()
    await GuardedSite(runner, "127.0.0.1", 0, ConnectionGuard(10, 10), LONG, LONG, LONG).start()
    try:
        yield runner.addresses[0][1], observer, ids
    finally:
        await runner.cleanup()
        root.removeHandler(ids)
        root.level = level


async def test_a_request_that_fails_before_the_guard_is_logged_with_a_new_id() -> None:
    """A client gone before `100 Continue` is sent makes aiohttp log an error before the guard
    runs, on a connection whose last request had its own id: the line carries a new one."""

    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=str(await request.read()))

    async with guarded_app(handler) as (port, _, ids):
        reader, writer = await connect(port)
        writer.write(b"GET / HTTP/1.1\r\nHost: test\r\nX-Request-Id: first-request\r\n\r\n")
        assert b"first-request" in await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"POST / HTTP/1.1\r\nHost: test\r\nX-Request-Id: second-request\r\n"
            b"Expect: 100-continue\r\nContent-Length: 5\r\n\r\n"
        )
        await writer.drain()
        writer.transport.abort()  # gone before the server answers 100 Continue
        async with asyncio.timeout(SAFETY):
            await ids.aiohttp_logged.wait()  # aiohttp's own line, from the request's task
    [rid] = {rid for name, _, rid in ids.seen if name == "aiohttp.server"}
    assert rid is not None and sane_id(rid) and rid != "first-request"


async def test_an_error_the_guard_lets_out_keeps_the_guards_id() -> None:
    """A handler that returns no reply (a bug) fails in the guard after it took the request's
    id: aiohttp's 500 and its error line carry that id, as the request's note does."""

    async def handler(request: web.Request) -> web.Response:
        return None  # type: ignore[return-value]

    async with guarded_app(handler) as (port, observer, ids):
        reader, writer = await connect(port)
        writer.write(b"GET / HTTP/1.1\r\nHost: test\r\nX-Request-Id: mine-1\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        writer.close()
    assert head.startswith(b"HTTP/1.1 500 ") and b"X-Request-Id: mine-1\r\n" in head
    assert observer.notes[-1][-1] == "mine-1"
    assert {rid for name, _, rid in ids.seen if name == "aiohttp.server"} == {"mine-1"}
