"""The route wrapper (`web/guard.py`) reads aiohttp's request and response attributes rather
than their properties, to save a call into the interpreter per property on every request.
These tests fail if an aiohttp release renames or reshapes them."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer


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
    prepared = writer._headers_written or writer._headers_buf is not None  # type: ignore[attr-defined]
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
