"""The command handler, the write side's one door: load the stream, decide, append, publish.

It never reads a projection. It picks ids for new articles, retries a bounded number of times when
another writer got to the stream first (unless the caller named the version it expects), and
makes an idempotency key return the first result instead of acting twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime

from newsroom import validation
from newsroom.articles import Command, CreateDraft, decide, fold
from newsroom.bus import Bus
from newsroom.errors import (
    AlreadyExists,
    CodecError,
    ConcurrencyError,
    IdempotencyKeyReused,
    StoreError,
    ValidationError,
)
from newsroom.events import Event, UnknownEvent
from newsroom.store import AppendResult, EventStore, SharedEventStore

log = logging.getLogger(__name__)
STREAM_PREFIX = "article-"
IDEMPOTENCY_KEY_MAX = 200  # characters
ID_BLOCK = 32  # server-assigned ids claimed at a time from a shared store (one round trip each)
MAX_ATTEMPTS = 5  # tries when the caller gave no expected version and writers keep colliding


class WriteFault:
    """The store's last failed append, until one succeeds: for `/healthz` and the log.

    A full disk fails every write; so the log gets the first failure and then at most one line
    every `LOG_EVERY` seconds with how many failed meanwhile, rather than one line per request."""

    LOG_EVERY = 10.0  # seconds

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.count = 0
        """Appends that failed since start (for metrics)."""
        self.since: float | None = None
        """When appends began to fail (monotonic seconds), or None while they succeed."""
        self._clock = clock
        self._logged_at = -math.inf
        self._unlogged = 0

    def failed(self, error: StoreError) -> None:
        self.count += 1
        now = self._clock()
        if self.since is None:
            self.since = now
        if now - self._logged_at < self.LOG_EVERY:
            self._unlogged += 1
            return
        more = f" ({self._unlogged} more failed since the last line)" if self._unlogged else ""
        log.error("an append failed: %s%s", error, more)
        self._logged_at, self._unlogged = now, 0

    def cleared(self) -> None:
        if self.since is not None:
            log.warning("appends succeed again")
            self.since = None


def stream_for(article_id: int) -> str:
    """The name of the log stream that holds one article's events."""
    return f"{STREAM_PREFIX}{article_id}"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a handled command wrote: the article, its new version, and the last log position."""

    article_id: int
    version: int
    position: int
    event_names: tuple[str, ...]
    replayed: bool = False


class CommandHandler:
    """Handles article commands against an event store, publishing what it appends to the bus."""

    def __init__(
        self,
        store: EventStore,
        bus: Bus,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._bus = bus
        self._clock = clock
        self._last_id = 0  # highest article id seen; refreshed from the store when needed
        self._claimed_next, self._claimed_last = 1, 0  # ids the shared store gave this process
        self.write_fault = WriteFault()
        self.on_append: Callable[[float], None] | None = None
        """Told how long each append took, from submitting it to its durable commit (metrics)."""
        """Whether the last append failed, for health reports; logged, at most every 10 s."""

    async def handle(
        self,
        command: Command,
        *,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> Outcome:
        """Decide and durably record `command`; raise a `NewsroomError` saying why not."""
        fingerprint = ""  # only a keyed command needs one, to tell a retry from a reuse
        if idempotency_key is not None:
            fingerprint = _fingerprint(command, expected_version)
            validation.text("idempotency_key", idempotency_key, limit=IDEMPOTENCY_KEY_MAX)
            earlier = await self._store.find_idempotent(idempotency_key)
            if earlier is not None:
                return await self._replayed(idempotency_key, fingerprint, *earlier)
        assign_id = isinstance(command, CreateDraft) and command.article_id is None
        for attempt in range(1, MAX_ATTEMPTS + 1):
            if assign_id:
                command = replace(command, article_id=await self._next_id(refresh=attempt > 1))
            try:
                outcome = await self._attempt(
                    command, expected_version, idempotency_key, fingerprint
                )
                if isinstance(command, CreateDraft):
                    self._last_id = max(self._last_id, outcome.article_id)
                return outcome
            except ConcurrencyError:
                if isinstance(command, CreateDraft) and not assign_id:
                    raise AlreadyExists(f"article {command.article_id} already exists") from None
                if expected_version is not None or attempt == MAX_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _attempt(
        self, command: Command, expected: int | None, key: str | None, fingerprint: str
    ) -> Outcome:
        stream = stream_for(command.article_id or 0)
        # A create has no past to load: if the stream exists after all, the append at
        # version 0 fails with a conflict, which handle() reports or retries.
        history = [] if isinstance(command, CreateDraft) else await self._store.read_stream(stream)
        state = fold(_domain_events(stream, [r.event for r in history]))
        events = decide(state, command, now=self._clock())
        version = len(history) if expected is None else expected
        # Shielded: once the append is submitted, its events get published even if the caller
        # is cancelled meanwhile (a client that hangs up must not leave a silent gap).
        result = await asyncio.shield(
            self._append_and_publish(
                stream, events, version, key, fingerprint, type(command).__name__
            )
        )
        if result.replayed:
            return await self._replayed(key or "", fingerprint, fingerprint, result)
        names = tuple(e.type_name for e in events)
        return Outcome(command.article_id or 0, result.version, result.last_position, names)

    async def _append_and_publish(
        self,
        stream: str,
        events: list[Event],
        version: int,
        key: str | None,
        fingerprint: str,
        command: str,
    ) -> AppendResult:
        started = time.monotonic()
        try:
            result = await self._store.append(
                stream, events, version, idempotency_key=key, fingerprint=fingerprint,
                metadata={"command": command},
            )  # fmt: skip
        except StoreError as e:
            self.write_fault.failed(e)
            raise
        self.write_fault.cleared()
        if self.on_append is not None:
            self.on_append(time.monotonic() - started)
        self._bus.publish(result.records)
        return result

    async def _replayed(
        self, key: str, fingerprint: str, stored: str, result: AppendResult
    ) -> Outcome:
        """The first outcome of a repeated idempotency key, with the events it wrote then."""
        if stored != fingerprint:
            raise IdempotencyKeyReused(
                f"idempotency key {key!r} was already used for a different command"
            )
        count = result.last_position - result.first_position + 1
        written = await self._store.read_all(after=result.first_position - 1, limit=count)
        article_id = int(result.stream.removeprefix(STREAM_PREFIX))
        names = tuple(r.type for r in written)
        return Outcome(article_id, result.version, result.last_position, names, replayed=True)

    async def _next_id(self, refresh: bool) -> int:
        """The next free article id; asks the store when unsure (at first, or after a clash).
        On a log other processes write too, the store hands out the ids, ID_BLOCK at a time to
        each process (so ids interleave across processes, and a stopped process leaves a few
        unused)."""
        if isinstance(self._store, SharedEventStore):
            if refresh or self._claimed_next > self._claimed_last:
                first = await self._store.claim_numbers(STREAM_PREFIX, ID_BLOCK)
                self._claimed_next, self._claimed_last = first, first + ID_BLOCK - 1
            claimed = self._claimed_next
            self._claimed_next += 1
        else:
            if refresh or self._last_id == 0:
                # read after the await: other commands may have taken ids meanwhile
                highest = await self._store.max_stream_number(STREAM_PREFIX)
                self._last_id = max(self._last_id, highest)
            claimed = self._last_id + 1
        if claimed > validation.ID_MAX:
            raise ValidationError(f"no free article ids above {validation.ID_MAX}; give an id")
        self._last_id = claimed
        return claimed


def _fingerprint(command: Command, expected_version: int | None) -> str:
    values = tuple(getattr(command, field.name) for field in fields(command))  # no deep copy
    text = repr((type(command).__name__, values, expected_version))
    return hashlib.sha256(text.encode()).hexdigest()


def _domain_events(stream: str, events: list[Event | UnknownEvent]) -> list[Event]:
    for event in events:
        if isinstance(event, UnknownEvent):
            raise CodecError(
                f"{stream} holds a {event.type_name} event, which this newsroom does not know; "
                "upgrade newsroom before changing this article"
            )
    return events  # type: ignore[return-value]
