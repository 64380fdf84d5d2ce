"""The route wrapper (`web/guard.py`) reads aiohttp's request and response attributes rather
than their properties, to save a call into the interpreter per property on every request.
These tests fail if an aiohttp release renames or reshapes them."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request


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


def read_as_the_guard_does(response: web.StreamResponse) -> tuple[int, bool, int, object]:
    prepared = response._eof_sent or response._payload_writer is not None
    return response._status, prepared, response._body_length, response._headers


def read_through_properties(response: web.StreamResponse) -> tuple[int, bool, int, object]:
    return response.status, response.prepared, response.body_length, response.headers


@pytest.mark.parametrize(
    "response",
    [
        web.Response(body=b"<rss/>", content_type="application/rss+xml"),
        web.json_response({"error": "nope"}, status=404),
        web.Response(text="moved", status=301),
        web.Response(status=304),
        web.StreamResponse(status=206),
    ],
    ids=["bytes", "json", "text", "empty", "stream"],
)
async def test_the_attributes_the_guard_reads_are_what_aiohttp_properties_return(
    response: web.StreamResponse,
) -> None:
    assert read_as_the_guard_does(response) == read_through_properties(response)
    assert response._body is getattr(response, "body", None)  # a class default on the others
    request = make_mocked_request("GET", "/feed")
    await response.prepare(request)  # its head sent: a streamed reply, as the guard sees one
    if not isinstance(response, web.Response):
        await response.write(b"x" * 10)
    assert read_as_the_guard_does(response) == read_through_properties(response)
    assert read_as_the_guard_does(response)[1] is True


@pytest.mark.parametrize(
    "response",
    [web.FileResponse(__file__), web.WebSocketResponse()],
    ids=["file", "websocket"],
)
def test_replies_aiohttp_prepares_itself_read_as_not_prepared_with_no_body(
    response: web.StreamResponse,
) -> None:
    """A file or a WebSocket is returned unprepared (aiohttp sends a file's head after the
    handler; a WebSocket handler prepares its reply itself): the guard sees what the
    properties say, and `_body` is there, None."""
    assert read_as_the_guard_does(response) == read_through_properties(response)
    assert response._body is None
