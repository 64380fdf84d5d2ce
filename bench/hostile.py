"""Benchmark: how fast hostile GraphQL requests are refused, from the request's last byte.

Starts `python -m newsroom` on a temporary store and sends each hostile request of issue 3's
list once after a warm-up, timing from the moment the whole request was sent to the reply.
Also checks that the log head did not move and that the server still answers a normal query.

Run from the repo root:  python bench/hostile.py
"""

from __future__ import annotations

import json
import socket
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from machine import spawn_newsroom

JSON = "application/json"


def _aliases(n: int) -> str:
    return "{" + " ".join(f"a{i}:articles{{id}}" for i in range(n)) + "}"


CASES: dict[str, tuple[str, str, bytes]] = {
    "4,000 aliases": ("POST", JSON, json.dumps({"query": _aliases(4000)}).encode()),
    "nesting depth 300": (
        "POST", JSON,
        json.dumps({"query": '{article(id:"1"){' + "history{" * 300 + "type" + "}" * 301}).encode(),
    ),
    "fragment cycle": (
        "POST", JSON,
        json.dumps({"query": "{articles{...A}} fragment A on Article{id ...B} "
                    "fragment B on Article{title ...A}"}).encode(),
    ),
    "2,000 same-name fields, different arguments": (
        "POST", JSON,
        json.dumps({"query": "{" + " ".join(f'article(id:"{i}"){{id}}' for i in range(2000))
                    + "}"}).encode(),
    ),
    "oversize body (100 KiB)": ("POST", JSON, json.dumps({"query": "#" * 100_000}).encode()),
    "wrong content type": ("POST", "application/x-www-form-urlencoded", b"query={articles{id}}"),
    "GET mutation": ("GET", "", b""),
    "batched array": ("POST", JSON, json.dumps([{"query": "{articles{id}}"}] * 2).encode()),
    "bad JSON": ("POST", JSON, b'{"query": '),
    "bad UTF-8": ("POST", JSON, b'{"query": "\xff\xfe"}'),
}  # fmt: skip


def _request(port: int, method: str, content_type: str, body: bytes) -> tuple[int, float]:
    path = "/graphql" + (
        "?query=mutation%7BcreateArticle%7Bstatus%7D%7D" if method == "GET" else ""
    )
    head = f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    if content_type:
        head += f"Content-Type: {content_type}\r\n"
    head += f"Content-Length: {len(body)}\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(head.encode() + body)
        sent = time.perf_counter()
        reply = conn.recv(65536)
        elapsed = time.perf_counter() - sent
        while conn.recv(65536):
            pass
    return int(reply.split(b" ", 2)[1]), elapsed


def _head(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz") as response:
        head: int = json.load(response)["head"]
        return head


def main() -> None:
    folder = tempfile.mkdtemp()
    server, port = spawn_newsroom(folder)
    try:
        head = _head(port)
        print("| request | status | ms, first time | ms, again (cached) |")
        print("|---|---:|---:|---:|")
        for name, (method, content_type, body) in CASES.items():
            status, first = _request(port, method, content_type, body)
            _, again = _request(port, method, content_type, body)
            print(f"| {name} | {status} | {first * 1000:.1f} | {again * 1000:.1f} |")
        assert _head(port) == head, "a hostile request wrote to the log"
        print(f"\nlog head unchanged ({head}); server: {Path(sys.executable).name} -m newsroom")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
