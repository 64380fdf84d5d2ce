"""A disk that fills while the server stops: the shutdown checkpoint fails half-way, and the next
start still recovers every acknowledged write from the WAL instead of refusing the log."""

from __future__ import annotations

import json
import resource
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

CREATE = "mutation($a: ArticleCreatedInput!) { createArticle(article: $a) { status } }"


def test_a_checkpoint_cut_short_by_a_full_disk_loses_nothing(launch: Any, tmp_path: Path) -> None:
    """Writes acknowledged before a SIGTERM whose checkpoint hits the file-size limit are all
    there after a restart without the limit, and the log is not refused."""
    store = tmp_path / "newsroom.db"
    server = launch(store)
    for n in range(40):
        article = {"title": f"Story {n}", "body": "x" * 2000, "category": "news",
                   "author_id": 1, "author_name": "n"}  # fmt: skip
        body = json.dumps({"query": CREATE, "variables": {"a": article}}).encode()
        status, reply = server.request("POST", "/graphql", body, "application/json")
        assert status == 200 and b"ACCEPTED" in reply, reply
    head = server.head()
    size = store.stat().st_size  # the checkpoint must grow the file past this: it cannot
    _, hard = resource.prlimit(server.proc.pid, resource.RLIMIT_FSIZE)
    resource.prlimit(server.proc.pid, resource.RLIMIT_FSIZE, (size, hard))
    server.terminate()
    assert Path(f"{store}-wal").exists(), "the WAL must still hold what the checkpoint missed"

    again = launch(store)
    assert again.head() == head, again.stderr()
    assert again.terminate() == 0, again.stderr()
