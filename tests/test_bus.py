"""The broker: every subscriber sees every event once, in order, and never slows the writer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest

from newsroom.bus import Bus
from newsroom.errors import StoreCorrupted, StoreError
from newsroom.store import Recorded, SharedEventStore
from newsroom.store.memory import InMemoryEventStore
from tests.factories import article_created


async def _append(store: InMemoryEventStore, bus: Bus, n: int) -> None:
    result = await store.append(f"article-{n}", [article_created(n)], 0)
    bus.publish(result.records)


async def _collect_until(bus: Bus, after: int, head: int) -> list[int]:
    positions: list[int] = []
    async for batch in bus.subscribe(after=after):
        positions.extend(r.position for r in batch)
        if positions[-1] >= head:
            return positions
    raise AssertionError("subscription ended")


async def test_backlog_then_live_exactly_once(store: InMemoryEventStore, bus: Bus) -> None:
    """A subscriber starting mid-log gets the backlog after its position, then live events."""
    for n in range(1, 11):
        await _append(store, bus, n)
    collector = asyncio.create_task(_collect_until(bus, after=4, head=20))
    for n in range(11, 21):
        await _append(store, bus, n)
    assert await collector == list(range(5, 21))


async def test_slow_subscriber_never_delays_appenders_and_misses_nothing(
    store: InMemoryEventStore,
) -> None:
    """With a queue of 8 and a stalled subscriber, 5,000 appends finish; it then catches up."""
    bus = Bus(store, queue_size=8)
    gate = asyncio.Event()
    seen: list[int] = []
    reached_head = asyncio.Event()

    async def slow_subscriber() -> None:
        async for batch in bus.subscribe(after=0):
            seen.extend(r.position for r in batch)
            if not gate.is_set():
                await gate.wait()  # stalls while the writers run
            if seen[-1] >= 5000:
                reached_head.set()
                return

    task = asyncio.create_task(slow_subscriber())
    await _append(store, bus, 1)  # the subscriber takes this one, then stalls
    await asyncio.gather(*[_append(store, bus, n) for n in range(2, 5001)])
    assert len(seen) <= 1, "the subscriber was stalled the whole time"
    gate.set()
    await asyncio.wait_for(reached_head.wait(), timeout=30)
    await task
    assert seen == list(range(1, 5001))


async def test_a_gap_in_live_events_is_filled_from_the_store(
    store: InMemoryEventStore, bus: Bus
) -> None:
    """If a live batch skips a position, the subscriber reads the missing events from the store."""
    collector = asyncio.create_task(_collect_until(bus, after=0, head=3))
    await _append(store, bus, 1)
    unpublished = await store.append("article-2", [article_created(2)], 0)  # never published
    await _append(store, bus, 3)
    assert unpublished.last_position == 2
    assert await collector == [1, 2, 3]


async def test_many_subscribers_each_get_everything(store: InMemoryEventStore, bus: Bus) -> None:
    """Fan-out: three subscribers each see all events in position order."""
    collectors = [asyncio.create_task(_collect_until(bus, after=0, head=50)) for _ in range(3)]
    await asyncio.gather(*[_append(store, bus, n) for n in range(1, 51)])
    for collector in collectors:
        assert await collector == list(range(1, 51))


def test_publish_with_no_subscribers_is_harmless(bus: Bus) -> None:
    """Publishing to nobody does nothing and never blocks."""
    empty: Sequence[Recorded] = ()
    bus.publish(empty)


class _FlakySharedStore(InMemoryEventStore):
    """A log other processes share (it has `heads`, `connected`, ...) whose database is down for
    the first `outages` reads: each fails with `error`."""

    def __init__(self, outages: int, error: StoreError) -> None:
        super().__init__()
        self.outages, self.error = outages, error
        self.connected, self.reconnects = True, 0

    async def read_all(self, after: int, limit: int) -> list[Recorded]:
        if self.outages:
            self.outages -= 1
            raise self.error
        return await super().read_all(after, limit)

    async def heads(self) -> AsyncIterator[int]:
        yield await self.head()

    async def claim_numbers(self, prefix: str, count: int) -> int:
        return 1


async def test_a_shared_logs_passing_outage_is_waited_out_not_fatal() -> None:
    """A view catching up on a shared log whose database restarts resumes once it is back."""
    store = _FlakySharedStore(outages=2, error=StoreError("db: connection lost"))
    assert isinstance(store, SharedEventStore)
    bus = Bus(store)
    for n in range(1, 4):
        await store.append(f"article-{n}", [article_created(n)], 0)
    assert await asyncio.wait_for(_collect_until(bus, after=0, head=3), 5) == [1, 2, 3]
    assert store.outages == 0


async def test_damage_or_an_own_logs_failure_still_stops_the_reader() -> None:
    damaged = _FlakySharedStore(outages=1, error=StoreCorrupted("db: event 2 fails its checksum"))
    with pytest.raises(StoreCorrupted):
        await _collect_until(Bus(damaged), after=0, head=1)

    class Failing(InMemoryEventStore):
        async def read_all(self, after: int, limit: int) -> list[Recorded]:
            raise StoreError("disk: I/O error")

    own = Failing()
    assert not isinstance(own, SharedEventStore)
    with pytest.raises(StoreError, match="I/O error"):
        await _collect_until(Bus(own), after=0, head=1)
