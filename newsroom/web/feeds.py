"""Feed routes: RSS 2.0 at /feed and /feed/{category}, Atom 1.0 at the same paths + `.atom`.

A category is looked up in the feeds view and nowhere else, so whatever a client puts in the
path (`..%2F`, NUL bytes, 5,000 characters) is either a known category or a 404 that does not
repeat it.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from newsroom.config import Settings
from newsroom.errors import NotFound
from newsroom.projections.feeds import Feed
from newsroom.web.documents import RENDERED, respond
from newsroom.web.http import SETTINGS, VIEWS, wait_for_min_position
from newsroom.web.xml import atom, rss

Writer = Callable[[Feed, Settings, str], bytes]
_FORMATS: dict[str, tuple[Writer, str]] = {
    "": (rss, "application/rss+xml"),
    ".atom": (atom, "application/atom+xml"),
}

routes = web.RouteTableDef()
"""The feeds' routes."""


@routes.get("/feed")
@routes.get("/feed.atom")
async def all_news(request: web.Request) -> web.Response:
    """GET /feed and /feed.atom: the newest articles of every category."""
    return await _serve(request, None, ".atom" if request.path.endswith(".atom") else "")


@routes.get("/feed/{name}")
async def category_feed(request: web.Request) -> web.Response:
    """GET /feed/{category} and /feed/{category}.atom."""
    name = request.match_info["name"]
    if name.endswith(".atom"):
        return await _serve(request, name.removesuffix(".atom"), ".atom")
    return await _serve(request, name, "")


async def _serve(request: web.Request, category: str | None, suffix: str) -> web.Response:
    """The feed from the document cache, rendered again only if it changed since. (This is the
    most requested route: what does not change between renders is worked out in `render`.)"""
    position = await wait_for_min_position(request)
    feeds = request.app[VIEWS].feeds
    changed = feeds.changed(category)
    if changed is None:
        raise NotFound("there is no feed by that name; /feed has all news")
    writer, media_type = _FORMATS[suffix]

    def render() -> bytes:
        feed, settings = feeds.feed(category), request.app[SETTINGS]
        assert feed is not None  # it has a change stamp, so it exists
        path = "/feed" if category is None else f"/feed/{category}"
        return writer(feed, settings, f"{settings.public_url}{path}{suffix}")

    key = ("feed", category, suffix)
    document = request.app[RENDERED].get(key, changed.position, changed.at, media_type, render)
    return respond(request, document, position)
