"""Shared fixtures: a real SQLite event store in a temporary folder, a bus and a command handler."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from newsroom.bus import Bus
from newsroom.commands import CommandHandler
from newsroom.store.sqlite import SQLiteEventStore
from tests.factories import FakeClock


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteEventStore]:
    store = await SQLiteEventStore.open(tmp_path / "newsroom.db")
    yield store
    await store.close()


@pytest.fixture
def bus(store: SQLiteEventStore) -> Bus:
    return Bus(store)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def handler(store: SQLiteEventStore, bus: Bus, clock: FakeClock) -> CommandHandler:
    return CommandHandler(store, bus, clock)
