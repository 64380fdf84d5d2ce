"""The route wrapper (`web/guard.py`) reads aiohttp's request, response and writer attributes
rather than their properties, to save a call into the interpreter per property on every
request. These tests fail if an aiohttp release renames or reshapes them; the last one drives
the wrapper itself, for what it makes of a reply (its id, and its size in the note)."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import ClientError, web
from aiohttp.test_utils import TestClient, TestServer

from newsroom.web.guard import guard
from newsroom.web.http import REQUEST_RATE, json_error
from newsroom.web.metrics import Metrics
from newsroom.web.observe import OBSERVER, Observer
from newsroom.web.rates import RequestRate


@pytest.mark.parametrize("method", ["GET", "POST", "HEAD", "OPTIONS", "PATCH"])
async def test_the_request_attributes_the_guard_reads_are_what_aiohttp_properties_return(
    method: str,
) -> None:
    """On a request parsed off a real connection, as the guard meets one."""
    seen: list[tuple[object, ...]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append((request._headers, request.headers, request._method, request.method))
        return web.Response()

    app = web.Application()
    app.router.add_route("*", "/feed", handler)
    async with TestClient(TestServer(app)) as client:
        reply = await client.request(method, "/feed", headers={"X-Request-Id": "abc-1"})
        assert reply.status == 200
    [(headers, through_property, method_attribute, method_property)] = seen
    assert headers is through_property and headers.get("x-request-id") == "abc-1"
    assert method_attribute == method_property == method


def read_as_the_guard_does(
    request: web.BaseRequest, response: web.StreamResponse
) -> tuple[int, bool, object]:
    writer = request._payload_writer
    head_out = writer._headers_written or writer._headers_buf is not None  # type: ignore[attr-defined]
    prepared = head_out and (response._eof_sent or response._payload_writer is not None)
    return response._status, prepared, response._headers


def read_through_properties(response: web.StreamResponse) -> tuple[int, bool, object]:
    return response.status, response.prepared, response.headers


REPLIES: dict[str, Callable[[], web.StreamResponse]] = {
    "bytes": lambda: web.Response(body=b"<rss/>", content_type="application/rss+xml"),
    "json": lambda: web.json_response({"error": "nope"}, status=404),
    "text": lambda: web.Response(text="moved", status=301),
    "empty": lambda: web.Response(status=304),
    "stream": lambda: web.StreamResponse(status=206),
    "file": lambda: web.FileResponse(__file__),  # aiohttp prepares it after the handler
    "websocket": web.WebSocketResponse,  # its handler prepares it (not here: no handshake)
}


STAGES = [
    (kind, stage)
    for kind in REPLIES
    for stage in ("returned", "head sent", "ended")
    if stage == "returned" or kind not in ("file", "websocket")  # aiohttp prepares a file
]  # itself, and a WebSocket needs a handshake


@pytest.mark.parametrize(("kind", "stage"), STAGES)
async def test_the_attributes_the_guard_reads_are_what_aiohttp_properties_return(
    kind: str, stage: str
) -> None:
    """On a real connection, as the guard meets a reply: returned as it was made, prepared (its
    head given to the request's writer, as a WebSocket's or a streamed reply's is when its
    handler returns), or ended. `_body` is there on each (None where it is a class default)."""
    seen: list[tuple[object, ...]] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        response = REPLIES[kind]()
        if stage != "returned":
            await response.prepare(request)
            if not isinstance(response, web.Response):
                await response.write(b"x" * 10)
            if stage == "ended":
                await response.write_eof()
        guard_reads = read_as_the_guard_does(request, response)
        seen.append((guard_reads, read_through_properties(response), response._body_length))
        seen.append((response.body_length, response._body is getattr(response, "body", None)))
        return web.Response() if kind == "websocket" else response

    app = web.Application()
    app.router.add_get("/feed", handler)
    async with TestClient(TestServer(app)) as client:
        reply = await client.get("/feed")
        await reply.read()
    [(guard_reads, through_properties, body_length), (length_property, same_body)] = seen
    assert guard_reads == through_properties
    assert guard_reads[1] is (stage != "returned")
    assert body_length == length_property and same_body


def observed_app(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> web.Application:
    app = web.Application()
    app[OBSERVER] = Observer(Metrics(), access_log=False)
    app[REQUEST_RATE] = RequestRate(10**6, 10**6)
    app.router.add_get("/feed", guard(handler, "/feed", app))
    return app


async def test_the_guard_gives_an_unsent_reply_its_id_and_notes_what_each_reply_sent() -> None:
    """Through the guard itself: a reply it can still change gets the request's id and is noted
    with its body's size; a streamed reply that ended is noted with what aiohttp sent; and a
    handler that failed after sending a head gets the guard's JSON 500, noted as such (the
    head that went out was not that reply's)."""
    sent: dict[str, int] = {}

    async def handler(request: web.Request) -> web.StreamResponse:
        kind = request.query["kind"]
        if kind == "bytes":
            return web.Response(body=b"x" * 100)
        stream = web.StreamResponse()
        await stream.prepare(request)
        await stream.write(b"y" * 10)
        if kind == "failed":
            raise RuntimeError("a bug after the head went out")
        await stream.write_eof()
        sent[kind] = stream.body_length
        return stream

    app = observed_app(handler)
    async with TestClient(TestServer(app)) as client:
        reply = await client.get("/feed", params={"kind": "bytes"})
        assert await reply.read() == b"x" * 100
        rid = reply.headers["X-Request-Id"]
        reply = await client.get("/feed", params={"kind": "ended"})
        assert await reply.read() == b"y" * 10
        with contextlib.suppress(ClientError):  # a 500 after a head: not valid HTTP
            await (await client.get("/feed", params={"kind": "failed"})).read()
    bytes_note, ended_note, failed_note = app[OBSERVER].notes
    assert (bytes_note[4], bytes_note[5], bytes_note[6]) == (200, 100, rid)
    assert (ended_note[4], ended_note[5]) == (200, sent["ended"]) and sent["ended"] > 10
    assert (failed_note[4], failed_note[5]) == (500, len(json_error(500, "internal error").body))
