"""A kill -9 while a view checkpoint is being written never leaves a partial one behind.

Rounds on one log: a server with a checkpoint every few events starts (from the checkpoint the
round before left), and its views are compared with those of a full replay of the same log; then
writers create articles, so that checkpoints are written back to back, and the server is
SIGKILLed at a random moment, most often in the middle of writing one. The next start must use
the checkpoint before it or none, never refuse a damaged one, and serve exactly what a full
replay (`--no-checkpoints`) serves.
"""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.error
from pathlib import Path
from typing import Any

import pytest

from newsroom.checkpoints import MAGIC
from tests.e2e.conftest import Launch, NewsroomProcess

pytestmark = pytest.mark.e2e

ROUNDS = 10
KILL_AFTER = (0.05, 0.5)  # seconds of writing before the SIGKILL, drawn per round
SEED = 20261204
CHECKPOINTING = ("--no-demo", "--checkpoint-every-events", "3", "--checkpoint-every-minutes", "0")
CREATE = "mutation($a: ArticleCreatedInput!) { createArticle(article: $a) { status } }"


def fingerprints(server: NewsroomProcess) -> tuple[dict[str, str], dict[str, Any]]:
    """Each view's fingerprint, and what /healthz says of the checkpoint (once the search index,
    built after a full replay, is there)."""
    server.wait_for_search()
    status, report = server.get_json("/healthz?fingerprint")
    assert status == 200, report
    views = {name: view["fingerprint"] for name, view in report["projections"].items()}
    return views, report["checkpoint"]


def writing(views_dir: Path) -> bool:
    """Whether a checkpoint is being written: a slot's header is wiped until it is done."""
    for path in views_dir.glob("views-*.ckpt"):
        with path.open("rb") as f:
            if f.read(len(MAGIC)) == bytes(len(MAGIC)):
                return True
    return False


def write_until(server: NewsroomProcess, stop: threading.Event, round_: int) -> None:
    """Create articles one after another until `stop` is set or the server is gone."""
    n = 0
    while not stop.is_set():
        article = {"title": f"Round {round_} story {n}", "body": "Text.", "category": "crash"}
        article |= {"author_id": "3", "author_name": "Kim"}
        payload = json.dumps({"query": CREATE, "variables": {"a": article}}).encode()
        try:
            server.request("POST", "/graphql", payload, "application/json")
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return  # killed
        n += 1


def test_kill_during_checkpoint_writes_leaves_the_previous_checkpoint_or_none(
    launch: Launch, tmp_path: Path
) -> None:
    """After each kill -9 the next start loads a whole checkpoint (or none), never refuses a
    damaged one, and its views equal a full replay of the log."""
    log = tmp_path / "newsroom.db"
    rng = random.Random(SEED)
    views_dir = log.with_name(log.name + ".views")
    reference: dict[str, str] | None = None
    used = interrupted = 0
    for round_ in range(ROUNDS):
        server = launch(log, *CHECKPOINTING)
        views, checkpoint = fingerprints(server)
        assert "refused" not in checkpoint, (round_, checkpoint, server.stderr())
        assert "not used" not in server.stderr()
        if reference is not None:
            assert views == reference, (round_, checkpoint)
        used += checkpoint["used"]
        stop = threading.Event()
        writer = threading.Thread(target=write_until, args=(server, stop, round_))
        writer.start()
        if round_ % 2:  # let it write (and checkpoint) for a while, then kill it wherever it is
            time.sleep(rng.uniform(*KILL_AFTER))
        else:  # kill it as soon as a checkpoint is being written (if one starts in time)
            deadline = time.monotonic() + KILL_AFTER[1] * 4
            while not writing(views_dir) and time.monotonic() < deadline:
                time.sleep(0.001)
        server.kill()
        stop.set()
        writer.join()
        interrupted += writing(views_dir)  # killed in the middle of a write
        full = launch(log, "--no-demo", "--no-checkpoints")
        reference, _ = fingerprints(full)
        assert full.terminate() == 0
    last = launch(log, *CHECKPOINTING)
    views, checkpoint = fingerprints(last)
    assert "refused" not in checkpoint and views == reference
    assert used >= ROUNDS // 2  # most starts did load a checkpoint
    assert interrupted >= 1  # the kills did hit writes in progress (half the rounds aim at one)
