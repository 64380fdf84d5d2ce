"""The aiohttp application: routes, the error boundary, and the newsroom's life in cleanup_ctx."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import UTC, datetime

from aiohttp import web
from aiohttp.typedefs import Handler

from newsroom.app import Newsroom
from newsroom.config import Settings
from newsroom.errors import NewsroomError, StoreError
from newsroom.web import assets, feeds, metrics, ops, pages, search, sitemaps, unmatched
from newsroom.web.documents import RENDERED, DocumentCache
from newsroom.web.graphql import graphiql
from newsroom.web.graphql import http as graphql
from newsroom.web.graphql.context import RESOLVERS_USE
from newsroom.web.http import (
    CLOCK,
    COMMANDS,
    HEALTH,
    HISTORY,
    REQUEST_RATE,
    SETTINGS,
    VIEWS,
    json_error,
    refusal,
)
from newsroom.web.metrics import METRICS, Metrics, Watched
from newsroom.web.observe import OBSERVER, Observer, draining, observed
from newsroom.web.rates import RequestRate

log = logging.getLogger(__name__)
NEWSROOM = web.AppKey("newsroom", Newsroom)
"""The running system; only its life (start, stop) is handled here. Routes use its parts."""
BODY_MAX = 64 * 1024  # bytes; the largest request body newsroom reads
LABELS = {unmatched.PATH: unmatched.UNMATCHED}
"""Routes shown in the metrics and the access log by a label rather than their template."""


def error_boundary(handler: Handler) -> Handler:
    """`handler`, behind the client's request rate, with newsroom errors mapped to 4xx/503 once;
    never a traceback to a client.

    Each route gets this wrapper (see `guarded`) rather than a middleware: once an app has any
    middleware, aiohttp runs every request through two more layers, a measurable share of
    serving a cached feed (docs/benchmarks.md, section 6). The rate is checked here because
    every route passes here, WebSocket upgrades included, and a JSON 429 is this wrapper's kind
    of reply; from loopback (by default) that costs a dictionary lookup or two."""

    @functools.wraps(handler)
    async def bounded(request: web.Request) -> web.StreamResponse:
        if wait := request.app[REQUEST_RATE].wait(request.remote):
            return await too_many_requests(request.app[REQUEST_RATE], wait)
        try:
            return await handler(request)
        except web.HTTPRequestEntityTooLarge:
            limit = BODY_MAX // 1024
            return json_error(413, f"the request body is larger than the {limit} KiB limit")
        except web.HTTPException:
            raise
        except ConnectionResetError:
            raise  # the client went away mid-request; aiohttp closes quietly
        except NewsroomError as e:
            if (refused := refusal(e)) is not None:
                return json_error(refused.status, refused.message, **refused.headers)
            log.error("%s %s failed: %s", request.method, request.path, e)
            if isinstance(e, StoreError):  # its message names files: for the log, not the client
                return json_error(503, e.public, **{"Retry-After": "1"})
            return json_error(503, str(e))
        except Exception:
            log.exception("%s %s failed unexpectedly", request.method, request.path)
            return json_error(500, "internal error")

    return bounded


async def too_many_requests(rate: RequestRate, wait: float) -> web.Response:
    """429 for a client past its request rate, with the whole seconds until it may retry; sent
    only after that time (rates.py says why)."""
    retry = rate.retry_after(wait)
    await rate.held_back(wait)
    return json_error(
        429,
        f"too many requests from your address (at most {rate.rate} a second, {rate.burst} at "
        f"once); retry in {retry} s",
        **{"Retry-After": str(retry)},
    )


def create_app(
    settings: Settings, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> web.Application:
    """Build the application; the newsroom starts with it and stops with it."""
    app = web.Application(client_max_size=BODY_MAX)
    app[SETTINGS] = settings
    app[CLOCK] = clock
    app[REQUEST_RATE] = RequestRate(
        settings.rate_limit, settings.rate_burst, settings.limit_loopback
    )
    app[RENDERED] = DocumentCache()
    app[search.SEARCHES] = search.searches()
    app[METRICS] = Metrics()
    app[OBSERVER] = Observer(app[METRICS], settings.access_log)
    graphql.setup(app)

    async def run_newsroom(app: web.Application) -> AsyncIterator[None]:
        newsroom = app[NEWSROOM] = await Newsroom.start(settings, clock)
        app[VIEWS], app[COMMANDS] = newsroom.views, newsroom.commands
        app[HISTORY], app[HEALTH] = newsroom.history, newsroom.health
        app[RESOLVERS_USE] = (settings, newsroom.views, newsroom.commands, newsroom.history)
        watched = Watched(newsroom.store, newsroom.views, newsroom.commands, newsroom.start_figures)
        app[METRICS].watch(watched, app)
        yield
        await app[NEWSROOM].stop()

    app.cleanup_ctx.append(run_newsroom)
    app.cleanup_ctx.append(draining)
    modules = (graphql, graphiql, ops, metrics, feeds, sitemaps, search, assets, pages, unmatched)
    # Pages next to last (their article route's first segment matches anything), and last the
    # route that answers what no other takes.
    for module in modules:
        app.add_routes(guarded(module.routes, app[OBSERVER]))
    return app


def guarded(routes: Iterable[web.AbstractRouteDef], observer: Observer) -> list[web.RouteDef]:
    """The routes, each handler behind the error boundary and observed (request id, metrics,
    access log: `observe.py`). Only handler routes are taken (an aiohttp static route would
    bypass both; serve files from a handler instead)."""
    bounded = []
    for route in routes:
        if not isinstance(route, web.RouteDef):
            raise TypeError(f"{route!r}: only handler routes can be put behind the boundary")
        label = LABELS.get(route.path, route.path)
        handler = observed(error_boundary(route.handler), label, observer)
        bounded.append(web.RouteDef(route.method, route.path, handler, route.kwargs))
    return bounded
