"""A stop signal drains: the command in flight finishes and is durable, then the process exits 0."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Launch

pytestmark = pytest.mark.e2e

DEMO_HEAD = 7
MUTATIONS = 80  # serial mutations in one request (within the 1,000-token limit): long enough


def _long_request() -> bytes:
    fields = " ".join(f"m{n}: createArticle(article: $a) {{ status }}" for n in range(MUTATIONS))
    article = {
        "title": "Filed during shutdown",
        "body": "This request was in flight when SIGTERM arrived.",
        "category": "world",
        "author_id": 3,
        "author_name": "Late Desk",
    }
    document = f"mutation($a: ArticleCreatedInput!) {{ {fields} }}"
    return json.dumps({"query": document, "variables": {"a": article}}).encode()


def test_sigterm_lets_the_in_flight_command_finish(launch: Launch, tmp_path: Path) -> None:
    """SIGTERM in the middle of a request's writes: the request completes, all its writes last."""
    store = tmp_path / "db.sqlite"
    server = launch(store)
    reply: dict[str, Any] = {}

    def send() -> None:
        status, body = server.request("POST", "/graphql", _long_request(), "application/json")
        reply.update(status=status, body=json.loads(body))

    sender = threading.Thread(target=send)
    sender.start()
    deadline = time.monotonic() + 10
    while (head := server.head()) == DEMO_HEAD:  # until the request's first write is in the log
        assert time.monotonic() < deadline, f"the request wrote nothing: {reply}"
    server.proc.send_signal(signal.SIGTERM)
    assert head < DEMO_HEAD + MUTATIONS, "the request finished before the signal; test is moot"
    sender.join(timeout=30)
    assert reply["status"] == 200, reply
    results = reply["body"]["data"].values()
    assert [r["status"] for r in results] == ["ACCEPTED"] * MUTATIONS
    assert server.proc.wait(timeout=15) == 0, server.stderr()

    again = launch(store)
    assert again.head() == DEMO_HEAD + MUTATIONS
    assert again.terminate() == 0
