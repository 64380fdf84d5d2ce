"""Shared fixtures: an in-memory event store, a bus and a command handler on it, a real SQLite
store in a temporary folder for the tests where the file itself matters, and one throwaway
PostgreSQL server for the whole run (started on first use) with a fresh database per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from newsroom.bus import Bus
from newsroom.commands import CommandHandler
from newsroom.logs import FAILURE_LINES
from newsroom.store.memory import InMemoryEventStore
from newsroom.store.sqlite import SQLiteEventStore
from tests.factories import FakeClock
from tests.postgres import Databases, PostgresServer, running_server


@pytest.fixture(autouse=True)
def full_failure_line_budget() -> None:
    """Each test starts with the budget of lines about failed requests full (it is one for the
    process, and a test that expects such a line must not find it spent by the tests before)."""
    FAILURE_LINES.reset()


@pytest.fixture
async def store() -> AsyncIterator[InMemoryEventStore]:
    store = InMemoryEventStore()
    yield store
    await store.close()


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SQLiteEventStore]:
    store = await SQLiteEventStore.open(tmp_path / "newsroom.db")
    yield store
    await store.close()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the run; it errors (never skips) if none can be started."""
    with running_server() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_databases(postgres_server: PostgresServer) -> Databases:
    return Databases(postgres_server)


@pytest.fixture
def bus(store: InMemoryEventStore) -> Bus:
    return Bus(store)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def handler(store: InMemoryEventStore, bus: Bus, clock: FakeClock) -> CommandHandler:
    return CommandHandler(store, bus, clock)
