"""A subscriber that stops reading is closed with 1008 while writes go on, against a real server.

aiohttp's test client reads everything into its own buffer, so a server never blocks on it. Here
the subscriber is a bare socket with a tiny receive buffer: it subscribes, then reads nothing
until the server must have given up on it, and only then reads what the server left it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import os
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from newsroom.web.graphql.websocket import PROTOCOL, SEND_TIMEOUT
from tests.e2e.conftest import Launch, NewsroomProcess

pytestmark = pytest.mark.e2e

SUBSCRIBE = "subscription { articleEvents(after: 0) { position type stream data } }"
CREATE = "mutation($a: ArticleCreatedInput!) { createArticle(article: $a) { status position } }"
RECEIVE_BUFFER = 4096  # bytes; set before connect, so the TCP window is small from the SYN on
BIG_BODY = 60_000  # characters: the largest round body whose request fits the 64 KiB body limit
SEND_BUFFER_MAX = "/proc/sys/net/ipv4/tcp_wmem"  # Linux: "min default max" bytes per socket
CLOSE_MARGIN = 1.0  # seconds for the last big event to reach its send, on a busy machine
WRITE_BOUND = 1.0  # seconds; a mutation slower than this was held up by the stalled client
READ_TIMEOUT = 5.0  # seconds the subscriber waits for each chunk once it reads again
# RFC 6455 §5.2 opcodes and §7.4.1 close codes
TEXT, CLOSE = 0x1, 0x8
POLICY_VIOLATION = 1008


class _RawSubscriber:
    """A WebSocket client on a bare socket, so that not reading really leaves bytes unread."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        self.sock.settimeout(READ_TIMEOUT)
        self.sock.connect(("127.0.0.1", port))
        self.unread = bytearray()

    def handshake(self) -> None:
        """Upgrade GET /graphql to a WebSocket speaking graphql-transport-ws (RFC 6455 §4.1)."""
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            "GET /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Protocol: {PROTOCOL}\r\n\r\n".encode()
        )
        while b"\r\n\r\n" not in self.unread:
            self._read_more()
        head, _, rest = bytes(self.unread).partition(b"\r\n\r\n")
        self.unread = bytearray(rest)
        assert head.startswith(b"HTTP/1.1 101 "), head
        assert f"sec-websocket-protocol: {PROTOCOL}".encode() in head.lower(), head

    def send(self, message: dict[str, Any]) -> None:
        """Send one JSON text frame, masked as clients must (RFC 6455 §5.3)."""
        payload = json.dumps(message).encode()
        if len(payload) < 126:
            header = struct.pack(">BB", 0x80 | TEXT, 0x80 | len(payload))
        else:
            header = struct.pack(">BBH", 0x80 | TEXT, 0x80 | 126, len(payload))
        mask = os.urandom(4)
        masked = bytes(byte ^ mask[n % 4] for n, byte in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def receive(self) -> tuple[int, bytes]:
        """The next frame's opcode and payload; servers send unmasked frames (RFC 6455 §5.2)."""
        self._fill(2)
        opcode, length, start = self.unread[0] & 0x0F, self.unread[1] & 0x7F, 2
        if length == 126:
            self._fill(4)
            (length,), start = struct.unpack_from(">H", self.unread, 2), 4
        elif length == 127:
            self._fill(10)
            (length,), start = struct.unpack_from(">Q", self.unread, 2), 10
        self._fill(start + length)
        payload = bytes(self.unread[start : start + length])
        del self.unread[: start + length]
        return opcode, payload

    def _fill(self, size: int) -> None:
        while len(self.unread) < size:
            self._read_more()

    def _read_more(self) -> None:
        try:
            chunk = self.sock.recv(1 << 16)
        except TimeoutError:
            raise AssertionError(f"the server sent nothing for {READ_TIMEOUT} s") from None
        assert chunk, "the server closed the connection without a close frame"
        self.unread += chunk


@contextlib.contextmanager
def _subscribed(server: NewsroomProcess) -> Iterator[_RawSubscriber]:
    """A raw client that is acknowledged and subscribed to every event from position 0."""
    client = _RawSubscriber(server.port)
    with contextlib.closing(client.sock):
        client.handshake()
        client.send({"type": "connection_init"})
        assert json.loads(client.receive()[1]) == {"type": "connection_ack"}
        client.send({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}})
        yield client


def _articles_to_fill_the_pipe() -> int:
    """Enough big articles to fill the server's send buffer at its largest, with room to spare."""
    try:
        most = int(Path(SEND_BUFFER_MAX).read_text().split()[2])
    except (OSError, IndexError, ValueError):  # not Linux: assume Linux's default
        most = 4 * 1024 * 1024
    return math.ceil(most / BIG_BODY) + 16  # + the client's buffer, aiohttp's 64 KiB, a margin


def _timed_write(server: NewsroomProcess, title: str, body: str) -> float:
    """Create one article and return how many seconds the mutation took."""
    article = {
        "title": title,
        "body": body,
        "category": "news",
        "author_id": 1,
        "author_name": "Desk",
    }
    started = time.perf_counter()
    reply = server.graphql(CREATE, {"a": article})
    elapsed = time.perf_counter() - started
    assert reply["data"]["createArticle"]["status"] == "ACCEPTED", reply
    return elapsed


def _read_until_close(client: _RawSubscriber) -> tuple[list[dict[str, Any]], bytes]:
    """Every message the server left in the pipe, and the payload of the close frame after them."""
    messages = []
    while (frame := client.receive())[0] != CLOSE:
        assert frame[0] == TEXT, frame
        messages.append(json.loads(frame[1]))
    return messages, frame[1]


def test_a_subscriber_that_stops_reading_is_closed_with_1008_and_writes_stay_fast(
    launch: Launch, tmp_path: Path
) -> None:
    """A subscriber that stops reading is closed with 1008, and no mutation waits on it meanwhile."""
    server = launch(tmp_path / "db.sqlite")
    with _subscribed(server) as stalled:
        # from here on the subscriber reads nothing: big events fill every buffer on the way
        fill = _articles_to_fill_the_pipe()
        latencies = [_timed_write(server, f"Big {n}", "x" * BIG_BODY) for n in range(fill)]
        # A send blocked before the last big event went out, so the server closes the subscriber
        # within SEND_TIMEOUT of now; until then, writes go on and each one is timed.
        deadline = time.monotonic() + SEND_TIMEOUT + CLOSE_MARGIN
        while time.monotonic() < deadline:
            latencies.append(_timed_write(server, f"Small {len(latencies)}", "A short one."))
        messages, close = _read_until_close(stalled)

    assert struct.unpack_from(">H", close) == (POLICY_VIOLATION,), close
    positions = [m["payload"]["data"]["articleEvents"]["position"] for m in messages]
    assert positions == list(range(1, len(positions) + 1))
    assert {(m["id"], m["type"]) for m in messages} == {("1", "next")}
    assert len(positions) < server.head(), "the server sent every event: it never blocked"
    assert max(latencies) < WRITE_BOUND, sorted(latencies)[-5:]
    assert server.terminate() == 0
