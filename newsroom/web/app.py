"""The aiohttp application: its routes, each in the guard (`guard.py`), and the newsroom's life in
cleanup_ctx."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from datetime import UTC, datetime

from aiohttp import web

from newsroom.app import Newsroom
from newsroom.config import Settings
from newsroom.web import assets, feeds, metrics, ops, pages, search, sitemaps, unmatched
from newsroom.web.documents import RENDERED, DocumentCache
from newsroom.web.graphql import graphiql
from newsroom.web.graphql import http as graphql
from newsroom.web.graphql.context import RESOLVERS_USE
from newsroom.web.guard import BODY_MAX, expect_continue, guard
from newsroom.web.http import (
    CLOCK,
    COMMANDS,
    HEALTH,
    HISTORY,
    REQUEST_RATE,
    SETTINGS,
    VIEWS,
)
from newsroom.web.metrics import METRICS, Metrics, Watched
from newsroom.web.observe import OBSERVER, Observer, draining
from newsroom.web.rates import RequestRate

NEWSROOM = web.AppKey("newsroom", Newsroom)
"""The running system; only its life (start, stop) is handled here. Routes use its parts."""
LABELS = {unmatched.PATH: unmatched.UNMATCHED}
"""Routes shown in the metrics and the access log by a label rather than their template."""


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
        app.add_routes(guarded(module.routes, app))
    return app


def guarded(routes: Iterable[web.AbstractRouteDef], app: web.Application) -> list[web.RouteDef]:
    """The routes, each handler in the one wrapper of `guard.py` (request id, request rate,
    error boundary, metrics and access log). Only handler routes are taken (an aiohttp static
    route would bypass it; serve files from a handler instead)."""
    bounded = []
    for route in routes:
        if not isinstance(route, web.RouteDef):
            raise TypeError(f"{route!r}: only handler routes can be put behind the boundary")
        label = LABELS.get(route.path, route.path)
        handler = guard(route.handler, label, app)
        kwargs = {"expect_handler": expect_continue, **route.kwargs}
        bounded.append(web.RouteDef(route.method, route.path, handler, kwargs))
    return bounded
