"""Operating a real `python -m newsroom`: SIGTERM under load drains and exits 0, JSON log lines
an operator can search (with the reply's request id, and no secret anywhere), and a log file
that SIGHUP reopens after logrotate moved it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from newsroom.web.observe import sane_id
from tests.e2e.conftest import Launch, NewsroomProcess
from tests.postgres import Databases

pytestmark = pytest.mark.e2e

CREATE = """
mutation($a: ArticleCreatedInput!, $key: String) {
  createArticle(article: $a, idempotency_key: $key) { status position }
}
"""
GRACE = 5.0


def article(title: str) -> dict[str, str]:
    return {"title": title, "body": "Body " * 50, "category": "news", "author_id": "1",
            "author_name": "Ed"}  # fmt: skip


async def test_sigterm_under_load_drains_and_exits_0(launch: Launch, tmp_path: Path) -> None:
    """Writers, readers and a subscriber are busy when SIGTERM comes: every answered write is
    durable, no write is done without its answer, replies are whole, the subscriber hears
    1001, a checkpoint is written, and the process exits 0 within the grace period."""
    store = tmp_path / "newsroom.db"
    server = launch(store, "--shutdown-grace", str(GRACE))
    acknowledged: dict[str, int] = {}
    unanswered: list[str] = []  # sent, but the connection closed before any answer
    stopping = asyncio.Event()
    busy = asyncio.Event()  # set once enough writes were answered: the load is in full swing

    async def writer(session: aiohttp.ClientSession, n: int) -> None:
        sent = 0
        while True:
            key, sent = f"drain-{n}-{sent}", sent + 1
            payload = {"query": CREATE, "variables": {"a": article(key), "key": key}}
            try:
                async with session.post(f"{server.url}/graphql", json=payload) as reply:
                    body = await reply.json()  # a cut body raises ClientPayloadError: fails
            except aiohttp.ClientConnectorError:
                return  # no longer listening: the drain began
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
                # closed before any answer: a connection the drain found idle, its request
                # not read yet. Only after the signal, and such a write must not be done.
                assert stopping.is_set()
                unanswered.append(key)
                return
            if reply.status == 503 and stopping.is_set():
                return
            assert reply.status == 200, body
            acknowledged[key] = body["data"]["createArticle"]["position"]
            if len(acknowledged) >= 50:
                busy.set()

    async def reader(session: aiohttp.ClientSession) -> None:
        while True:
            try:
                async with session.get(f"{server.url}/feed") as reply:
                    text = await reply.text()  # a cut body raises ClientPayloadError: fails
            except aiohttp.ClientConnectorError:
                return
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
                assert stopping.is_set()  # closed before any answer, as above
                return
            assert reply.status == 200 and text.rstrip().endswith("</rss>")

    async def subscriber(session: aiohttp.ClientSession) -> int | None:
        ws_url = server.url.replace("http", "ws") + "/graphql"
        async with session.ws_connect(ws_url, protocols=["graphql-transport-ws"]) as ws:
            await ws.send_json({"type": "connection_init"})
            await ws.receive_json()
            await ws.send_json({"id": "1", "type": "subscribe",
                                "payload": {"query": "subscription { articleEvents { position } }"}})  # fmt: skip
            async for _ in ws:
                pass
            return ws.close_code

    connector = aiohttp.TCPConnector(force_close=True, limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        listening = asyncio.ensure_future(subscriber(session))
        tasks = [asyncio.ensure_future(writer(session, n)) for n in range(8)]
        tasks += [asyncio.ensure_future(reader(session)) for _ in range(4)]
        await asyncio.wait_for(busy.wait(), 30)
        assert acknowledged, "no write was answered before the stop"
        stopping.set()
        signalled = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        await asyncio.gather(*tasks)
        close_code = await asyncio.wait_for(listening, GRACE + 5)
        code = await asyncio.to_thread(server.proc.wait, GRACE + 5)
        took = time.monotonic() - signalled
    assert code == 0 and took < GRACE + 5, (code, took, server.stderr())
    assert close_code == 1001
    assert "wrote the view checkpoint" in server.stderr()

    again = launch(store, "--no-demo")
    titles = {}
    after, head = 0, again.head()
    while after < head:
        page = again.graphql(
            "query($after: Int!) { events(after: $after, count: 400) { position data } }",
            {"after": after},
        )["data"]["events"]
        titles.update({e["position"]: e["data"].get("title") for e in page})
        after = page[-1]["position"]
    for key, position in acknowledged.items():
        assert titles[position] == key
    written = {t for t in titles.values() if t and t.startswith("drain-")}
    assert written == set(acknowledged), written ^ set(acknowledged)
    assert not set(unanswered) & written, "a write was done but its answer was cut"


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


async def test_json_logs_carry_request_ids_and_never_a_secret(
    launch: Launch, tmp_path: Path, postgres_databases: Databases
) -> None:
    """A run on PostgreSQL (password in the URL) with a token from a file, JSON logs: every
    line is JSON, a reply's X-Request-Id is on its access line, and neither the token nor the
    password is in any line (an error, a refused write and a search included)."""
    password, token = "pg-pw-do-not-log", "tok-do-not-log-123"
    url = postgres_databases.new().replace("postgres@", f"postgres:{password}@")
    token_file = tmp_path / "token"
    token_file.write_text(token)
    server = launch(url, "--log-format", "json", "--token-file", str(token_file))
    async with aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bearer {token}", "X-Request-Id": "trace-42"}
        payload = {"query": CREATE, "variables": {"a": article("With the token"), "key": None}}
        async with session.post(f"{server.url}/graphql", json=payload, headers=headers) as reply:
            assert reply.status == 200 and reply.headers["X-Request-Id"] == "trace-42"
        wrong = {"Authorization": f"Bearer {token}-wrong"}
        async with session.post(f"{server.url}/graphql", json=payload, headers=wrong) as reply:
            assert reply.status == 401
            refused_id = reply.headers["X-Request-Id"]
        async with session.get(f"{server.url}/search", params={"q": token}) as reply:
            assert reply.status in (200, 503)
        async with session.get(f"{server.url}/metrics", headers=headers) as reply:
            assert reply.status == 200
    assert server.terminate() == 0
    lines = json_lines(server.stderr())
    access = [line for line in lines if line["logger"] == "newsroom.access"]
    assert any(a["request_id"] == "trace-42" and a["route"] == "/graphql" for a in access)
    assert any(a["request_id"] == refused_id and a["status"] == 401 for a in access)
    for entry in access:  # each at the time of day it was served (the lines keep a monotonic clock)
        served = datetime.fromisoformat(entry["time"])
        assert abs((datetime.now(UTC) - served).total_seconds()) < 120, entry
        assert 0 <= entry["duration_ms"] < 10_000, entry
    assert {"time", "level", "logger", "message"} <= set(lines[0])
    everything = server.stderr() + server.stdout.decode()
    assert password not in everything and token not in everything


def raw_reply(port: int, request: bytes, as_json: bool = True) -> tuple[int, dict[str, str], Any]:
    """Send `request` as bytes (what an HTTP client library would not send) on a connection of
    its own; its reply's status, headers (lower-cased names) and body (parsed as JSON if
    `as_json`). The server must close the connection after it."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(request)
        reply = b""
        while chunk := conn.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value for name, _, value in (h.partition(": ") for h in lines)}
    return int(status_line.split()[1]), headers, json.loads(body) if as_json else body


def test_replies_no_route_takes_carry_a_request_id_and_leave_a_line(
    launch: Launch, tmp_path: Path
) -> None:
    """Every reply carries an X-Request-Id, also those no route makes: a target that is not a
    path (`OPTIONS *`, CONNECT's host:port) gets a JSON 400 through the front door, with an
    access line under the unmatched label (and the connection closed after a CONNECT); a
    request aiohttp cannot read (a line or a header past its limit, a NUL in a header) gets
    its 414, 431 or 400 with a new id, and the INFO lines about the first two carry theirs.
    Absolute-form targets (`http://x` included, which is `/`) and an unknown `Expect` still
    reach their routes through the guard."""
    server = launch(tmp_path / "n.db", "--log-format", "json")
    close = b"Connection: close\r\n\r\n"
    ids = {}
    for name, request in [
        ("options", b"OPTIONS * HTTP/1.1\r\nHost: x\r\n" + close),
        # no `Connection: close`: the server closes after it (what follows a CONNECT is no request)
        ("connect", b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"),
        ("traced", b"OPTIONS * HTTP/1.1\r\nHost: x\r\nX-Request-Id: trace-7\r\n" + close),
    ]:
        status, headers, body = raw_reply(server.port, request)
        assert status == 400, (name, status, body)
        assert "not a path" in body["errors"][0]["message"]
        ids[name] = headers["x-request-id"]
    assert ids["traced"] == "trace-7" and len(set(ids.values())) == 3
    long_line = b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n" + close
    status, headers, body = raw_reply(server.port, long_line)
    assert status == 414 and "longer than" in body["errors"][0]["message"]
    refused_id = headers["x-request-id"]
    long_header = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n" + close
    status, headers, body = raw_reply(server.port, long_header)
    assert status == 431 and sane_id(headers["x-request-id"])
    refused_ids = [refused_id, headers["x-request-id"]]
    malformed = b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n" + close
    status, headers, body = raw_reply(server.port, malformed)
    assert status == 400 and sane_id(headers["x-request-id"])
    routed: dict[str, str] = {}  # request id -> the route that answered
    # Absolute-form targets reach their routes (`http://x` is `/`); an Expect that is not
    # 100-continue is ignored, not answered by aiohttp's 417 from outside the guard.
    for target, expect, route in [
        (b"http://x/healthz?verbose=1", b"", "/healthz"),
        (b"http://x?q=1", b"", "/"),
        (b"/healthz", b"Expect: something-else\r\n", "/healthz"),
    ]:
        request = b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n"
        status, headers, _ = raw_reply(server.port, request + expect + close, as_json=False)
        assert status == 200, (target, expect, status)
        routed[headers["x-request-id"]] = route
    assert server.request("GET", "/healthz")[0] == 200  # still serving
    assert server.terminate() == 0
    lines = json_lines(server.stderr())
    access = {a["request_id"]: a for a in lines if a["logger"] == "newsroom.access"}
    for rid in ids.values():
        assert (access[rid]["route"], access[rid]["status"]) == ("(unmatched)", 400), access[rid]
    for rid, route in routed.items():
        assert (access[rid]["route"], access[rid]["status"]) == (route, 200), access[rid]
    assert access[ids["connect"]]["method"] == "CONNECT"
    refused = [line for line in lines if line["message"].startswith("refused a request")]
    assert [line["request_id"] for line in refused] == refused_ids, refused


def test_sighup_reopens_the_log_file(launch: Launch, tmp_path: Path) -> None:
    log = tmp_path / "newsroom.log"
    server: NewsroomProcess = launch(tmp_path / "n.db", "--log-file", str(log))
    assert server.request("GET", "/healthz")[0] == 200
    os.rename(log, tmp_path / "newsroom.log.1")  # what logrotate does
    server.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while not log.exists():  # the signal is handled on the event loop, between requests
        assert time.monotonic() < deadline, "the log file was not reopened"
        server.request("GET", "/readyz")
    assert server.request("GET", "/healthz")[0] == 200
    assert server.terminate() == 0
    assert "GET /healthz 200" in (tmp_path / "newsroom.log.1").read_text()
    assert "GET /healthz 200" in log.read_text() and "stopping" in log.read_text()
