"""Sitemap routes: the index at /sitemap.xml, its files under /sitemaps/, and /robots.txt.

`/sitemaps/articles-N.xml` list every published article; `/sitemaps/news-N.xml` are the Google
News sitemap (the last 48 hours by the server's clock). The seed's `/sitemap` keeps answering
with the first news file.
"""

from __future__ import annotations

import re

from aiohttp import web

from newsroom.app import Newsroom
from newsroom.errors import NotFound
from newsroom.projections.sitemaps import Sitemap
from newsroom.web.documents import RENDERED, Rendered, respond
from newsroom.web.http import NEWSROOM, SETTINGS, wait_for_min_position
from newsroom.web.xml import news_urlset, sitemap_index, urlset

MEDIA_TYPE = "application/xml"
_FILE = re.compile(r"(articles|news)-([1-9][0-9]{0,5})\.xml")

routes = web.RouteTableDef()
"""The sitemaps and robots.txt."""


@routes.get("/sitemap.xml")
async def index(request: web.Request) -> web.Response:
    """GET /sitemap.xml: every article sitemap file, and the news files that have articles."""
    newsroom, base = await _ready(request), request.app[SETTINGS].public_url
    files = newsroom.sitemaps.article_files()
    news = newsroom.sitemaps.news_files(newsroom.clock())
    listed_news = [n for n in news if n.keys]
    entries = [(f"{base}/sitemaps/articles-{n}.xml", s.at) for n, s in enumerate(files, 1)]
    entries += [(f"{base}/sitemaps/news-{n.number}.xml", n.modified) for n in listed_news]
    version = (tuple(s.position for s in files), news[0].version, len(listed_news))
    modified = max(newsroom.sitemaps.files_changed(), news[0].modified)
    document = request.app[RENDERED].get(
        "sitemap-index", version, modified, MEDIA_TYPE, lambda: sitemap_index(entries)
    )
    return respond(request, document, newsroom.position)


@routes.get("/sitemaps/{name}")
async def sitemap_file(request: web.Request) -> web.Response:
    """GET /sitemaps/articles-N.xml and /sitemaps/news-N.xml."""
    newsroom = await _ready(request)
    match = _FILE.fullmatch(request.match_info["name"])
    if match is None:
        raise NotFound("there is no such sitemap; /sitemap.xml lists them all")
    kind, number = match.group(1), int(match.group(2))
    if kind == "articles":
        sitemap = newsroom.sitemaps.article_file(number)
    else:
        news = newsroom.sitemaps.news_files(newsroom.clock())
        sitemap = news[number - 1] if number <= len(news) else None
    if sitemap is None:
        raise NotFound("there is no such sitemap; /sitemap.xml lists them all")
    return respond(request, _render(request, kind, sitemap), newsroom.position)


@routes.get("/sitemap")
async def seed_sitemap(request: web.Request) -> web.Response:
    """GET /sitemap: the seed's news sitemap, now the first Google News sitemap file."""
    newsroom = await _ready(request)
    first = newsroom.sitemaps.news_files(newsroom.clock())[0]
    return respond(request, _render(request, "news", first), newsroom.position)


@routes.get("/robots.txt")
async def robots(request: web.Request) -> web.Response:
    """GET /robots.txt: crawl everything; the sitemap index is here."""
    url = request.app[SETTINGS].public_url
    return web.Response(text=f"User-agent: *\nAllow: /\n\nSitemap: {url}/sitemap.xml\n")


async def _ready(request: web.Request) -> Newsroom:
    await wait_for_min_position(request)
    newsroom = request.app[NEWSROOM]
    newsroom.projectors["sitemaps"].check()
    return newsroom


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
