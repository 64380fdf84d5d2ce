"""PostgreSQL goes away under a write load, and comes back: newsroom processes answer every
request with a result or a 503 within 5 s, say on /readyz that the store is down, recover by
themselves, and lose or double nothing acknowledged. The database server here is the test's own
(tests/postgres.py), since the test restarts it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from tests.e2e.conftest import Launch, NewsroomProcess
from tests.postgres import Databases, PostgresServer, running_server

pytestmark = pytest.mark.e2e

CREATE = """
mutation Create($article: ArticleCreatedInput!, $key: String) {
  createArticle(article: $article, idempotency_key: $key) { id status code position }
}
"""
ANSWER_WITHIN = 5.0  # seconds: every request gets a result or a 503 in this time
WRITERS = 8


@pytest.fixture
def own_server() -> Iterator[PostgresServer]:
    with running_server() as server:  # its own: this test restarts it
        yield server


class Load:
    """Keyed creates from WRITERS clients over every process, until stopped; what each key got."""

    def __init__(self, servers: list[NewsroomProcess]) -> None:
        self.servers = servers
        self.acknowledged: dict[str, int] = {}  # key -> position
        self.refused: list[str] = []  # keys answered 503: not acknowledged, to retry
        self.slowest = 0.0
        self.running = True
        self._answered = asyncio.Event()  # set at each acknowledged write

    async def acknowledged_more(self, count: int, within: float) -> None:
        """Return once `count` more writes than now are acknowledged (the load is moving)."""
        target = len(self.acknowledged) + count
        async with asyncio.timeout(within):
            while len(self.acknowledged) < target:
                self._answered.clear()
                await self._answered.wait()

    async def create(
        self, session: aiohttp.ClientSession, server: NewsroomProcess, key: str
    ) -> int:
        payload = {
            "query": CREATE,
            "variables": {
                "key": key,
                "article": {
                    "title": key,
                    "body": "b",
                    "category": "news",
                    "author_id": "1",
                    "author_name": "n",
                },
            },
        }
        started = time.monotonic()
        timeout = aiohttp.ClientTimeout(total=ANSWER_WITHIN)
        async with session.post(f"{server.url}/graphql", json=payload, timeout=timeout) as reply:
            body: dict[str, Any] = await reply.json()
        self.slowest = max(self.slowest, time.monotonic() - started)
        if reply.status == 503:
            return 0
        assert reply.status == 200 and body["data"], body
        created = body["data"]["createArticle"]
        assert created["status"] == "ACCEPTED", body
        position: int = created["position"]
        return position

    async def writer(self, session: aiohttp.ClientSession, n: int) -> None:
        sent = 0
        while self.running:
            key = f"writer-{n}-{sent}"
            server = self.servers[(n + sent) % len(self.servers)]
            position = await self.create(session, server, key)
            if position:
                self.acknowledged[key] = position
                self._answered.set()
            else:
                self.refused.append(key)
                await asyncio.sleep(0.05)  # a client backs off after a 503
            sent += 1


async def wait_ready(server: NewsroomProcess, ready: bool, within: float) -> None:
    deadline = time.monotonic() + within
    while (server.request("GET", "/readyz")[0] == 200) != ready:
        if time.monotonic() > deadline:
            _, health = server.request("GET", "/healthz")
            raise AssertionError(
                f"/readyz did not turn {ready} in {within} s: {health.decode()}\n"
                f"{server.stderr()[-3000:]}"
            )
        await asyncio.sleep(0.05)


async def wait_store(server: NewsroomProcess, state: str, within: float) -> None:
    deadline = time.monotonic() + within
    while (await asyncio.to_thread(server.get_json, "/healthz"))[1]["store"] != state:
        assert time.monotonic() < deadline, f"/healthz did not say the store is {state}"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("fault", ["restart", "sessions killed"])
async def test_database_restart_under_load_loses_nothing_and_recovers(
    launch: Launch, own_server: PostgresServer, fault: str
) -> None:
    database = Databases(own_server).new()
    servers = [launch(database), launch(database, "--no-demo")]
    load = Load(servers)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        writers = [asyncio.ensure_future(load.writer(session, n)) for n in range(WRITERS)]
        await load.acknowledged_more(20, within=30.0)  # the load runs when the fault comes
        before = len(load.acknowledged)
        if fault == "restart":
            down = asyncio.ensure_future(asyncio.to_thread(own_server.restart, 3.0))
            await wait_ready(servers[0], False, within=3.0)  # the store is down, and it says so
            await wait_store(servers[1], "unreachable", within=2.5)
            await down
        else:
            assert await asyncio.to_thread(own_server.terminate_sessions, database.rsplit("/")[-1])
        for server in servers:
            await wait_ready(server, True, within=10.0)  # back by itself, no restart
        await load.acknowledged_more(20, within=10.0)  # and writes go on
        load.running = False
        await asyncio.gather(*writers)
        assert len(load.acknowledged) > before  # writes went on after the fault
        assert load.slowest < ANSWER_WITHIN
        if fault == "restart":
            assert load.refused  # the fault was felt (a restart of 3 s cannot go unnoticed)
        for key in load.refused:  # a client retries what was refused, with its key
            position = await load.create(session, servers[1], key)
            assert position, f"{key} refused again after recovery"
            load.acknowledged[key] = position
    await asyncio.to_thread(check_log, servers, load.acknowledged)


def check_log(servers: list[NewsroomProcess], acknowledged: dict[str, int]) -> None:
    """Every acknowledged write is in the log exactly once, at its position; every process
    serves the same views."""
    head = servers[0].head()
    titles: dict[int, str] = {}
    after = 0
    while after < head:
        reply = servers[0].graphql(
            "query($after: Int!) { events(after: $after, count: 400) { position data } }",
            {"after": after},
        )
        for event in reply["data"]["events"]:
            titles[event["position"]] = event["data"].get("title", "")
            after = event["position"]
    assert list(titles) == list(range(1, head + 1))
    for key, position in acknowledged.items():
        assert titles[position] == key
    counted = [t for t in titles.values() if t.startswith("writer-")]
    assert len(counted) == len(set(counted)) == len(acknowledged)
    prints = [server.fingerprints(at=head) for server in servers]
    assert prints[0] == prints[1]
