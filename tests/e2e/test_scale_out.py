"""Several real `python -m newsroom` processes on one PostgreSQL log (the test server of
tests/postgres.py): what one writes, every other one serves, in one order, with one winner."""

from __future__ import annotations

import asyncio
import json
import random
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from gql import Client, gql
from gql.transport.websockets import WebsocketsTransport

from tests.e2e.conftest import Launch, NewsroomProcess
from tests.postgres import Databases, PostgresServer

pytestmark = pytest.mark.e2e

CREATE = """
mutation Create($article: ArticleCreatedInput!, $key: String) {
  createArticle(article: $article, idempotency_key: $key) { id status code position version }
}
"""
UPDATE = """
mutation Update($id: ID!, $title: String!, $expected: Int) {
  updateArticle(id: $id, changes: {title: $title}, expected_version: $expected) {
    id status code position version
  }
}
"""
EVENTS = "query Tail($after: Int!) { events(after: $after, count: 500) { position stream } }"
WRITE_SECONDS = 10.0  # how long the three processes take concurrent writes in the order test
WRITERS_PER_PROCESS = 16


def article(title: str) -> dict[str, str]:
    return {"title": title, "body": "Body.", "category": "news", "author_id": "7",
            "author_name": "Ed Itor"}  # fmt: skip


@pytest.fixture
def database(postgres_databases: Databases) -> str:
    """A fresh database on the test server; its URL carries a password, which newsroom must
    never print (the server trusts loopback, so any password is accepted)."""
    return postgres_databases.new().replace("postgres@", "postgres:pw-must-stay-secret@")


def processes(launch: Launch, database: str, count: int) -> list[NewsroomProcess]:
    first = launch(database)  # writes the demo articles; the others start after it
    return [first, *(launch(database, "--no-demo") for _ in range(count - 1))]


async def post(
    session: aiohttp.ClientSession,
    server: NewsroomProcess,
    query: str,
    variables: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    payload = {"query": query, "variables": variables}
    async with session.post(f"{server.url}/graphql", json=payload, headers=headers) as reply:
        assert reply.status == 200, await reply.text()
        result: dict[str, Any] = await reply.json()
        return result


def assert_secret_kept(*servers: NewsroomProcess) -> None:
    for server in servers:
        _, body = server.request("GET", "/healthz")
        assert b"pw-must-stay-secret" not in body
        assert "pw-must-stay-secret" not in server.stderr()
        assert b"pw-must-stay-secret" not in server.stdout


async def test_a_write_on_one_process_is_read_and_pushed_on_another(
    launch: Launch, database: str
) -> None:
    """Read-your-writes across processes through Newsroom-Min-Position, and a subscription on
    B that receives the event written on A."""
    a, b = processes(launch, database, 2)
    ws = b.url.replace("http://", "ws://") + "/graphql"
    transport = WebsocketsTransport(
        url=ws, subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL]
    )
    async with Client(transport=transport) as subscriber, aiohttp.ClientSession() as http:
        stream = subscriber.subscribe(gql("subscription { articleEvents { position type } }"))
        pushed = asyncio.ensure_future(anext(stream))
        await asyncio.to_thread(b.wait_for_subscriptions, 1)  # registered before the write
        created = (await post(http, a, CREATE, {"article": article("Written on A")}))["data"]
        position = created["createArticle"]["position"]
        query = "query Get($id: ID!) { article(id: $id) { title } }"
        read = await post(http, b, query, {"id": created["createArticle"]["id"]},
                          {"Newsroom-Min-Position": str(position)})  # fmt: skip
        assert read["data"]["article"] == {"title": "Written on A"}
        assert read["extensions"]["position"] >= position
        event = (await asyncio.wait_for(pushed, 10))["articleEvents"]
        assert event == {"position": position, "type": "ArticleCreated"}
        await stream.aclose()
    assert_secret_kept(a, b)


async def test_positions_are_dense_and_in_commit_order_across_processes(
    launch: Launch, database: str
) -> None:
    """Three processes take 16 concurrent writers each while a client tails `events(after:)`:
    it sees positions 1..N exactly once, in order, and never a gap that is filled later."""
    servers = processes(launch, database, 3)
    stop = time.monotonic() + WRITE_SECONDS
    acknowledged: list[int] = []

    async def writer(session: aiohttp.ClientSession, server: NewsroomProcess, n: int) -> None:
        while time.monotonic() < stop:
            reply = await post(session, server, CREATE, {"article": article(f"w{n}")})
            assert reply["data"]["createArticle"]["status"] == "ACCEPTED", reply
            acknowledged.append(reply["data"]["createArticle"]["position"])

    seen: list[int] = []
    writing = True

    async def tail(session: aiohttp.ClientSession) -> None:
        after, reader = 0, servers[-1]
        while True:
            page = (await post(session, reader, EVENTS, {"after": after}))["data"]["events"]
            for event in page:
                seen.append(event["position"])
                assert event["position"] == after + 1, f"after {after} came {event['position']}"
                after = event["position"]
            if not page and not writing and after >= max(acknowledged, default=0):
                return
            if not page:
                await asyncio.sleep(0.01)  # polling a remote log: there is nothing to wait on

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        tailing = asyncio.ensure_future(tail(session))
        await asyncio.gather(
            *(writer(session, s, n) for s in servers for n in range(WRITERS_PER_PROCESS))
        )
        writing = False
        await tailing
    assert seen == list(range(1, len(seen) + 1))
    assert set(acknowledged) <= set(seen) and len(acknowledged) > 100
    heads = {server.head() for server in servers}
    assert heads == {len(seen)}, heads


async def test_one_of_fifty_concurrent_updates_wins_across_processes(
    launch: Launch, database: str
) -> None:
    """50 updates of one article at one expected version, over 3 processes: one succeeds and
    49 get VERSION_CONFLICT. One idempotency key sent to two processes at once: one article."""
    servers = processes(launch, database, 3)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        created = await post(session, servers[0], CREATE, {"article": article("Contested")})
        target = created["data"]["createArticle"]
        updates = [
            post(session, servers[n % 3], UPDATE,
                 {"id": target["id"], "title": f"T{n}", "expected": target["version"]})
            for n in range(50)
        ]  # fmt: skip
        replies = [r["data"]["updateArticle"] for r in await asyncio.gather(*updates)]
        assert sorted(r["status"] for r in replies).count("ACCEPTED") == 1
        assert [r["code"] for r in replies].count("VERSION_CONFLICT") == 49

        keyed = {"article": article("Sent twice"), "key": "one-key-two-processes"}
        twice = await asyncio.gather(*(post(session, s, CREATE, keyed) for s in servers[:2]))
        results = [r["data"]["createArticle"] for r in twice]
        assert {r["status"] for r in results} == {"ACCEPTED"}
        assert len({(r["id"], r["position"]) for r in results}) == 1, results
    for server in servers:
        status, body = server.request(
            "POST", "/graphql",
            json.dumps({"query": '{ articles { title } }'}).encode(), "application/json",
            {"Newsroom-Min-Position": str(results[0]["position"])},
        )  # fmt: skip
        titles = [a["title"] for a in json.loads(body)["data"]["articles"]]
        assert titles.count("Sent twice") == 1 and status == 200


KILL_ROUNDS = 10


async def test_kill_one_of_three_processes_under_keyed_writes(
    launch: Launch, database: str
) -> None:
    """kill -9 one of three processes at a random moment while 8 writers spread over all three
    send keyed creates, 10 rounds. Every acknowledged write is in the log once; a write the
    kill left unanswered, retried with its key on another process, gives one result; the
    killed process restarts, and every process ends with the views of a fresh replay."""
    rng = random.Random(14)
    servers = processes(launch, database, 3)
    acknowledged: dict[str, tuple[str, int]] = {}  # key -> (article id, position)
    retried = 0

    async def send(session: aiohttp.ClientSession, server: NewsroomProcess, key: str) -> None:
        reply = await post(session, server, CREATE, {"article": article(key), "key": key})
        created = reply["data"]["createArticle"]
        assert created["status"] == "ACCEPTED", reply
        acknowledged[key] = (created["id"], created["position"])

    async def writer(
        session: aiohttp.ClientSession, round_: int, n: int, until: asyncio.Event
    ) -> None:
        nonlocal retried
        sent = 0
        while not until.is_set():
            key, sent = f"{round_}-{n}-{sent}", sent + 1
            server = servers[(n + sent) % 3]
            try:
                await send(session, server, key)
            except aiohttp.ClientError:  # unanswered: the process died; retry elsewhere
                others = [s for s in servers if s.proc.poll() is None and s is not server]
                await send(session, rng.choice(others), key)
                retried += 1

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        for round_ in range(KILL_ROUNDS):
            until = asyncio.Event()
            writers = [asyncio.ensure_future(writer(session, round_, n, until)) for n in range(8)]
            await asyncio.sleep(rng.uniform(0.2, 0.8))
            victim = rng.randrange(3)
            servers[victim].kill()
            await asyncio.sleep(0.2)
            until.set()
            await asyncio.gather(*writers)
            servers[victim] = await asyncio.to_thread(launch, database, "--no-demo")
    assert retried > 0  # some kill did catch a write in flight

    head = servers[0].head()
    titles = {}
    after = 0
    while after < head:
        page = servers[0].graphql(
            "query($after: Int!) { events(after: $after, count: 400) { position data } }",
            {"after": after},
        )["data"]["events"]
        titles.update({e["position"]: e["data"].get("title") for e in page})
        after = page[-1]["position"]
    for key, (_, position) in acknowledged.items():
        assert titles[position] == key
    written = [t for t in titles.values() if t and t[0].isdigit()]
    assert sorted(written) == sorted(set(written)), "a key was written twice"
    assert set(written) == set(acknowledged)
    fresh = launch(database, "--no-demo")
    reference = fresh.fingerprints(at=head)
    for server in servers:
        assert server.fingerprints(at=head) == reference


async def test_a_restart_from_a_local_checkpoint_catches_up_with_the_others(
    launch: Launch, database: str, tmp_path: Path
) -> None:
    """A process with --checkpoint-path stops (saving its views), another one writes meanwhile;
    the first starts again from its checkpoint, replays only what was written since, and serves
    the same views as the other."""
    checkpoints = ["--checkpoint-path", str(tmp_path / "views-a")]
    a = launch(database, *checkpoints)
    b = launch(database, "--no-demo")
    a.fingerprints(at=a.head())  # the search index is built, so the stop saves a checkpoint
    assert a.terminate() == 0
    async with aiohttp.ClientSession() as session:
        for n in range(5):
            await post(session, b, CREATE, {"article": article(f"While A was away {n}")})
    head = b.head()
    a = launch(database, *checkpoints)
    status, report = a.get_json("/healthz")
    assert status == 200 and report["checkpoint"]["used"] is True, report["checkpoint"]
    assert report["checkpoint"]["replayed_after"] == 5
    assert a.fingerprints(at=head) == b.fingerprints(at=head)


def test_verify_on_start_checks_a_postgresql_log(
    launch: Launch, database: str, postgres_server: PostgresServer
) -> None:
    """--verify-on-start on a new database starts (nothing to check); on a log with a damaged
    event it refuses to start, naming the position."""
    first = launch(database, "--verify-on-start")
    assert first.terminate() == 0
    assert launch(database, "--verify-on-start", "--no-demo").terminate() == 0
    name = database.rsplit("/", 1)[1]
    postgres_server.psql("UPDATE events SET data = data || ' '::bytea WHERE position = 3", name)
    refused = launch(database, "--verify-on-start", "--no-demo", wait=False)
    assert refused.proc.wait(30) == 2
    assert "position 3" in refused.stderr() and "pw-must-stay-secret" not in refused.stderr()
