"""What answers a request that no route takes: a path newsroom does not serve (404), or a method
the path's route does not take (405, with `Allow` naming those it does).

It is a route of its own, added after every other and matching any path and method, so that
these replies pass through the same wrapper as every route: they carry an `X-Request-Id`, count
against the client's request rate, are counted in the metrics (route label `UNMATCHED`, one
series however many paths are asked for) and leave an access line. A browser is shown the
site's "Page not found" page; other clients get the JSON error every route answers with.
"""

from __future__ import annotations

from aiohttp import hdrs, web

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
