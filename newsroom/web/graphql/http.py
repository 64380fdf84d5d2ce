"""GraphQL over HTTP (https://graphql.github.io/graphql-over-http/draft/): `POST /graphql` runs
a query or mutation; `GET /graphql` runs a query (a cacheable reply), opens the WebSocket for
subscriptions, or shows GraphiQL to a browser.

Either method goes: the reply's media type from Accept (406 if none fits; media.py) -> the
request's parameters, well formed (else 400; params.py) -> `Operations.prepare`, every check of
the pipeline (its refusals are GraphQL request errors, whose status depends on the media type)
-> a bearer token if it is a mutation and a token is configured -> wait for
`Newsroom-Min-Position` -> `execute`. Each reply states the log position it reflects. A GET's
successful reply carries an ETag and may be kept for a minute, as a feed may; a repeat with
If-None-Match gets 304 (documents.py). Errors are never kept.
"""

from __future__ import annotations

from collections import Counter

import orjson
from aiohttp import hdrs, web
from graphql import GraphQLError, OperationType

from newsroom.gates import Gate
from newsroom.web.documents import Rendered, respond
from newsroom.web.graphql import pipeline, replies, websocket
from newsroom.web.graphql.graphiql import graphiql_page
from newsroom.web.graphql.media import (
    GET_TYPES,
    HTML,
    PAGE_FIRST,
    POST_TYPES,
    executed_status,
    negotiate,
    not_acceptable_message,
    request_error_status,
)
from newsroom.web.graphql.params import Malformed, Params, from_body, from_query
from newsroom.web.graphql.pipeline import OPERATIONS, Operations, Outcome, Prepared, Refused
from newsroom.web.graphql.replies import Errors
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
BY_POST = frozenset((OperationType.QUERY, OperationType.MUTATION))
BY_GET = frozenset((OperationType.QUERY,))  # GET is safe (RFC 9110 section 9.2.1)
SUBSCRIPTIONS_ELSEWHERE = "subscriptions run over a WebSocket on /graphql"
NO_MUTATIONS_BY_GET = "GET does not run mutations (it must be safe to repeat); send them by POST"
VARY = "Accept, Newsroom-Min-Position"
"""What a GET reply depends on besides its URL: the media type, and the position asked for (a
cached reply from before a write must not answer a read that waits for that write)."""
routes = web.RouteTableDef()
"""POST /graphql for queries and mutations; GET /graphql for queries, the WebSocket and
GraphiQL."""


@routes.post("/graphql")
async def handle_graphql(request: web.Request) -> web.Response:
    """POST /graphql: one JSON operation in, one GraphQL response out."""
    media = negotiate(request.headers.get(hdrs.ACCEPT), POST_TYPES)
    if media is None:
        return json_error(406, not_acceptable_message(POST_TYPES))
    body = await read_json_object(request, request.app[SETTINGS].body_timeout, media)
    try:
        params = from_body(body)
    except Malformed as e:
        return json_error(400, str(e), media)
    prepared = await _prepare(request, params, BY_POST)
    if not isinstance(prepared, Prepared):
        return _request_error(request, media, prepared)
    if prepared.kind is OperationType.MUTATION and (
        denied := unauthorized(request, "mutations", media)
    ):
        return denied
    return _executed(request, media, await _run(request, prepared))


@routes.get("/graphql")
async def handle_graphql_get(request: web.Request) -> web.StreamResponse:
    """GET /graphql: the WebSocket for subscriptions; GraphiQL for a browser; or a query, given
    by `query`, `operationName`, `variables` (JSON) and `extensions` (JSON) in the URL."""
    if request.headers.get(hdrs.UPGRADE, "").lower() == "websocket":
        return await websocket.handle_websocket(request)
    offered = GET_TYPES if "query" in request.query else PAGE_FIRST
    media = negotiate(request.headers.get(hdrs.ACCEPT), offered)
    if media is None:
        return _unkept(json_error(406, not_acceptable_message(offered)))
    if media == HTML:
        page = graphiql_page(request)
        page.headers[hdrs.VARY] = "Accept"  # the same URL answers JSON to other clients
        return page
    return await _query_by_get(request, media)


async def _query_by_get(request: web.Request, media: str) -> web.Response:
    """The query in the URL, run; only a whole success may be kept by caches, with its ETag."""
    try:
        params = from_query(request.query)
    except Malformed as e:
        return _unkept(json_error(400, str(e), media))
    prepared = await _prepare(request, params, BY_GET)
    if isinstance(prepared, Refused) and prepared.kind is OperationType.MUTATION:
        return _unkept(json_error(405, NO_MUTATIONS_BY_GET, media, Allow="POST"))
    if not isinstance(prepared, Prepared):
        return _unkept(_request_error(request, media, prepared))
    reply = await _run(request, prepared)
    if "errors" in reply:
        return _unkept(_executed(request, media, reply))
    position = request.app[VIEWS].position
    reply.setdefault("extensions", {})["position"] = position
    # Not gzipped: made per request, it would cost the event loop ~50 ms a MiB each time
    return respond(request, Rendered(orjson.dumps(reply), media, None, VARY), position, False)


async def _prepare(
    request: web.Request, params: Params, kinds: frozenset[OperationType]
) -> Outcome:
    return await request.app[OPERATIONS].prepare(
        params.query, params.operation_name, params.variables, kinds
    )


async def _run(request: web.Request, prepared: Prepared) -> replies.Reply:
    """Wait for the position the request asks for, then execute; a mutation takes a turn."""
    await wait_for_min_position(request)
    if prepared.kind is OperationType.MUTATION:
        async with request.app[WRITES].turn():  # Busy (503) when too many are already waiting
            return await pipeline.execute(prepared, request)
    return await pipeline.execute(prepared, request)


def _executed(request: web.Request, media: str, reply: replies.Reply) -> web.Response:
    """The reply of an operation that ran: 200, or 503 with Retry-After (media.executed_status)."""
    status = executed_status(reply, replies.store_failed(reply))
    response = positioned_json(reply, request.app[VIEWS].position, status, media)
    if status == 503:
        response.headers["Retry-After"] = "1"
    return response


def _request_error(request: web.Request, media: str, refusal: Errors | Refused) -> web.Response:
    """A GraphQL response with only errors, for an operation that did not run: 200 or 400, by
    the media type (media.request_error_status)."""
    errors = [GraphQLError(SUBSCRIPTIONS_ELSEWHERE)] if isinstance(refusal, Refused) else refusal
    body = {"errors": replies.formatted(errors)}
    return positioned_json(body, request.app[VIEWS].position, request_error_status(media), media)


def _unkept(response: web.Response) -> web.Response:
    """The response, marked for no cache to keep (RFC 9111 section 5.2.2.5)."""
    response.headers[hdrs.CACHE_CONTROL] = "no-store"
    return response


def setup(app: web.Application) -> None:
    """The endpoint's state: prepared documents, and the open WebSockets (closed at shutdown)."""
    app[OPERATIONS] = Operations(app[SETTINGS].graphql_limits)
    app[WRITES] = Gate("writes", app[SETTINGS].max_writes, 1.0)
    app[websocket.SOCKETS] = set()
    app[websocket.SOCKETS_BY_ADDRESS] = Counter()
    app[websocket.SUBSCRIPTIONS] = Gate("subscriptions", app[SETTINGS].max_subscriptions, 0)
    app.on_shutdown.append(websocket.close_all)
