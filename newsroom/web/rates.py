"""Request rate per client address: a token bucket each; past it, 429 with `Retry-After`.

Each client address (its key from addresses.py; loopback has none unless asked) has a bucket of
`burst` tokens that refills at `rate` tokens a second. A request takes a token; one that finds
none is refused, told how many seconds until there is one again.

The buckets are kept in a table bounded in memory, least recently used first. A bucket idle long
enough to be full again is the same as no bucket, so it is dropped as soon as it reaches the front;
when `max_clients` addresses are busy at once, the least recently used one is dropped, and that
client starts again with a full bucket: memory stays bounded, and a client gains at most one burst.

A refusal is not sent at once: it is held for the `Retry-After` it carries (`hold`). A client that
honours `Retry-After` loses nothing by that; one that ignores it and asks again at once (a flood)
gets one answer per connection per second instead of thousands, so refusing it costs the server a
timer, not the CPU that every other client needs. At most `max_held` refusals are held at once
(a client that hangs up at once leaves its refusal held without a connection); past that they
are sent at once.

A WebSocket's messages draw on the same bucket as its address's requests, but are paced rather
than refused (`pace`): past the rate, the next message is read only once a token is there. A
client in a loop of `ping`s gets its `pong`s at the rate, and costs the server no more.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from newsroom.web.addresses import client_key

MAX_CLIENTS = 10_000  # buckets kept at most: about 3 MB with the key cache (addresses.py)
MAX_HELD = 1_000  # refusals held at once at most (about 5 KB each); past it, they are sent at once
DROPS_PER_REQUEST = 2  # idle buckets dropped per request: the table shrinks faster than it grows


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float  # when `tokens` was last brought up to date, by the rate's clock


class RequestRate:
    """Token buckets per client address: `rate` requests a second on average, `burst` at once.

    A `rate` of 0 turns the limit off."""

    def __init__(
        self,
        rate: int,
        burst: int,
        limit_loopback: bool = False,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = MAX_CLIENTS,
        hold_refusals: bool = True,
        max_held: int = MAX_HELD,
    ) -> None:
        self.rate, self.burst, self.limit_loopback = rate, burst, limit_loopback
        self.max_clients = max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self.hold_refusals, self.max_held = hold_refusals, max_held
        self.holding = 0  # refusals being held now
        self.refused = 0  # requests refused so far (for tests, and metrics later)
        self.paced = 0  # times a message waited for its token (`pace`)

    @staticmethod
    def retry_after(wait: float) -> int:
        """The whole seconds a refused client is told to wait (`Retry-After`), for `wait`."""
        return math.ceil(wait)

    def hold(self, wait: float) -> float:
        """Seconds to hold a refusal before sending it: its `Retry-After`; 0 if refusals are not
        held, or `max_held` are held already."""
        if not self.hold_refusals or self.holding >= self.max_held:
            return 0.0
        return self.retry_after(wait)

    async def held_back(self, wait: float) -> None:
        """Hold a refusal for `hold(wait)` seconds. A client that closes each connection right
        after its request leaves its refusal held without a connection (aiohttp lets the handler
        finish), so the connection limits do not bound these: `max_held` does."""
        if seconds := self.hold(wait):
            self.holding += 1
            try:
                await asyncio.sleep(seconds)
            finally:
                self.holding -= 1

    def __len__(self) -> int:
        """How many buckets the table holds."""
        return len(self._buckets)

    def wait(self, host: str | None) -> float:
        """Take a token for a request from `host`: 0.0 if it may go ahead, else the seconds until
        it may."""
        if wait := self._take(host):
            self.refused += 1
        return wait

    async def pace(self, host: str | None) -> None:
        """Take a token for a message from `host`, and wait until it is there if it is not yet:
        the token is owed (the bucket goes below zero), so messages waiting on one address's
        connections go first come, first served, and a request from it is refused (429) until
        they are paid for."""
        if wait := self._take(host, owe=True):
            self.paced += 1
            await asyncio.sleep(wait)

    def _take(self, host: str | None, owe: bool = False) -> float:
        """A token from `host`'s bucket: 0.0 if it had one, else the seconds until it will
        (taken all the same if `owe`)."""
        if not self.rate:
            return 0.0
        key = client_key(host, self.limit_loopback)
        if key is None:
            return 0.0
        now = self._clock()
        bucket = self._bucket(key, now)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        wait = (1 - bucket.tokens) / self.rate
        if owe:
            bucket.tokens -= 1
        return wait

    def _bucket(self, key: str, now: float) -> _Bucket:
        """`key`'s bucket, refilled up to `now` and moved to the back of the table."""
        self._drop_idle(now)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(self.burst, now)
            if len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
            return bucket
        self._buckets.move_to_end(key)
        elapsed = max(0.0, now - bucket.updated)
        bucket.tokens = min(self.burst, bucket.tokens + elapsed * self.rate)
        bucket.updated = now
        return bucket

    def _drop_idle(self, now: float) -> None:
        """Drop buckets at the front that have refilled completely (they are the oldest used;
        one that owes tokens, `pace`, takes longer)."""
        for _ in range(DROPS_PER_REQUEST):
            oldest = next(iter(self._buckets.values()), None)
            if oldest is None or oldest.tokens + (now - oldest.updated) * self.rate < self.burst:
                return
            self._buckets.popitem(last=False)
