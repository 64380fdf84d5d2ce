"""Request rate per client address: token buckets on an injected clock, a bounded table, and a JSON 429."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient, TestServer

from newsroom.config import Settings
from newsroom.web.app import create_app
from newsroom.web.http import REQUEST_RATE
from newsroom.web.rates import RequestRate
from tests.factories import FakeClock, Monotonic

Client = TestClient[web.Request, web.Application]
ALICE, BOB = "203.0.113.1", "203.0.113.2"


def test_a_burst_passes_then_requests_wait_for_the_rate() -> None:
    """`burst` requests go at once; the next is told to wait 1/rate s, and goes once that passed."""
    clock = Monotonic()
    rate = RequestRate(rate=4, burst=3, clock=clock)
    assert [rate.wait(ALICE) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert rate.wait(ALICE) == pytest.approx(0.25)
    clock.now += 0.25
    assert rate.wait(ALICE) == 0.0
    assert rate.wait(ALICE) == pytest.approx(0.25)


def test_each_address_has_its_own_bucket_and_an_ipv6_64_shares_one() -> None:
    """One client's burst leaves another's untouched; addresses in one IPv6 /64 are one client."""
    rate = RequestRate(rate=1, burst=1, clock=Monotonic())
    assert (rate.wait(ALICE), rate.wait(BOB)) == (0.0, 0.0)
    assert rate.wait(ALICE) > 0
    assert rate.wait("2001:db8::1") == 0.0
    assert rate.wait("2001:db8::2") > 0


def test_loopback_is_not_limited_unless_asked() -> None:
    """By default loopback clients (a reverse proxy) pass however fast; with limit_loopback they count."""
    free = RequestRate(rate=1, burst=1, clock=Monotonic())
    assert all(free.wait("127.0.0.1") == 0.0 for _ in range(100))
    assert len(free) == 0
    limited = RequestRate(rate=1, burst=1, limit_loopback=True, clock=Monotonic())
    assert (limited.wait("127.0.0.1"), limited.wait("::1")) == (0.0, 0.0)
    assert limited.wait("127.0.0.1") > 0


def test_a_rate_of_zero_is_no_limit() -> None:
    """With rate 0 every request goes ahead and no bucket is kept."""
    rate = RequestRate(rate=0, burst=1, clock=Monotonic())
    assert all(rate.wait(ALICE) == 0.0 for _ in range(100))
    assert len(rate) == 0


def test_the_table_never_holds_more_than_max_clients() -> None:
    """However many addresses ask within one instant, at most max_clients buckets are kept."""
    rate = RequestRate(rate=1, burst=5, clock=Monotonic(), max_clients=100)
    for n in range(10_000):
        assert rate.wait(f"10.{n // 65536}.{n // 256 % 256}.{n % 256}") == 0.0
    assert len(rate) == 100


def test_idle_buckets_are_dropped() -> None:
    """A bucket idle long enough to be full again is dropped when later requests come."""
    clock = Monotonic()
    rate = RequestRate(rate=10, burst=20, clock=clock)
    rate.wait(ALICE)
    rate.wait(BOB)
    clock.now += 2.0  # 20 tokens at 10 a second: both buckets are full again
    rate.wait("203.0.113.3")
    assert len(rate) == 1


def test_a_dropped_client_gets_no_more_than_a_fresh_burst() -> None:
    """Evicted from a full table, a client comes back with one full bucket, not an unlimited rate."""
    rate = RequestRate(rate=1, burst=2, clock=Monotonic(), max_clients=1)
    assert [rate.wait(ALICE) for _ in range(2)] == [0.0, 0.0]
    rate.wait(BOB)  # evicts ALICE's bucket
    assert [rate.wait(ALICE) > 0 for _ in range(3)] == [False, False, True]


@pytest.fixture
async def limited(tmp_path: Path) -> AsyncIterator[Client]:
    """The app with a limit of 1 request a second, bursts of 2, applied to loopback, clock frozen,
    refusals sent at once (holding them is tested on its own)."""
    settings = Settings(
        store=f"sqlite:///{tmp_path}/db", rate_limit=1, rate_burst=2, limit_loopback=True
    )
    app = create_app(settings, clock=FakeClock())
    app[REQUEST_RATE] = RequestRate(
        1, 2, limit_loopback=True, clock=Monotonic(), hold_refusals=False
    )
    async with TestClient(TestServer(app)) as client:
        yield client


async def test_a_client_past_its_rate_gets_a_json_429_with_retry_after(limited: Client) -> None:
    """The request past the burst is a 429 naming the limit, with Retry-After, on any route."""
    assert [(await limited.get("/healthz")).status for _ in range(2)] == [200, 200]
    for path in ("/healthz", "/feed", "/graphql", "/wp-login.php", "/a/b/c/d"):  # unmatched too
        response = await limited.get(path)
        assert (response.status, response.headers["Retry-After"]) == (429, "1"), path
        message = (await response.json())["errors"][0]["message"]
        assert "too many requests from your address" in message and "1 a second" in message


async def test_a_refusal_is_held_for_its_retry_after_while_other_clients_are_served(
    tmp_path: Path,
) -> None:
    """A client that asks again at once is answered 429 only after the Retry-After it is given,
    so a flood gets one answer per connection a second; meanwhile the server serves others."""
    settings = Settings(store=f"sqlite:///{tmp_path}/db", rate_limit=1, rate_burst=1)
    app = create_app(settings, clock=FakeClock())
    rate = app[REQUEST_RATE] = RequestRate(1, 1, limit_loopback=True, clock=Monotonic())
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/healthz")).status == 200
        loop = asyncio.get_running_loop()
        asked = loop.time()
        holding, hold = asyncio.Event(), rate.hold

        def hold_and_tell(wait: float) -> float:
            holding.set()
            return hold(wait)

        rate.hold = hold_and_tell  # type: ignore[method-assign]
        refused = asyncio.create_task(client.get("/healthz"))
        await holding.wait()  # the server has taken the request and is holding its refusal
        rate.limit_loopback = False  # "another client": loopback no longer counted
        served = await client.get("/healthz")
        assert served.status == 200 and not refused.done()
        response = await refused
        held = loop.time() - asked
        assert (response.status, response.headers["Retry-After"]) == (429, "1")
        assert held >= 0.99  # asyncio.sleep never wakes before its time; this is a lower bound


async def test_loopback_clients_are_not_rate_limited_by_default(tmp_path: Path) -> None:
    """With the default settings a loopback client (a reverse proxy) is never answered 429."""
    settings = Settings(store=f"sqlite:///{tmp_path}/db", rate_limit=1, rate_burst=1)
    async with TestClient(TestServer(create_app(settings, clock=FakeClock()))) as client:
        assert {(await client.get("/healthz")).status for _ in range(5)} == {200}


async def test_past_max_held_a_refusal_is_sent_at_once() -> None:
    """Refusals are held at most `max_held` at a time (a client that hangs up leaves its
    refusal held without a connection): past that, the next is not held at all."""
    rate = RequestRate(rate=1, burst=1, clock=Monotonic(), max_held=1)
    first = asyncio.create_task(rate.held_back(1.0))
    await asyncio.sleep(0)  # the first is now held
    assert rate.holding == 1 and rate.hold(1.0) == 0.0
    await asyncio.wait_for(rate.held_back(1.0), timeout=0.5)  # not held: returns at once
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    assert rate.holding == 0 and rate.hold(1.0) == 1


async def test_pace_waits_for_each_token_past_the_burst_and_refuses_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A stream of messages goes at once up to the burst, then one per 1/rate s, each waiting
    for its own token (never two messages for one)."""
    clock, waits = Monotonic(), []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.now += seconds

    monkeypatch.setattr(asyncio, "sleep", sleep)
    rate = RequestRate(rate=4, burst=2, clock=clock)
    for _ in range(5):
        await rate.pace(ALICE)
    assert waits == pytest.approx([0.25, 0.25, 0.25])
    assert (rate.paced, rate.refused) == (3, 0)
    await rate.pace(BOB)  # another address has its own bucket
    assert rate.paced == 3


async def test_paced_messages_owe_their_tokens_first_come_first_served(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Messages waiting at once (on several connections of one address) each take a token
    ahead, so each waits one token longer than the one before; a bucket in debt is not taken
    for an idle, full one and dropped before it has refilled."""
    clock, waits = Monotonic(), []

    async def sleep(seconds: float) -> None:  # the clock stands still: they all wait at once
        waits.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    rate = RequestRate(rate=1, burst=1, clock=clock)
    for _ in range(3):
        await rate.pace(ALICE)
    assert waits == [1.0, 2.0]
    assert rate.wait(ALICE) == 3.0  # a request waits behind them
    clock.now += 2.5  # past the time a full bucket takes to refill, not this one's debt
    rate.wait(BOB)  # each request drops what has refilled at the table's front
    assert len(rate) == 2


PACED_RATE, PACED_BURST = 50, 3


@contextlib.asynccontextmanager
async def paced_socket(
    tmp_path: Path, autoping: bool = True
) -> AsyncIterator[tuple[web.Application, Any]]:
    """An app limiting loopback to PACED_RATE requests a second in bursts of PACED_BURST, and a
    WebSocket to it past `connection_ack` (the handshake and the init took two tokens)."""
    settings = Settings(
        store=f"sqlite:///{tmp_path}/db",
        rate_limit=PACED_RATE,
        rate_burst=PACED_BURST,
        limit_loopback=True,
    )
    app = create_app(settings, clock=FakeClock())
    async with TestClient(TestServer(app)) as client:
        ws = await client.ws_connect(
            "/graphql", protocols=("graphql-transport-ws",), autoping=autoping
        )
        await ws.send_json({"type": "connection_init"})
        assert (await ws.receive_json(timeout=5))["type"] == "connection_ack"
        yield app, ws
        await ws.close()


# Ten tokens (the handshake's request, the init, eight messages) from a burst of three: the
# other seven come at the rate. A slow machine only makes the time longer.
PACED_AT_LEAST = (10 - PACED_BURST) / PACED_RATE * 0.99


async def test_websocket_messages_are_paced_at_the_address_rate(tmp_path: Path) -> None:
    """A client's WebSocket messages draw on its address's bucket: past the burst each waits
    for a token before it is read, so a loop of pings is answered at the rate, never refused."""
    began = asyncio.get_running_loop().time()
    async with paced_socket(tmp_path) as (app, ws):
        for _ in range(8):
            await ws.send_json({"type": "ping"})
        assert [(await ws.receive_json(timeout=5))["type"] for _ in range(8)] == ["pong"] * 8
        took = asyncio.get_running_loop().time() - began
    rate = app[REQUEST_RATE]
    assert rate.paced > 0 and rate.refused == 0
    assert took >= PACED_AT_LEAST


async def test_websocket_ping_frames_are_answered_at_the_address_rate(tmp_path: Path) -> None:
    """Ping frames (the WebSocket's own, not the protocol's `ping` message) are answered by the
    session, paced as messages are: aiohttp's own answer to them took no token (a flood of
    them took a core)."""
    began = asyncio.get_running_loop().time()
    async with paced_socket(tmp_path, autoping=False) as (app, ws):
        for n in range(8):
            await ws.ping(str(n).encode())
        answers = [await ws.receive(timeout=5) for _ in range(8)]
        took = asyncio.get_running_loop().time() - began
    assert [(a.type, a.data) for a in answers] == [
        (WSMsgType.PONG, str(n).encode()) for n in range(8)
    ]
    assert app[REQUEST_RATE].paced > 0 and took >= PACED_AT_LEAST
