"""Crash safety: acknowledged writes survive SIGKILL, retries never duplicate, the log stays dense.

One store, many rounds: eight writers create articles with unique idempotency keys until the server
is SIGKILLed at a random moment; the server restarts on the same file, every unacknowledged key is
sent once more, and the next round begins. At the end the articles served over HTTP, the raw log
(read with stdlib sqlite3) and a fresh replay of the log must all agree.
"""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from newsroom.projections.articles import ArticlesProjection
from newsroom.store.sqlite import SQLiteEventStore

pytestmark = pytest.mark.e2e

ROUNDS = 20
WRITERS = 8
KILL_AFTER = (0.05, 0.4)  # seconds of writing before the SIGKILL, drawn per round
SEED = 20240611
FETCH_BATCH = 50  # article(id:) fields per GraphQL request
FETCH_PAST_END = 10  # ids fetched past the highest known one, to catch stray articles
READ_PAGE = 500
DEMO_TITLES = {n: f"My article title {n}" for n in range(1, 7)}
CREATE = """
mutation Create($article: ArticleCreatedInput!) {
  createArticle(article: $article) { id name error status position version }
}
"""


def title_for(key: str) -> str:
    return f"crash test {key}"


def article_for(key: str) -> dict[str, str]:
    """The createArticle input for a key; the same key always sends the same command."""
    return {
        "title": title_for(key),
        "body": f"Written by the crash-safety test under key {key}.",
        "category": "crash-test",
        "author_id": "9",
        "author_name": "Crash Tester",
        "idempotency_key": key,
    }


@dataclass(frozen=True)
class Ack:
    """What the server acknowledged for a key: the article it created and the log position."""

    article_id: int
    position: int


@dataclass
class Ledger:
    """Everything the test sent and what came back."""

    attempted: set[str] = field(default_factory=set)
    acked: dict[str, Ack] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    unacked_total: int = 0
    replayed_on_retry: int = 0


async def create(session: aiohttp.ClientSession, url: str, key: str) -> tuple[int, dict[str, Any]]:
    """Send the key's createArticle; raise aiohttp.ClientError or TimeoutError on no reply."""
    payload = {"query": CREATE, "variables": {"article": article_for(key)}}
    async with session.post(f"{url}/graphql", json=payload) as response:
        return response.status, await response.json()


def accept(ledger: Ledger, key: str, status: int, reply: dict[str, Any]) -> dict[str, Any] | None:
    """Record a reply; a reply that is not a success is a test failure, noted in the ledger."""
    outcome = (reply.get("data") or {}).get("createArticle") or {}
    if status != 200 or outcome.get("status") != "ACCEPTED":
        ledger.failures.append(f"{key}: HTTP {status}: {reply}")
        return None
    ledger.acked[key] = Ack(int(outcome["id"]), outcome["position"])
    return outcome


async def write_until_killed(
    session: aiohttp.ClientSession, server: Any, round_: int, kill_after: float, ledger: Ledger
) -> list[str]:
    """Run the writers, SIGKILL the server after `kill_after` s, return the unacknowledged keys."""
    stop = asyncio.Event()
    unacked: list[str] = []

    async def writer(number: int) -> None:
        sent = 0
        while not stop.is_set():
            key = f"w{number}-r{round_}-{sent}"
            sent += 1
            ledger.attempted.add(key)
            try:
                status, reply = await create(session, server.url, key)
            except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError):
                unacked.append(key)  # no reply: it may or may not have been committed
                return
            if accept(ledger, key, status, reply) is None:
                return

    writers = [asyncio.create_task(writer(n)) for n in range(WRITERS)]
    await asyncio.wait(writers, timeout=kill_after)  # the writers normally run until the kill
    server.proc.kill()  # SIGKILL: no cleanup, no checkpoint, no goodbye
    stop.set()
    await asyncio.gather(*writers)
    await asyncio.to_thread(server.kill)  # reap it
    return unacked


async def graphql(session: aiohttp.ClientSession, url: str, query: str) -> dict[str, Any]:
    async with session.post(f"{url}/graphql", json={"query": query}) as response:
        assert response.status == 200, await response.text()
        result: dict[str, Any] = await response.json()
    assert "errors" not in result, result
    return result


async def fetch_articles(
    session: aiohttp.ClientSession, url: str, ids: list[int]
) -> dict[int, str]:
    """{id: title} of every id that exists, asked one `article(id:)` field per id."""
    found: dict[int, str] = {}
    for start in range(0, len(ids), FETCH_BATCH):
        batch = ids[start : start + FETCH_BATCH]
        fields = " ".join(f'a{i}: article(id: "{i}") {{ id title }}' for i in batch)
        data = (await graphql(session, url, f"{{ {fields} }}"))["data"]
        for i in batch:
            if (view := data[f"a{i}"]) is not None:
                assert view["id"] == str(i), view
                found[i] = view["title"]
    return found


async def health(session: aiohttp.ClientSession, url: str, fingerprint: bool = False) -> Any:
    async with session.get(
        f"{url}/healthz", params={"fingerprint": "1"} if fingerprint else {}
    ) as r:
        assert r.status == 200, await r.text()
        return await r.json()


def read_log(store: Path) -> tuple[list[tuple[int, str, int, str, bytes]], dict[str, str]]:
    """The raw log rows (position, stream, version, type, data) and {idempotency key: stream}."""
    conn = sqlite3.connect(f"file:{quote(str(store))}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT position, stream, version, type, data FROM events ORDER BY position"
        ).fetchall()
        keys = dict(conn.execute("SELECT key, stream FROM idempotency").fetchall())
    finally:
        conn.close()
    return rows, keys


async def replay_fingerprint(store: Path, up_to: int) -> str:
    """Replay the log into a fresh ArticlesProjection, up to `up_to`, and fingerprint it."""
    projection = ArticlesProjection()
    log = await SQLiteEventStore.open(store)
    try:
        after = 0
        while after < up_to:
            page = await log.read_all(after, min(READ_PAGE, up_to - after))
            assert page, f"the log ends at {after}, before {up_to}"
            for recorded in page:
                projection.apply(recorded)
            after = page[-1].position
    finally:
        await log.close()
    return projection.fingerprint()


def test_store_killed_before_its_first_checkpoint_starts_again(launch: Any, tmp_path: Path) -> None:
    """A new store SIGKILLed at once (its schema still only in the -wal file) opens on restart."""
    store = tmp_path / "db.sqlite"
    first = launch(store)
    head = first.head()
    first.kill()  # SIGKILL
    assert store.with_name(store.name + "-wal").stat().st_size > 0, "nothing left to recover"
    again = launch(store)
    assert again.head() == head
    assert again.terminate() == 0, again.stderr()


async def test_acknowledged_writes_survive_sigkill_and_retries_never_duplicate(
    launch: Any, tmp_path: Path
) -> None:
    """Across SIGKILLs acked articles survive, retries never duplicate; log, views, replay agree."""
    store = tmp_path / "db.sqlite"
    rng = random.Random(SEED)
    ledger = Ledger()
    server = await asyncio.to_thread(launch, store)  # the first start writes the demo
    timeout = aiohttp.ClientTimeout(total=15)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for round_ in range(ROUNDS):
            kill_after = rng.uniform(*KILL_AFTER)
            unacked = await write_until_killed(session, server, round_, kill_after, ledger)
            assert not ledger.failures, ledger.failures
            ledger.unacked_total += len(unacked)

            server = await asyncio.to_thread(launch, store)
            head = (await health(session, server.url))["head"]
            newest = max((a.position for a in ledger.acked.values()), default=0)
            assert head >= newest, f"round {round_}: acknowledged position {newest} lost"

            for key in unacked:  # each once, with the same command and key
                status, reply = await create(session, server.url, key)
                outcome = accept(ledger, key, status, reply)
                assert outcome is not None, ledger.failures
                ledger.replayed_on_retry += outcome["name"] is None

            round_keys = [k for k in ledger.acked if f"-r{round_}-" in k]
            found = await fetch_articles(
                session, server.url, sorted({ledger.acked[k].article_id for k in round_keys})
            )
            for key in round_keys:
                assert found.get(ledger.acked[key].article_id) == title_for(key), key

        assert ledger.acked, "no write was ever acknowledged"
        assert ledger.unacked_total > 0, "no SIGKILL ever interrupted a write"
        assert set(ledger.acked) == ledger.attempted

        # Every article the server knows, by id: the demo and one per key, nothing else.
        highest = max(a.article_id for a in ledger.acked.values())
        found = await fetch_articles(session, server.url, list(range(1, highest + FETCH_PAST_END)))
        for number, title in DEMO_TITLES.items():
            assert found.get(number) == title
        for key, ack in ledger.acked.items():
            assert found.get(ack.article_id) == title_for(key), key
        titles = Counter(found.values())
        assert [t for t, n in titles.items() if n > 1] == [], "an article was written twice"
        allowed = set(DEMO_TITLES.values()) | {title_for(k) for k in ledger.attempted}
        assert set(titles) <= allowed
        assert set(found) == set(DEMO_TITLES) | {a.article_id for a in ledger.acked.values()}

        live = await health(session, server.url, fingerprint=True)
    live_position = live["projections"]["articles"]["position"]
    live_fingerprint = live["projections"]["articles"]["fingerprint"]
    assert live_position == live["head"]
    assert await asyncio.to_thread(server.terminate) == 0, server.stderr()

    rows, keys = await asyncio.to_thread(read_log, store)
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1)), "positions have gaps"
    assert len(rows) == live["head"]
    versions: dict[str, list[int]] = defaultdict(list)
    for _, stream, version, _, _ in rows:
        versions[stream].append(version)
    for stream, seen in versions.items():
        assert seen == list(range(1, len(seen) + 1)), f"{stream} versions {seen}"
    assert set(versions) == {f"article-{i}" for i in found}
    logged_titles = Counter(
        json.loads(data)["title"] for _, _, _, type_, data in rows if "Created" in type_
    )
    assert max(logged_titles.values()) == 1, "a title appears twice in the log"
    by_position = {r[0]: r for r in rows}
    for key, ack in ledger.acked.items():
        assert keys.get(key) == f"article-{ack.article_id}", key
        _, stream, version, type_, _ = by_position[ack.position]
        assert (stream, version, type_) == (f"article-{ack.article_id}", 1, "ArticleCreated"), key

    assert await replay_fingerprint(store, live_position) == live_fingerprint
