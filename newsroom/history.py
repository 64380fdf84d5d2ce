"""The log as readers see it, read-only: pages of the log, an article's history and its past
versions, and following the log live (GraphQL `events`, `history`, time travel, subscriptions).

The read side's one door to the store and the bus, as the command handler is the write side's:
resolvers ask here, and never hold the store itself. Reading the log is work anyone may ask
for, so it is bounded here: at most a few reads and a few replays run at once (`Gate`s; the
rest are told to retry), and a follower replaying the log holds one small page at a time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TypeAlias

from newsroom.articles import ArticleState, fold
from newsroom.bus import Bus
from newsroom.commands import stream_for
from newsroom.errors import ValidationError
from newsroom.events import Event, UnknownEvent
from newsroom.gates import Gate, Pace
from newsroom.store import EventStore, Recorded

REPLAY_PAGE = 100  # events a follower replaying the log holds at a time

Entry: TypeAlias = Recorded
"""One event as the log holds it, with its envelope (position, stream, version, time)."""


class History:
    """Reads the log for readers; follows it through the bus."""

    def __init__(self, store: EventStore, bus: Bus, reads: Gate, replays: Gate, pace: Pace) -> None:
        self._store = store
        self._bus = bus
        self.reads = reads
        """Turns for reading pages and streams of the log (`events`, `history`, time travel)."""
        self.replays = replays
        """Turns for followers that start behind the head and replay the log to catch up."""
        self.pace = pace
        """How fast replays may go, all of them together (events a second)."""

    async def head(self) -> int:
        """The position of the newest event in the log."""
        return await self._store.head()

    async def events(self, after: int, count: int, stream: str | None = None) -> list[Entry]:
        """Up to `count` events after position `after`, oldest first; of one stream if given."""
        async with self.reads.turn():
            if stream is None:
                return await self._store.read_all(after=after, limit=count)
            entries = await self._store.read_stream(stream)
        return [r for r in entries if r.position > after][:count]

    async def of_article(self, article_id: int) -> list[Entry]:
        """Every event of one article, in version order (empty if there is no such article)."""
        async with self.reads.turn():
            return await self._store.read_stream(stream_for(article_id))

    async def article_at(self, article_id: int, version: int) -> ArticleState | None:
        """The article as it stood at `version`; None if it never had that version."""
        entries = await self.of_article(article_id)
        if not 1 <= version <= len(entries):
            return None
        return fold(_known(entry.event) for entry in entries[:version])

    async def follow(self, after: int) -> AsyncIterator[Sequence[Entry]]:
        """Every event after `after`, in batches, in order: the backlog, then live, forever.

        A follower that starts behind the head holds a replay turn until it has caught up to
        where the head was (`Busy` if no turn comes free), reading REPLAY_PAGE events at a time,
        at the pace all replays share.
        """
        head = await self._store.head()
        replaying = after < head
        if replaying:
            await self.replays.acquire()
        batches = self._bus.subscribe(after=after, page_size=REPLAY_PAGE)
        try:
            async for batch in batches:
                if not replaying:
                    yield batch
                    continue
                for i, entry in enumerate(batch):  # one at a time, when the shared pace allows
                    await self.pace.take(1)
                    if entry.position >= head:  # caught up: the rest comes as it is written
                        replaying = False
                        self.replays.release()
                        yield batch[i:]
                        break
                    yield (entry,)
        finally:
            if replaying:
                self.replays.release()
            await batches.aclose()


def _known(event: Event | UnknownEvent) -> Event:
    if isinstance(event, UnknownEvent):
        raise ValidationError(f"this newsroom cannot read {event.type_name} events; upgrade it")
    return event
