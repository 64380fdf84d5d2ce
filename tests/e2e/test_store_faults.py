"""A real store fault: the server's file-size limit drops below the log's size (as a full disk
would), writes fail cleanly, and everything recovers once the limit is lifted."""

from __future__ import annotations

import json
import resource
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

CREATE = "mutation($a: ArticleCreatedInput!) { createArticle(article: $a) { id status position } }"


def _create(server: Any, title: str) -> tuple[int, dict[str, Any]]:
    article = {"title": title, "body": "b", "category": "news", "author_id": 1, "author_name": "n"}
    body = json.dumps({"query": CREATE, "variables": {"a": article}}).encode()
    status, reply = server.request("POST", "/graphql", body, "application/json")
    return status, json.loads(reply)


def _file_size_limit(pid: int, soft: int) -> None:
    """Set the process's soft RLIMIT_FSIZE (the hard limit stays, so it can be raised again)."""
    _, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (soft, hard))


def test_a_full_disk_answers_503_shows_in_health_and_recovers(launch: Any, tmp_path: Path) -> None:
    """Under a file-size limit appends fail: 503 without the store's path, /healthz and /readyz
    say so; once the limit is lifted the next write succeeds, health is ok, and after a restart
    every acknowledged write is there."""
    store = tmp_path / "newsroom.db"
    server = launch(store)
    status, before = _create(server, "Before the fault")
    assert status == 200 and before["data"]["createArticle"]["status"] == "ACCEPTED"

    _file_size_limit(server.proc.pid, 4096)  # below the first WAL frame's end: no write fits
    status, failed = _create(server, "During the fault")
    assert status == 503, failed
    assert failed["errors"][0]["extensions"]["code"] == "STORE_UNAVAILABLE"
    assert str(tmp_path) not in json.dumps(failed)
    health_status, health = server.get_json("/healthz")
    assert (health_status, health["store"]) == (503, "writes failing")
    assert server.get_json("/readyz")[0] == 503

    _file_size_limit(server.proc.pid, resource.RLIM_INFINITY)
    status, after = _create(server, "After the fault")
    assert status == 200 and after["data"]["createArticle"]["status"] == "ACCEPTED", after
    health_status, health = server.get_json("/healthz")
    assert (health_status, health["store"]) == (200, "running")
    head = server.head()
    assert server.terminate() == 0, server.stderr()

    again = launch(store)
    assert again.head() == head
    titles = {
        a["title"] for a in again.graphql("{ articles(count: 50) { title } }")["data"]["articles"]
    }
    assert {"Before the fault", "After the fault"} <= titles and "During the fault" not in titles
    assert again.terminate() == 0, again.stderr()
