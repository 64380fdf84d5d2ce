"""What answers a request that no route takes: a path newsroom does not serve (404), or a method
the path's route does not take (405, with `Allow` naming those it does).

It is a route of its own, added after every other and matching any path and method, so that
these replies pass through the same wrapper as every route: they carry an `X-Request-Id`, count
against the client's request rate, are counted in the metrics (route label `UNMATCHED`, one
series however many paths are asked for) and leave an access line. A browser is shown the
site's "Page not found" page; other clients get the JSON error every route answers with.

A request whose target is not a path at all (`OPTIONS *`, which asks about the server as a
whole, or CONNECT's `host:port`, which asks for a proxy) never reaches a route: aiohttp's
router looks up paths only. `front_door` sits before the router and hands such a request to
`not_a_path`, in the same wrapper, so its 400 carries a request id and leaves a line too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import cast

from aiohttp import hdrs, web

from newsroom.web.guard import guard
from newsroom.web.http import JSON, SETTINGS, json_error
from newsroom.web.layout import reply
from newsroom.web.negotiation import preferred
from newsroom.web.notices import not_found

PATH = "/{path:.*}"
UNMATCHED = "(unmatched)"
"""The route label of these replies in the metrics and the access log."""
HTML = "text/html"
routes = web.RouteTableDef()


@routes.route(hdrs.METH_ANY, PATH)
async def unmatched(request: web.Request) -> web.Response:
    """404, or 405 when another route serves this path with other methods."""
    allowed: set[str] = set()
    this = request.match_info.route.resource
    for resource in request.app.router.resources():
        if resource is not this:
            _, taken = await resource.resolve(request)
            allowed |= taken
    if allowed:
        methods = ", ".join(sorted(allowed))
        message = f"{request.method} is not allowed here; this address takes {methods}"
        return json_error(405, message, Allow=methods)
    if preferred(request.headers.get(hdrs.ACCEPT), (JSON, HTML)) == HTML:
        return reply(not_found(request.app[SETTINGS], article=False), None, status=404)
    return json_error(404, "nothing is served at this address")


async def not_a_path(request: web.Request) -> web.Response:
    """400 for a request target that is not a path (the client's target is not repeated); the
    connection is closed after it (after a CONNECT, aiohttp would take what follows as a
    tunnel's bytes, not as requests)."""
    response = json_error(
        400, "the request target is not a path: newsroom serves addresses such as /feed, not "
        "'*' (OPTIONS) or a host:port (CONNECT: newsroom is not a proxy)",
    )  # fmt: skip
    response.force_close()
    return response


Routed = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
"""What an aiohttp `Server` hands each request to (`Server.request_handler`)."""


def front_door(app: web.Application, routed: Routed) -> Routed:
    """`routed` (the app's router) for every request whose target has a path (origin form,
    `/feed`, or absolute form, `http://host/feed`; `http://host` is `/`), `not_a_path` in the
    wrapper for the rest: `OPTIONS *` and CONNECT.

    A plain function that returns the router's coroutine, not a coroutine of its own: a
    request pays one call and one test here, not another frame to await."""
    guarded = guard(not_a_path, UNMATCHED, app)

    def enter(request: web.BaseRequest) -> Awaitable[web.StreamResponse]:
        if request.path[:1] == "/":
            return routed(request)
        if request.method != hdrs.METH_CONNECT and request.raw_path != "*":
            # `GET http://host` (absolute form, no path): an empty path means "/" (RFC 9110,
            # section 4.2.3)
            query = request.rel_url.raw_query_string
            return routed(request.clone(rel_url=f"/?{query}" if query else "/"))
        return guarded(cast(web.Request, request))

    return enter
