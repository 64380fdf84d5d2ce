"""Pages for readers: the home page, and one page per article at its canonical URL.

`/{category}/{slug}-{id}` finds the article by its id alone; a wrong slug or category (an old
title, a moved article) answers 301 with the canonical URL, a draft or unknown id 404, and a
retracted article 410 Gone (web/notices.py). The article's page is built in
web/article_page.py; every page shares the frame of web/layout.py, and the search page lives
in web/search_page.py.
"""

from __future__ import annotations

import re

from aiohttp import web
from lxml import html
from lxml.html import builder as E

from newsroom.projections.feeds import FeedsProjection
from newsroom.slugs import article_path, slugify
from newsroom.validation import ID_MAX
from newsroom.web.article_page import article_page
from newsroom.web.http import SETTINGS, VIEWS, wait_for_min_position
from newsroom.web.layout import Child, Head, page, reply, story_item
from newsroom.web.notices import not_found, retracted
from newsroom.web.text import summary, xml_text

HOME_COUNT = 20
_PAGE = re.compile(r"(.*)-([1-9][0-9]{0,9})")

routes = web.RouteTableDef()
"""The pages' routes; the article route last, since its first segment matches anything."""


@routes.get("/")
async def home(request: web.Request) -> web.Response:
    """GET /: what the site is, the latest published articles, and the feeds to follow."""
    position = await wait_for_min_position(request)
    views, settings = request.app[VIEWS], request.app[SETTINGS]
    latest = views.articles.latest("PUBLISHED", count=HOME_COUNT)
    site, description = xml_text(settings.site_name), xml_text(settings.site_description)
    body: list[Child] = [
        E.H1(site),
        E.P(description, E.CLASS("tagline")),
        E.H2("Latest news"),
        E.OL(
            *[story_item(a, [xml_text(summary(a.body))]) for a in latest],
            E.CLASS("stories"),
            id="latest",
        )
        if latest
        else E.P("Nothing has been published yet."),
        E.H2("Follow"),
        _feeds(views.feeds),
    ]
    head = Head(site, description, canonical=f"{settings.public_url}/")
    return reply(page(settings, head, body), position)


def _feeds(feeds: FeedsProjection) -> html.HtmlElement:
    items = [E.LI(E.A("All news", href="/feed"), " (", E.A("Atom", href="/feed.atom"), ")")]
    for category in feeds.categories():
        feed = f"/feed/{category}"
        items.append(E.LI(E.A(category, href=feed), " (", E.A("Atom", href=f"{feed}.atom"), ")"))
    return E.UL(*items)


@routes.get("/{category}/{page}")
async def article_route(request: web.Request) -> web.Response:
    """GET /{category}/{slug}-{id}: the article, a redirect to its canonical URL, 404 or 410."""
    position = await wait_for_min_position(request)
    articles, settings = request.app[VIEWS].articles, request.app[SETTINGS]
    match = _PAGE.fullmatch(request.match_info["page"])
    article = None
    if match is not None and int(match.group(2)) <= ID_MAX:
        article = articles.get(int(match.group(2)))
    if article is None or article.status == "DRAFT":
        return reply(not_found(settings), position, status=404)
    if article.status == "RETRACTED":
        return reply(retracted(settings, article), position, status=410)
    assert match is not None
    slug, category = match.group(1), request.match_info["category"]
    if (category, slug) != (article.category, slugify(article.title)):
        path = article_path(article.category, article.title, article.id)
        raise web.HTTPMovedPermanently(location=path)
    return reply(article_page(settings, article), position)
