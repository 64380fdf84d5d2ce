"""GraphQL over WebSocket on /graphql, speaking `graphql-transport-ws` (the graphql-ws protocol).

Spec: https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md. The client sends
`connection_init` within INIT_TIMEOUT and gets `connection_ack`; then `subscribe` messages
start operations (results come as `next`, the end as `complete`, failures as `error`), and
`complete` from the client stops one. `ping` gets `pong`. Protocol violations close the socket
with the spec's 44xx codes; a client that stops reading is closed with 1008 instead of being
buffered for without bound. Queries and mutations are refused here: they go over POST (mutations
with their token). Bounds: `max_websockets` connections, `max_websockets_per_address` of one
client (web/addresses.py; more get 503 before the upgrade), MAX_OPERATIONS operations per
connection and `max_subscriptions` over all of them (more get an `error` message, code BUSY),
and messages at the client address's request rate (web/rates.py: paced, not refused).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import WSMsgType, web
from graphql import GraphQLError, OperationType

from newsroom.errors import Busy, NewsroomError
from newsroom.gates import Gate
from newsroom.logs import current_request_id
from newsroom.web.addresses import client_key
from newsroom.web.graphql import pipeline
from newsroom.web.graphql.pipeline import OPERATIONS, Refused
from newsroom.web.graphql.replies import Reply, formatted
from newsroom.web.http import (
    LONE_SURROGATE,
    REQUEST_ID_HEADER,
    REQUEST_RATE,
    SETTINGS,
    json_error,
    lone_surrogate,
)

log = logging.getLogger(__name__)
PROTOCOL = "graphql-transport-ws"
INIT_TIMEOUT = 3.0  # seconds for the client's connection_init
SEND_TIMEOUT = 5.0  # seconds a message may wait for a client that stopped reading
CLOSE_GRACE = 10.0  # seconds a closed client gets to read what was queued before its close frame
MESSAGE_MAX = 64 * 1024  # bytes per incoming message
MAX_OPERATIONS = 16  # subscriptions running at once on one connection
CLOSE_REASON_MAX = 123  # bytes of a close frame's reason (RFC 6455, section 5.5)
SUBSCRIPTION_ONLY = frozenset((OperationType.SUBSCRIPTION,))  # queries and mutations: by HTTP


class _Close(Exception):
    """Close the socket with a protocol close code and reason."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


SOCKETS: web.AppKey[set[web.WebSocketResponse]] = web.AppKey("open websockets")
SOCKETS_BY_ADDRESS: web.AppKey[Counter[str]] = web.AppKey("open websockets by client address")
SUBSCRIPTIONS = web.AppKey("subscriptions running", Gate)
"""Turns for running subscriptions, over all connections; none waits (wait 0)."""


async def handle_websocket(request: web.Request) -> web.StreamResponse:
    """Serve one WebSocket connection until either side closes it."""
    settings, by_address = request.app[SETTINGS], request.app[SOCKETS_BY_ADDRESS]
    key = client_key(request.remote, settings.limit_loopback)
    if len(request.app[SOCKETS]) >= settings.max_websockets:
        return _refused(
            f"the server has its {settings.max_websockets:,} WebSocket connections open"
        )
    if key is not None and by_address[key] >= settings.max_websockets_per_address:
        return _refused(
            f"this address has {settings.max_websockets_per_address} WebSocket connections open"
        )
    # autoping off: aiohttp would answer the client's ping frames itself, unpaced (a flood of
    # them took a core); the session answers them, each at the client's rate (`on_message`).
    ws = web.WebSocketResponse(protocols=(PROTOCOL,), max_msg_size=MESSAGE_MAX, autoping=False)
    if (rid := current_request_id()) is not None:  # the guard's id, which it cannot add once the
        ws.headers[REQUEST_ID_HEADER] = rid  # handshake's reply is sent, as other replies have
    if key is not None:
        by_address[key] += 1
    try:
        await ws.prepare(request)
        request.app[SOCKETS].add(ws)
        await _serve(ws, request)
    except ConnectionResetError:
        pass  # the client left during the handshake: nothing to tell anyone
    finally:
        request.app[SOCKETS].discard(ws)
        if key is not None:
            by_address[key] -= 1
            if not by_address[key]:
                del by_address[key]
    return ws


def _refused(why: str) -> web.Response:
    return json_error(503, f"{why}; retry later", **{"Retry-After": "5"})


async def close_all(app: web.Application) -> None:
    """On shutdown: tell every client the server is going away (1001), so draining can finish."""
    sockets: set[web.WebSocketResponse] = app[SOCKETS]
    for ws in list(sockets):
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            await asyncio.wait_for(ws.close(code=1001, message=b"Server shutting down"), 1.0)


async def _serve(ws: web.WebSocketResponse, request: web.Request) -> None:
    if ws.ws_protocol != PROTOCOL:
        await ws.close(code=4406, message=b"Subprotocol not acceptable")
        return
    session = _Session(ws, request)
    try:
        await session.run()
    except _Close as close:
        await session.close(close.code, close.reason)
    finally:
        await session.stop_all()


class _Session:
    """One client's connection: its handshake state and running operations by id."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request) -> None:
        self.ws, self.request = ws, request
        self.acknowledged = False
        self.operations: dict[str, asyncio.Task[None]] = {}
        self.send_lock = asyncio.Lock()

    async def run(self) -> None:
        deadline = asyncio.get_running_loop().time() + INIT_TIMEOUT
        while not self.acknowledged:  # the deadline holds whatever else the client sends first
            remaining = deadline - asyncio.get_running_loop().time()
            try:
                message = await asyncio.wait_for(self.ws.receive(), max(remaining, 0))
            except TimeoutError:
                raise _Close(4408, "Connection initialisation timeout") from None
            if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                return
            await self.on_message(message)
        async for message in self.ws:
            await self.on_message(message)

    async def on_message(self, message: Any) -> None:
        if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
            return
        # Each message takes a token of its address's request rate, waiting for one if need
        # be: the next is read only then (rates.py). Ping and pong frames too.
        await self.request.app[REQUEST_RATE].pace(self.request.remote)
        if message.type == WSMsgType.PING:  # a WebSocket ping frame, not the protocol's ping
            await self.pong(message.data)
            return
        if message.type == WSMsgType.PONG:
            return
        if message.type != WSMsgType.TEXT:
            raise _Close(4400, "Messages must be JSON text")
        try:
            data = json.loads(message.data)
            kind = data["type"]
        except (ValueError, TypeError, KeyError, RecursionError):  # nesting: one frame a level
            raise _Close(4400, "Invalid message: expected a JSON object with a type") from None
        if lone_surrogate(data):
            raise _Close(4400, f"Invalid message: {LONE_SURROGATE}")
        await self.dispatch(kind, data)

    async def dispatch(self, kind: str, data: dict[str, Any]) -> None:
        if kind == "connection_init":
            if self.acknowledged:
                raise _Close(4429, "Too many initialisation requests")
            self.acknowledged = True
            await self.send({"type": "connection_ack"})
        elif kind == "ping":
            await self.send(
                {"type": "pong", **({"payload": data["payload"]} if "payload" in data else {})}
            )
        elif kind == "pong":
            pass
        elif kind == "subscribe":
            await self.start(data)
        elif kind == "complete":
            task = self.operations.pop(str(data.get("id")), None)
            if task is not None:
                task.cancel()
                # not required by the protocol, but clients such as gql wait for it
                await self.send({"id": str(data.get("id")), "type": "complete"})
        else:
            raise _Close(4400, f"Unknown message type {kind!r}")

    async def start(self, data: dict[str, Any]) -> None:
        if not self.acknowledged:
            raise _Close(4401, "Unauthorized")
        op_id, payload = data.get("id"), data.get("payload")
        if not isinstance(op_id, str) or not isinstance(payload, dict):
            raise _Close(4400, "Invalid subscribe message: it needs an id and a payload")
        if op_id in self.operations:
            raise _Close(4409, f"Subscriber for {op_id} already exists")
        if len(self.operations) >= MAX_OPERATIONS:
            message = f"at most {MAX_OPERATIONS} operations may run at once on one connection"
            await self.send({"id": op_id, "type": "error", "payload": [{"message": message}]})
            return
        self.operations[op_id] = asyncio.create_task(self.operate(op_id, payload))

    async def operate(self, op_id: str, payload: dict[str, Any]) -> None:
        subscriptions = self.request.app[SUBSCRIPTIONS]
        turn = False
        try:
            await subscriptions.acquire()
            turn = True
            replies = await self.replies(payload)
            if isinstance(replies, list):
                errors = formatted(replies)
                await self.send({"id": op_id, "type": "error", "payload": errors})
                return
            async for reply in replies:
                await self.send({"id": op_id, "type": "next", "payload": reply})
            await self.send({"id": op_id, "type": "complete"})
        except _Close as close:
            await self.close(close.code, close.reason)
        except NewsroomError as e:  # e.g. a view stopped: say so, as a query would
            if not isinstance(e, Busy):  # being told "busy" is the bound working, not news
                log.warning("subscription %s ended: %s", op_id, e)
            error = {"message": str(e), "extensions": {"code": e.code}}
            with contextlib.suppress(_Close):
                await self.send({"id": op_id, "type": "error", "payload": [error]})
        except Exception:  # a bug must not leave the client waiting forever
            log.exception("subscription %s failed", op_id)
            with contextlib.suppress(_Close):
                await self.send(
                    {"id": op_id, "type": "error", "payload": [{"message": "internal error"}]}
                )
        finally:
            if turn:
                subscriptions.release()
            self.operations.pop(op_id, None)

    async def replies(self, payload: dict[str, Any]) -> AsyncIterator[Reply] | list[GraphQLError]:
        """The replies for a subscribe payload, or the errors that stop it."""
        text, variables = payload.get("query"), payload.get("variables") or {}
        name = payload.get("operationName")
        if not isinstance(text, str) or not isinstance(variables, dict):
            raise _Close(4400, "Invalid subscribe payload: it needs a query string")
        prepared = await self.request.app[OPERATIONS].prepare(
            text, name if isinstance(name, str) else None, variables, SUBSCRIPTION_ONLY
        )
        if isinstance(prepared, list):
            return prepared
        if isinstance(prepared, Refused):
            return [GraphQLError("only subscriptions run here; send queries and mutations by POST")]
        return await pipeline.results(prepared, self.request)

    async def send(self, message: dict[str, Any]) -> None:
        """Send one message; a client that does not take it in time is closed (1008)."""
        await self._write(self.ws.send_str, json.dumps(message))

    async def pong(self, data: bytes) -> None:
        """Answer a ping frame, as `send` sends a message."""
        await self._write(self.ws.pong, data)

    async def _write(self, frame: Callable[[Any], Awaitable[None]], data: Any) -> None:
        """Write one frame, one at a time, within `SEND_TIMEOUT`."""
        async with self.send_lock:
            try:
                await asyncio.wait_for(frame(data), SEND_TIMEOUT)
            except TimeoutError:
                raise _Close(1008, "Client too slow: it stopped reading messages") from None
            except ConnectionResetError:
                raise _Close(1006, "Connection lost") from None

    async def close(self, code: int, reason: str) -> None:
        # A close frame's reason has at most 123 bytes (RFC 6455, 5.5): one that repeats a
        # client's long message type or id is cut, where a character starts.
        said = reason.encode()[:CLOSE_REASON_MAX].decode(errors="ignore").encode()
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            await asyncio.wait_for(self.ws.close(code=code, message=said), 1.0)
        transport = self.request.transport
        if transport is None:
            return
        if not self.ws.closed:
            transport.abort()  # it would not even take the close frame
        elif transport.get_write_buffer_size():
            # A graceful close waits for the client to take what is queued, without limit; a
            # client that never reads again would hold its socket and buffer forever.
            asyncio.get_running_loop().call_later(CLOSE_GRACE, transport.abort)

    async def stop_all(self) -> None:
        for task in self.operations.values():
            task.cancel()
        await asyncio.gather(*self.operations.values(), return_exceptions=True)
