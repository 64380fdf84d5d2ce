"""GraphQL over HTTP (POST /graphql): limits, auth for writes, read-your-writes, and a cache.

A request goes: strict JSON body -> the operation, with every check of `Documents.operation`
(cached parse, shape and validation; coerced variables; cost; argument rules) -> a bearer
token if it is a mutation and a token is configured -> wait for `Newsroom-Min-Position` ->
execute. Parsing and validating are most of a small request's time, so documents seen before
skip both; and execution reuses the variables the checks coerced.
"""

from __future__ import annotations

from aiohttp import web
from graphql import GraphQLError, OperationType

from newsroom.web.graphiql import graphiql_page
from newsroom.web.graphql_schema import (
    DOCUMENTS,
    Documents,
    context_for,
    execute_prepared,
    format_graphql_error,
    response_payload,
)
from newsroom.web.graphql_ws import SOCKETS, close_all, handle_websocket
from newsroom.web.http import (
    NEWSROOM,
    SETTINGS,
    json_error,
    positioned_json,
    read_json_object,
    unauthorized,
    wait_for_min_position,
)


def _errors(request: web.Request, errors: list[GraphQLError]) -> web.Response:
    body = {"errors": [format_graphql_error(e) for e in errors]}
    return positioned_json(body, request.app[NEWSROOM].position, 400)


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
    prepared = request.app[DOCUMENTS].operation(text, operation_name, variables or {})
    if isinstance(prepared, list):
        return _errors(request, prepared)
    kind = prepared.operation.operation
    if kind is OperationType.SUBSCRIPTION:
        return json_error(400, "subscriptions run over a WebSocket on /graphql")
    if kind is OperationType.MUTATION and (denied := unauthorized(request, "mutations")):
        return denied
    newsroom = request.app[NEWSROOM]
    await wait_for_min_position(request)
    result = await execute_prepared(prepared, context_for(request))
    return positioned_json(response_payload(result), newsroom.position)


@routes.get("/graphql")
async def handle_graphql_get(request: web.Request) -> web.StreamResponse:
    """GET /graphql: the WebSocket for subscriptions, or the GraphiQL page; never a query."""
    if request.headers.get("Upgrade", "").lower() == "websocket":
        return await handle_websocket(request)
    if "query" in request.query:
        return json_error(405, "send GraphQL operations with POST", Allow="POST")
    return graphiql_page(request)


def setup(app: web.Application) -> None:
    """The endpoint's state: the document cache and the open WebSockets (closed at shutdown)."""
    app[DOCUMENTS] = Documents(app[SETTINGS].graphql_limits)
    app[SOCKETS] = set()
    app.on_shutdown.append(close_all)
