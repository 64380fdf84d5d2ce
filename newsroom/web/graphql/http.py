"""GraphQL over HTTP: `POST /graphql` runs one operation; `GET /graphql` opens the WebSocket for
subscriptions, or shows GraphiQL to a browser.

A POST goes: strict JSON body -> `Operations.prepare` (every check of the pipeline) -> a bearer
token if it is a mutation and a token is configured -> wait for `Newsroom-Min-Position` ->
`execute`. Each reply states the log position it reflects.
"""

from __future__ import annotations

from collections import Counter

from aiohttp import web
from graphql import OperationType

from newsroom.gates import Gate
from newsroom.web.graphql import pipeline, websocket
from newsroom.web.graphql.graphiql import graphiql_page
from newsroom.web.graphql.pipeline import OPERATIONS, Operations
from newsroom.web.http import (
    SETTINGS,
    VIEWS,
    json_error,
    positioned_json,
    read_json_object,
    unauthorized,
    wait_for_min_position,
)

WRITES = web.AppKey("mutations running", Gate)
"""Turns for mutations: a flood of writes waits a second at most, then hears 503."""
routes = web.RouteTableDef()
"""POST /graphql for operations; GET /graphql for the WebSocket and GraphiQL."""


@routes.post("/graphql")
async def handle_graphql(request: web.Request) -> web.Response:
    """POST /graphql: one JSON operation in, one JSON result out."""
    body = await read_json_object(request, request.app[SETTINGS].body_timeout)
    text, variables = body.get("query"), body.get("variables")
    operation_name = body.get("operationName")
    if not isinstance(text, str):
        return json_error(400, "the request body needs a 'query' string")
    if not isinstance(variables or {}, dict):
        return json_error(400, "'variables' must be a JSON object")
    if not isinstance(operation_name or "", str):
        return json_error(400, "'operationName' must be a string")
    prepared = await request.app[OPERATIONS].prepare(text, operation_name, variables or {})
    views = request.app[VIEWS]
    if isinstance(prepared, list):
        return positioned_json({"errors": pipeline.formatted(prepared)}, views.position, 400)
    kind = prepared.kind
    if kind is OperationType.SUBSCRIPTION:
        return json_error(400, "subscriptions run over a WebSocket on /graphql")
    if kind is OperationType.MUTATION and (denied := unauthorized(request, "mutations")):
        return denied
    await wait_for_min_position(request)
    if kind is OperationType.MUTATION:
        async with request.app[WRITES].turn():  # Busy (503) when too many are already waiting
            reply = await pipeline.execute(prepared, request)
    else:
        reply = await pipeline.execute(prepared, request)
    if pipeline.store_failed(reply):
        response = positioned_json(reply, views.position, 503)
        response.headers["Retry-After"] = "1"
        return response
    return positioned_json(reply, views.position)


@routes.get("/graphql")
async def handle_graphql_get(request: web.Request) -> web.StreamResponse:
    """GET /graphql: the WebSocket for subscriptions, or the GraphiQL page; never a query."""
    if request.headers.get("Upgrade", "").lower() == "websocket":
        return await websocket.handle_websocket(request)
    if "query" in request.query:
        return json_error(405, "send GraphQL operations with POST", Allow="POST")
    return graphiql_page(request)


def setup(app: web.Application) -> None:
    """The endpoint's state: prepared documents, and the open WebSockets (closed at shutdown)."""
    app[OPERATIONS] = Operations(app[SETTINGS].graphql_limits)
    app[WRITES] = Gate("writes", app[SETTINGS].max_writes, 1.0)
    app[websocket.SOCKETS] = set()
    app[websocket.SOCKETS_BY_ADDRESS] = Counter()
    app[websocket.SUBSCRIPTIONS] = Gate("subscriptions", app[SETTINGS].max_subscriptions, 0)
    app.on_shutdown.append(websocket.close_all)
