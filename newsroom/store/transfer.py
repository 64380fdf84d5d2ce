"""Moving a log between stores (`newsroom export` / `import`): the rows an adapter reads and
writes, and the two Protocols an adapter implements to take part.

Rows travel as they are stored, column for column: data and metadata as their exact JSON bytes,
the time as its exact text. So every row's checksum (`rows.py`) still holds in the other store,
and nothing is decoded on the way. The adapters only move rows; `newsroom/transfer/` checks
every row it moves (`log_checks.py`) and turns them into the export file's lines and back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import NamedTuple, Protocol

from newsroom.store.integrity import Problem

PAGE = 10_000  # rows read or written at a time: memory stays flat however long the log


class EventRow(NamedTuple):
    """One row of the `events` table, as stored; the order is that of `rows.COLUMNS`."""

    position: int
    stream: str
    version: int
    event_id: str
    type: str
    schema_version: int
    data: bytes  # JSON
    metadata: bytes  # JSON
    recorded_at: str  # ISO 8601, as checksummed
    checksum: int


class KeyRow(NamedTuple):
    """One idempotency record: the append a key made first, which a repeat of it answers with."""

    key: str
    fingerprint: str
    stream: str
    version: int
    first_position: int
    last_position: int


class Contents(NamedTuple):
    """How much a log holds: its events (its head, as positions are dense) and its
    idempotency records."""

    events: int
    keys: int


class LogSource(Protocol):
    """A log to export, read in one consistent snapshot (a server may append meanwhile)."""

    @property
    def location(self) -> str:
        """Where the log lives, for messages (never a password)."""
        ...

    async def contents(self) -> Contents:
        """How many events and idempotency records the snapshot holds."""
        ...

    def events(self) -> AsyncIterator[Sequence[EventRow]]:
        """Every event, in pages, in position order."""
        ...

    def keys(self) -> AsyncIterator[Sequence[KeyRow]]:
        """Every idempotency record, in pages, by first position."""
        ...


class LogTarget(Protocol):
    """An empty store being filled by an import: nothing added shows until `commit`, and
    leaving without it leaves the store as it was."""

    @property
    def location(self) -> str:
        """Where the log will live, for messages (never a password)."""
        ...

    async def add_events(self, rows: Sequence[EventRow]) -> None:
        """Add events (already checked), in position order."""
        ...

    async def add_keys(self, rows: Sequence[KeyRow]) -> None:
        """Add idempotency records."""
        ...

    async def key_problem(self) -> Problem | None:
        """The first idempotency record added that does not name the events added at its
        positions (a repeat of its key would answer with the wrong ones), if any."""
        ...

    async def commit(self, streams: Mapping[str, int]) -> None:
        """Make all that was added the log, at once, with `streams` (each stream's last
        version) as what appends check `expected_version` against."""
        ...
