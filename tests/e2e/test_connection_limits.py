"""Issue 12, finding 4: idle connections can no longer take every descriptor, against a real server.

The server runs with small caps (6 connections, 3 per address, loopback limited like any other
address) and a short header timeout. Clients come from different loopback addresses
(127.0.0.0/8 all reaches this machine on Linux), each one "address" to the server. The last
test bounds one address's request rate on a server of its own.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import select
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import HTTP_TIMEOUT, Launch, NewsroomProcess

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(sys.platform != "linux", reason="needs 127.0.0.2 and up (Linux loopback)"),
]

LIMITS = (
    "--max-connections", "6",
    "--max-connections-per-address", "3",
    "--limit-loopback",
    "--header-timeout", "3",
    "--keepalive-timeout", "3",
)  # fmt: skip
TRICKLE = 0.2  # seconds between the slowloris's header lines
MAX_LINES = 500  # lines the slowloris may send before the test calls it never closed
RATE_TRIES = 50  # requests past the burst; unless each took a second, one finds the bucket empty


@pytest.fixture
def server(launch: Launch, tmp_path: Path) -> NewsroomProcess:
    return launch(tmp_path / "db.sqlite", *LIMITS)


@contextlib.contextmanager
def idle(server: NewsroomProcess, source: str, count: int = 1) -> Iterator[list[socket.socket]]:
    """`count` connections from `source` that send nothing; closed on exit."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.settimeout(HTTP_TIMEOUT)
            sock.bind((source, 0))
            sock.connect(("127.0.0.1", server.port))
            sockets.append(sock)
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


def read_to_end(sock: socket.socket) -> bytes:
    """What the server sends until it closes the connection (a reset after a refusal included)."""
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(4096):
            data += chunk
    return data


def get(server: NewsroomProcess, source: str, path: str = "/healthz") -> tuple[int, bytes, str]:
    """GET `path` from the address `source`: status, body and Retry-After."""
    client = http.client.HTTPConnection(
        "127.0.0.1", server.port, timeout=HTTP_TIMEOUT, source_address=(source, 0)
    )
    try:
        client.request("GET", path)
        response = client.getresponse()
        return response.status, response.read(), response.getheader("Retry-After", "")
    finally:
        client.close()


def refusal(sock: socket.socket) -> str:
    """The message of the 503 the server sent on `sock` before closing it."""
    head, _, body = read_to_end(sock).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503 Service Unavailable\r\n"), head
    assert b"\r\nRetry-After: 1\r\n" in head and b"\r\nConnection: close" in head
    message: str = json.loads(body)["errors"][0]["message"]
    return message


def test_excess_connections_are_refused_idle_ones_closed_and_others_still_served(
    server: NewsroomProcess,
) -> None:
    """Past each cap a connection gets a 503 and is closed; the idle ones are closed at the header timeout; a client from elsewhere is served throughout."""
    with idle(server, "127.0.0.1", 3) as first, idle(server, "127.0.0.1") as (over,):
        assert "from your address" in refusal(over)
        assert get(server, "127.0.0.2")[0] == 200  # another address: served
        with idle(server, "127.0.0.2", 2) as second, idle(server, "127.0.0.3") as third:
            with idle(server, "127.0.0.4") as (beyond,):
                assert "its 6 connections open" in refusal(beyond)
            for sock in first + second + third:
                assert read_to_end(sock) == b""  # closed at the header timeout, no reply
    assert get(server, "127.0.0.1")[0] == 200  # the closed ones gave their places back


def test_a_slowloris_is_closed_while_a_normal_client_is_served(server: NewsroomProcess) -> None:
    """A head trickled a line at a time is cut off at the header timeout; others are served meanwhile."""
    with idle(server, "127.0.0.5") as (slow,):
        slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: newsroom\r\n")
        for line in range(MAX_LINES):
            if line == 2:
                assert get(server, "127.0.0.6")[0] == 200
            try:
                slow.sendall(b"X-Still-Typing: %d\r\n" % line)
            except (BrokenPipeError, ConnectionResetError):
                break
            readable, _, _ = select.select([slow], [], [], TRICKLE)
            if readable:
                assert read_to_end(slow) == b""  # closed without a reply
                break
        else:
            pytest.fail(f"the slowloris sent {MAX_LINES} header lines and was never closed")
    assert get(server, "127.0.0.5")[0] == 200


def test_an_idle_keepalive_connection_is_closed_after_its_timeout(server: NewsroomProcess) -> None:
    """A client that made a request and keeps the connection open without another is closed."""
    client = http.client.HTTPConnection(
        "127.0.0.1", server.port, timeout=HTTP_TIMEOUT, source_address=("127.0.0.7", 0)
    )
    with contextlib.closing(client):
        client.request("GET", "/healthz")
        response = client.getresponse()
        assert (response.status, response.will_close) == (200, False)
        response.read()
        assert client.sock is not None
        assert read_to_end(client.sock) == b""


def test_a_client_past_its_request_rate_gets_429_with_retry_after(
    launch: Launch, tmp_path: Path
) -> None:
    """With a rate of 1 a second and bursts of 3, quick requests soon get a 429 with Retry-After; another address is served."""
    server = launch(
        tmp_path / "db.sqlite", "--rate-limit", "1", "--rate-burst", "3", "--limit-loopback"
    )
    replies = [get(server, "127.0.0.8") for _ in range(3)]
    assert [status for status, _, _ in replies] == [200] * 3  # the burst
    for _ in range(RATE_TRIES):  # each takes a token; at most one a second comes back
        status, body, retry_after = get(server, "127.0.0.8")
        if status == 429:
            break
    assert (status, retry_after) == (429, "1")
    assert "too many requests" in json.loads(body)["errors"][0]["message"]
    assert get(server, "127.0.0.9")[0] == 200
