"""The event store port: the `EventStore` Protocol every adapter implements, and its envelope types.

Contract, shared by every adapter and proven by one test suite (tests/store/test_contract.py):
- `append` is atomic; the stream must be at `expected_version` (0: must not exist yet), else
  `ConcurrencyError`. It returns only after the events are durable.
- positions are global, dense (1, 2, 3, ... with no gaps) and in commit order; a reader of
  `read_all(after=p)` never misses an event that commits later.
- an idempotency key is stored with its append: repeating it with the same fingerprint returns
  the first result and appends nothing (also after a restart); with another fingerprint it is
  `IdempotencyKeyReused`.
- adapters raise only newsroom errors (`StoreError`, `StoreCorrupted`, ...), never driver types.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import NamedTuple, Protocol, runtime_checkable

from newsroom.events import Event, UnknownEvent


class Recorded(NamedTuple):
    """One event as the log holds it: the event plus its envelope.

    A NamedTuple rather than a frozen dataclass: just as immutable, and four times cheaper to
    build, which matters when a replay builds a million of them (docs/benchmarks.md).
    """

    position: int
    stream: str
    version: int
    event_id: str
    event: Event | UnknownEvent
    recorded_at: datetime
    metadata: Mapping[str, str] = MappingProxyType({})

    @property
    def type(self) -> str:
        """The stored type name of the event."""
        return self.event.type_name


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What an append wrote: the stream's new version and the positions its events took."""

    stream: str
    version: int
    first_position: int
    last_position: int
    records: tuple[Recorded, ...] = ()
    replayed: bool = False
    """True when an idempotency key matched an earlier append and nothing new was written."""


class Anchor(NamedTuple):
    """What pins a copy of the views to one log: the log's identity and one event's checksum."""

    log: str
    """The id of the log's first event: random, made when the log got its first event, so
    another log (a new file, a re-import, a restored copy of another site) has another."""
    checksum: int
    """The stored checksum of the event at the anchored position."""


def append_metadata(
    events: Sequence[Event],
    expected_version: int,
    metadata: Mapping[str, str] | None,
    idempotency_key: str | None,
) -> dict[str, str]:
    """Check an append's arguments as every adapter must (ValueError), and return the metadata
    the log keeps with its events: a copy of the caller's, with the idempotency key added."""
    if not events:
        raise ValueError("append needs at least one event")
    if expected_version < 0:
        raise ValueError(f"expected_version must be 0 or more, got {expected_version}")
    meta = dict(metadata or {})
    if idempotency_key is not None:
        meta["idempotency_key"] = idempotency_key
    return meta


class EventStore(Protocol):
    """A durable, append-only log of events grouped in streams."""

    on_commit: Callable[[int], None] | None
    """Told the number of events of each transaction the store commits (group commit: many
    appends share one), for metrics; it may be called from the store's own thread."""

    @property
    def location(self) -> str:
        """Where the log lives, for messages (a file path or a server, never a password)."""
        ...

    @property
    def alive(self) -> bool:
        """False once the store can no longer serve (closed, or its connection lost)."""
        ...

    async def append(
        self,
        stream: str,
        events: Sequence[Event],
        expected_version: int,
        *,
        idempotency_key: str | None = None,
        fingerprint: str = "",
        metadata: Mapping[str, str] | None = None,
    ) -> AppendResult:
        """Append `events` to `stream` at `expected_version`, atomically and durably."""
        ...

    async def read_stream(self, stream: str) -> list[Recorded]:
        """Return every event of `stream` in version order (empty if it does not exist)."""
        ...

    async def read_all(self, after: int, limit: int) -> list[Recorded]:
        """Return up to `limit` events with position > `after`, in position order."""
        ...

    async def head(self) -> int:
        """Return the position of the last committed event (0 for an empty log)."""
        ...

    async def find_idempotent(self, key: str) -> tuple[str, AppendResult] | None:
        """Return (fingerprint, first result) stored for an idempotency key, if any."""
        ...

    async def anchor(self, position: int) -> Anchor | None:
        """Return the log's identity and the checksum of the event at `position` (verified
        against the event), or None if the log has no event there."""
        ...

    async def max_stream_number(self, prefix: str) -> int:
        """Return the highest N among streams named `{prefix}N` (0 if there are none)."""
        ...

    async def close(self) -> None:
        """Finish every append already submitted, then release the log."""
        ...


@runtime_checkable
class SharedEventStore(EventStore, Protocol):
    """A log that other processes append to as well (PostgreSQL): it says when the head moved,
    so each process's bus can publish what the others wrote (`Bus.relay`), and it hands out
    the numbers of new streams (server-assigned article ids) without collisions."""

    @property
    def connected(self) -> bool:
        """False while the database cannot be reached (the store reconnects by itself)."""
        ...

    @property
    def reconnects(self) -> int:
        """How many times the connection to the database came back after it was lost."""
        ...

    def heads(self) -> AsyncIterator[int]:
        """Yield the log's head each time this process learns that it moved."""
        ...

    async def claim_numbers(self, prefix: str, count: int) -> int:
        """The first of `count` consecutive numbers N for new streams `{prefix}N` that no process
        was given before, above every existing stream's: processes picking ids on their own
        would keep colliding."""
        ...
