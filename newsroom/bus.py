"""The broker: fans committed events out to subscribers through bounded asyncio queues.

`subscribe(after=p)` yields every later event exactly once, in position order: first the backlog
read from the store, then live batches from its queue. The publisher never waits: when a
subscriber's queue is full, the bus drops that queue's contents and marks it; the subscriber
then reads what it missed from the store and rejoins live. Positions are dense (store contract),
so a subscriber that sees a gap knows it missed something and reads it from the store too.

With several processes on one log (PostgreSQL), `relay` also publishes what the other processes
append: the store tells it how far the log's head moved, and it reads the events from the store.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Sequence

from newsroom.errors import StoreCorrupted, StoreError
from newsroom.store import EventStore, Recorded, SharedEventStore

log = logging.getLogger(__name__)

PAGE_SIZE = 5_000  # events per store read while catching up (the views' replay at start)
READ_RETRY = 0.5  # seconds between reads of a shared log while its database is unreachable


class _Subscriber:
    """One subscriber's live queue, and whether the bus had to drop events from it."""

    __slots__ = ("overflowed", "queue")

    def __init__(self, size: int) -> None:
        self.queue: asyncio.Queue[Sequence[Recorded]] = asyncio.Queue(maxsize=size)
        self.overflowed = False

    def offer(self, batch: Sequence[Recorded]) -> None:
        if self.overflowed:
            return  # it will read these from the store
        try:
            self.queue.put_nowait(batch)
        except asyncio.QueueFull:
            self.overflowed = True
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(())  # wakes a subscriber waiting on an empty queue


class Bus:
    """In-process fan-out of committed events; one bounded queue per subscriber."""

    def __init__(self, store: EventStore, queue_size: int = 256) -> None:
        self._store = store
        self._queue_size = queue_size
        self._subscribers: set[_Subscriber] = set()
        self.published = 0
        """The highest position offered to subscribers so far."""

    def publish(self, records: Sequence[Recorded]) -> None:
        """Offer committed events (in position order) to every subscriber; never waits."""
        if records:
            self.published = max(self.published, records[-1].position)
            for subscriber in self._subscribers:
                subscriber.offer(records)

    async def relay(self, heads: AsyncIterator[int], after: int) -> None:
        """Publish the events other processes append, from position `after` on: each time
        `heads` says the log's head moved past what was published, read the rest from the store.

        Events this process appended itself are usually published already (by the command
        handler); one published twice, or out of order, costs a subscriber nothing (it skips
        what it has, and reads a gap from the store)."""
        self.published = max(self.published, after)
        async for head in heads:
            while self.published < head:
                page = await self._read(after=self.published, limit=PAGE_SIZE)
                if not page:
                    break
                self.publish(page)

    async def _read(self, after: int, limit: int) -> list[Recorded]:
        """A page of the log. On a log other processes share, its database may restart or
        drop a connection: such a failure is waited out (the events wait there), so a view or
        a subscriber catching up resumes once the database is back instead of stopping for
        good. Damage (`StoreCorrupted`), and any failure of a log of one's own, is raised."""
        failing = False
        while True:
            try:
                return await self._store.read_all(after=after, limit=limit)
            except StoreCorrupted:
                raise
            except StoreError as e:
                if not isinstance(self._store, SharedEventStore):
                    raise
                if not failing:
                    log.warning("cannot read the log; retrying until the database is back: %s", e)
                failing = True
                await asyncio.sleep(READ_RETRY)

    async def subscribe(
        self, after: int = 0, page_size: int = PAGE_SIZE
    ) -> AsyncGenerator[Sequence[Recorded], None]:
        """Yield batches of every event with position > `after`, in order, forever; backlog
        read from the store comes in pages of at most `page_size` events."""
        subscriber = _Subscriber(self._queue_size)
        self._subscribers.add(subscriber)  # before reading the store, so nothing falls between
        last = after
        try:
            while True:
                subscriber.overflowed = False
                while page := await self._read(after=last, limit=page_size):
                    last = page[-1].position
                    yield page
                async for batch in self._live(subscriber, last):
                    last = batch[-1].position
                    yield batch
        finally:
            self._subscribers.discard(subscriber)

    @staticmethod
    async def _live(subscriber: _Subscriber, last: int) -> AsyncIterator[Sequence[Recorded]]:
        """Yield queued batches until the subscriber must go back to the store."""
        while True:
            batch = await subscriber.queue.get()
            if subscriber.overflowed:
                return
            fresh = [r for r in batch if r.position > last]  # already read from the store
            if not fresh:
                continue
            if fresh[0].position != last + 1:
                return  # a gap: something was published out of order or missed
            yield fresh
            last = fresh[-1].position
