"""What only the PostgreSQL store promises, beyond the contract suite: its schema is created once
and checked, a foreign or newer database is refused by name, appends group into transactions,
two stores on one database (two processes) share one dense log and hear of each other's appends,
and the password of the URL never shows."""

from __future__ import annotations

import asyncio
import logging

import asyncpg
import pytest

from newsroom.errors import StoreError, StoreUnrecognised
from newsroom.store.postgres import SCHEMA_VERSION, PostgresEventStore, public_location
from tests.factories import article_created, updated
from tests.postgres import Databases, PostgresServer

SECRET = "pw-never-printed"


@pytest.fixture
def url(postgres_databases: Databases) -> str:
    """A fresh database; its URL carries a password (the test server trusts loopback)."""
    return postgres_databases.new().replace("postgres@", f"postgres:{SECRET}@")


async def sql(url: str, statement: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def test_location_names_the_server_and_database_but_not_the_password() -> None:
    location = public_location("postgresql://ed:hunter2@db.example:5433/news?sslmode=require")
    assert location == "postgresql://ed@db.example:5433/news"


async def test_the_schema_is_created_once_and_checked_after(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The first open creates the schema (saying so); two processes opening an empty database
    at once create it once; later opens find it."""
    caplog.set_level(logging.INFO)
    first, second = await asyncio.gather(PostgresEventStore.open(url), PostgresEventStore.open(url))
    await first.close()
    await second.close()
    assert sum("created the newsroom schema" in r.message for r in caplog.records) == 1
    again = await PostgresEventStore.open(url)
    assert await again.head() == 0
    await again.close()
    assert SECRET not in caplog.text


async def test_a_database_of_something_else_is_refused_by_name(url: str) -> None:
    await sql(url, "CREATE TABLE invoices (id int)")
    with pytest.raises(StoreUnrecognised, match=r"not a newsroom database.*invoices") as refused:
        await PostgresEventStore.open(url)
    assert SECRET not in str(refused.value)


async def test_a_newer_schema_is_refused_with_what_to_do(url: str) -> None:
    store = await PostgresEventStore.open(url)
    await store.close()
    await sql(url, f"UPDATE newsroom_log SET schema_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreUnrecognised, match=r"newer than this newsroom.s.*upgrade newsroom"):
        await PostgresEventStore.open(url)


async def test_an_unreachable_server_is_a_store_error_without_the_password(
    postgres_server: PostgresServer,
) -> None:
    dead = f"postgresql://postgres:{SECRET}@127.0.0.1:1/nowhere"
    with pytest.raises(StoreError, match="cannot connect") as refused:
        await PostgresEventStore.open(dead)
    assert SECRET not in str(refused.value) and "127.0.0.1:1/nowhere" in str(refused.value)


async def test_concurrent_appends_share_transactions(url: str) -> None:
    """100 appends submitted together take far fewer than 100 transactions (group commit)."""
    store = await PostgresEventStore.open(url)
    try:
        await asyncio.gather(
            *(store.append(f"article-{n}", [article_created(n)], 0) for n in range(1, 101))
        )
        assert await store.head() == 100
        assert store.transactions < 20, store.transactions
    finally:
        await store.close()


async def test_two_stores_on_one_database_share_one_dense_log(url: str) -> None:
    """Two stores (two processes' worth) append concurrently: positions 1..N once each, and
    each hears through `heads()` of the other's appends."""
    a, b = await PostgresEventStore.open(url), await PostgresEventStore.open(url)
    try:
        heard = a.heads()
        await asyncio.gather(
            *(s.append(f"article-{n}", [article_created(n)], 0)
              for n, s in zip(range(1, 201), [a, b] * 100, strict=True))
        )  # fmt: skip
        log = await a.read_all(after=0, limit=1000)
        assert [r.position for r in log] == list(range(1, 201))
        assert sorted(r.stream for r in log) == sorted(f"article-{n}" for n in range(1, 201))
        while (head := await asyncio.wait_for(anext(heard), 5)) < 200:
            pass
        assert head == 200
        firsts = await asyncio.gather(*(s.claim_numbers("article-", 5) for s in [a, b] * 10))
        ids = {first + n for first in firsts for n in range(5)}
        assert len(ids) == 100 and min(ids) > 200  # 20 blocks of 5, none overlapping
        await b.append("article-1", [updated(1, title="B")], 1)
        assert [r.version for r in await a.read_stream("article-1")] == [1, 2]
    finally:
        await a.close()
        await b.close()


async def test_every_connection_keeps_its_session_settings(url: str) -> None:
    """A frozen session cannot hold the head's lock for long, and commits are durable, on
    every connection, however often a pooled one is reused."""
    store = await PostgresEventStore.open(url)
    try:
        for _ in range(5):  # reuse the pooled connections several times
            shown = await store._read(
                lambda c: c.fetchrow(
                    "SELECT current_setting('idle_in_transaction_session_timeout'), "
                    "current_setting('synchronous_commit')"
                )
            )
            assert tuple(shown) == ("5s", "on")
    finally:
        await store.close()
