"""Sitemap routes: the index at /sitemap.xml, its files under /sitemaps/, and /robots.txt.

`/sitemaps/articles-N.xml` list every published article; `/sitemaps/news-N.xml` are the Google
News sitemap (the last 48 hours by the server's clock). The seed's `/sitemap` keeps answering
with the first news file.
"""

from __future__ import annotations

import re
from datetime import datetime

from aiohttp import web

from newsroom.errors import NotFound
from newsroom.projections.sitemaps import Sitemap, SitemapsProjection
from newsroom.web.documents import RENDERED, Rendered, respond
from newsroom.web.http import CLOCK, SETTINGS, VIEWS, wait_for_min_position
from newsroom.web.xml import news_urlset, sitemap_index, urlset

MEDIA_TYPE = "application/xml"
_FILE = re.compile(r"(articles|news)-([1-9][0-9]{0,5})\.xml")

routes = web.RouteTableDef()
"""The sitemaps and robots.txt."""


@routes.get("/sitemap.xml")
async def index(request: web.Request) -> web.Response:
    """GET /sitemap.xml: every article sitemap file, and the news files that have articles."""
    (sitemaps, position), base = await _ready(request), request.app[SETTINGS].public_url
    files = sitemaps.article_files()
    news = sitemaps.news_files(request.app[CLOCK]())
    listed_news = [n for n in news if n.keys]
    entries: list[tuple[str, datetime | None]] = [
        (f"{base}/sitemaps/articles-{n}.xml", s.at if s.position else None)  # 0: never changed
        for n, s in enumerate(files, 1)
    ]
    entries += [(f"{base}/sitemaps/news-{n.number}.xml", n.modified) for n in listed_news]
    version = (tuple(s.position for s in files), news[0].version, len(listed_news))
    modified = max(sitemaps.files_changed(), news[0].modified)
    document = request.app[RENDERED].get(
        "sitemap-index", version, modified, MEDIA_TYPE, lambda: sitemap_index(entries)
    )
    return respond(request, document, position)


@routes.get("/sitemaps/{name}")
async def sitemap_file(request: web.Request) -> web.Response:
    """GET /sitemaps/articles-N.xml and /sitemaps/news-N.xml."""
    sitemaps, position = await _ready(request)
    match = _FILE.fullmatch(request.match_info["name"])
    if match is None:
        raise NotFound("there is no such sitemap; /sitemap.xml lists them all")
    kind, number = match.group(1), int(match.group(2))
    if kind == "articles":
        sitemap = sitemaps.article_file(number)
    else:
        news = sitemaps.news_files(request.app[CLOCK]())
        sitemap = news[number - 1] if number <= len(news) else None
    if sitemap is None:
        raise NotFound("there is no such sitemap; /sitemap.xml lists them all")
    return respond(request, _render(request, kind, sitemap), position)


@routes.get("/sitemap")
async def seed_sitemap(request: web.Request) -> web.Response:
    """GET /sitemap: the seed's news sitemap, now the first Google News sitemap file."""
    sitemaps, position = await _ready(request)
    first = sitemaps.news_files(request.app[CLOCK]())[0]
    return respond(request, _render(request, "news", first), position)


@routes.get("/robots.txt")
async def robots(request: web.Request) -> web.Response:
    """GET /robots.txt: crawl everything; the sitemap index is here."""
    url = request.app[SETTINGS].public_url
    return web.Response(text=f"User-agent: *\nAllow: /\n\nSitemap: {url}/sitemap.xml\n")


async def _ready(request: web.Request) -> tuple[SitemapsProjection, int]:
    """The sitemaps view once it reached the request's minimum position, and its position."""
    position = await wait_for_min_position(request)
    return request.app[VIEWS].sitemaps, position


def _render(request: web.Request, kind: str, sitemap: Sitemap) -> Rendered:
    settings = request.app[SETTINGS]
    writer = urlset if kind == "articles" else news_urlset
    return request.app[RENDERED].get(
        f"sitemap-{kind}-{sitemap.number}",
        sitemap.version,
        sitemap.modified,
        MEDIA_TYPE,
        lambda: writer(sitemap, settings),
    )
