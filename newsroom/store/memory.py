"""The in-memory event store: every promise of `store/base.py` kept in a list and two dicts.

For tests and examples, where a file adds nothing. It is not durable: the log ends with the
object. Events still go through the JSON codec of `events.py` both ways (encoded on append,
decoded on every read), so an event the SQLite store would refuse is refused here too, and a
type this newsroom does not know reads back as `UnknownEvent`, as it would from a file.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from types import MappingProxyType
from uuid import uuid4

import orjson

from newsroom.errors import CodecError, ConcurrencyError, IdempotencyKeyReused, StoreError
from newsroom.events import Event, UnknownEvent, codec
from newsroom.store.base import Anchor, AppendResult, Recorded, append_metadata


@dataclass(frozen=True, slots=True)
class _Row:
    """One event as this store keeps it: the envelope, and the event in its stored form."""

    position: int
    stream: str
    version: int
    event_id: str
    type_name: str
    schema_version: int
    data: bytes
    metadata: Mapping[str, str]
    recorded_at: datetime


async def _io() -> None:
    """Let other coroutines run once, as a real store's I/O would.

    So code under test meets the interleavings it meets in production: between awaiting a
    read and awaiting an append, other commands get their turn.
    """
    await asyncio.sleep(0)


class InMemoryEventStore:
    """An `EventStore` in memory, for one event loop; it forgets everything when dropped.

    Appends are atomic without a lock: from checking the expected version to writing the last
    event, `append` never awaits, so no other coroutine on the loop can run in between.
    """

    def __init__(self) -> None:
        self._log: list[_Row] = []  # position p is at index p - 1: positions are dense
        self._streams: dict[str, list[int]] = {}  # stream -> its positions, in version order
        self._keys: dict[str, tuple[str, AppendResult]] = {}  # key -> (fingerprint, result)
        self._closed = False
        self.on_commit: Callable[[int], None] | None = None

    @property
    def location(self) -> str:
        return "memory"

    @property
    def alive(self) -> bool:
        return not self._closed

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
        meta = append_metadata(events, expected_version, metadata, idempotency_key)
        encoded = [codec.encode(e) for e in events]
        stored_meta = MappingProxyType(orjson.loads(orjson.dumps(meta)))  # a copy, as JSON
        self._check_open()
        await _io()  # the last await: from here to the return no other coroutine runs
        if idempotency_key is not None and (earlier := self._keys.get(idempotency_key)):
            return _replay(idempotency_key, fingerprint, *earlier)
        current = len(self._streams.get(stream, ()))
        if current != expected_version:
            raise ConcurrencyError(
                f"{stream} is at version {current}, not at the expected version "
                f"{expected_version}; reload it and try again"
            )
        result = self._write(stream, events, encoded, stored_meta)
        if self.on_commit is not None:
            self.on_commit(len(events))
        if idempotency_key is not None:
            self._keys[idempotency_key] = (fingerprint, replace(result, records=(), replayed=True))
        return result

    async def read_stream(self, stream: str) -> list[Recorded]:
        self._check_open()
        await _io()
        return [self._decode(self._log[p - 1]) for p in self._streams.get(stream, ())]

    async def read_all(self, after: int, limit: int) -> list[Recorded]:
        self._check_open()
        await _io()
        start = max(after, 0)
        return [self._decode(row) for row in self._log[start : start + max(limit, 0)]]

    async def head(self) -> int:
        return len(self._log)  # like SQLite's, answered without waiting and also once closed

    async def find_idempotent(self, key: str) -> tuple[str, AppendResult] | None:
        self._check_open()
        await _io()
        return self._keys.get(key)

    async def anchor(self, position: int) -> Anchor | None:
        self._check_open()
        await _io()
        if not 1 <= position <= len(self._log):
            return None
        row = self._log[position - 1]
        return Anchor(self._log[0].event_id, zlib.crc32(repr(row).encode()))

    async def max_stream_number(self, prefix: str) -> int:
        self._check_open()
        await _io()
        suffixes = (s[len(prefix) :] for s in self._streams if s.startswith(prefix))
        return max((int(n) for n in suffixes if n.isascii() and n.isdigit()), default=0)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True  # from here on every call is refused
        # Appends accepted before now are waiting in `_io`; the loop resumes them in order,
        # before this coroutine, so they have landed when `close` returns (as with SQLite).
        await _io()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"{self.location}: the event store is closed")

    def _write(
        self,
        stream: str,
        events: Sequence[Event],
        encoded: list[tuple[str, int, bytes]],
        metadata: Mapping[str, str],
    ) -> AppendResult:
        """Add the events at the end of the log and of their stream; one time for them all."""
        now, head, current = datetime.now(UTC), len(self._log), len(self._streams.get(stream, ()))
        positions = self._streams.setdefault(stream, [])
        records = []
        for i, (event, (type_name, schema, data)) in enumerate(zip(events, encoded, strict=True)):
            position, version, event_id = head + 1 + i, current + 1 + i, str(uuid4())
            self._log.append(
                _Row(position, stream, version, event_id, type_name, schema, data, metadata, now)
            )
            positions.append(position)
            records.append(Recorded(position, stream, version, event_id, event, now, metadata))
        return AppendResult(stream, current + len(events), head + 1, len(self._log), tuple(records))

    def _decode(self, row: _Row) -> Recorded:
        try:
            event: Event | UnknownEvent = codec.decode(row.type_name, row.schema_version, row.data)
        except CodecError as e:
            raise CodecError(f"{self.location}: the event at position {row.position}: {e}") from e
        return Recorded(
            row.position, row.stream, row.version, row.event_id, event, row.recorded_at,
            row.metadata,
        )  # fmt: skip


def _replay(key: str, fingerprint: str, stored: str, first: AppendResult) -> AppendResult:
    """A repeated key: the first append's result if the command is the same, else an error."""
    if stored != fingerprint:
        raise IdempotencyKeyReused(
            f"idempotency key {key!r} was already used for a different command"
        )
    return first
