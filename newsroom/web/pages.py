"""HTML pages for people: the home page, and one page per article at its canonical URL.

`/{category}/{slug}-{id}` finds the article by its id alone; a wrong slug or category (an old
title, a moved article) answers 301 with the canonical URL, a draft or unknown id 404, and a
retracted article 410 Gone with a short notice. Pages are built with lxml, which escapes every
piece of text; the JSON-LD block is escaped for a `<script>` element on top of that.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from aiohttp import web
from lxml import etree, html
from lxml.html import builder as E

from newsroom.config import Settings
from newsroom.projections.articles import ArticleView
from newsroom.slugs import article_path, slugify
from newsroom.validation import ID_MAX
from newsroom.web.http import SETTINGS, VIEWS, html_response, wait_for_min_position
from newsroom.web.text import paragraphs, xml_text
from newsroom.web.urls import article_url
from newsroom.web.xml import w3c

HOME_COUNT = 20
HEADLINE_MAX = 110  # characters; Google's limit for a NewsArticle headline
_PAGE = re.compile(r"(.*)-([1-9][0-9]{0,9})")
# Inside <script>, "</script>" or "<!--" in the JSON would end or confuse the element.
_SCRIPT_ESCAPES = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026"}

routes = web.RouteTableDef()
"""The pages' routes; the article route last, since its first segment matches anything."""


@routes.get("/")
async def home(request: web.Request) -> web.Response:
    """GET /: the latest published articles, and where to go next."""
    position = await wait_for_min_position(request)
    views, settings = request.app[VIEWS], request.app[SETTINGS]
    latest = views.articles.latest("PUBLISHED", count=HOME_COUNT)
    feeds = [E.LI(E.A("All news", href="/feed"), " (", E.A("Atom", href="/feed.atom"), ")")]
    for category in views.feeds.categories():
        feed = f"/feed/{category}"
        feeds.append(E.LI(E.A(category, href=feed), " (", E.A("Atom", href=f"{feed}.atom"), ")"))
    body = [
        E.H1(xml_text(settings.site_name)),
        E.P(xml_text(settings.site_description)),
        E.H2("Latest"),
        E.UL(*[_headline(a) for a in latest], id="latest")
        if latest
        else E.P("Nothing published yet."),
        E.H2("Follow"),
        E.UL(*feeds),
        E.H2("For machines"),
        E.UL(
            E.LI(E.A("GraphQL API and GraphiQL", href="/graphql")),
            E.LI(
                E.A("Sitemap index", href="/sitemap.xml"),
                " and the ",
                E.A("Google News sitemap", href="/sitemap"),
            ),
            E.LI(E.A("Health", href="/healthz"), ", ", E.A("readiness", href="/readyz")),
        ),
    ]
    alternate = E.LINK(rel="alternate", type="application/rss+xml", href="/feed", title="All news")
    page = _page(settings, xml_text(settings.site_name), [alternate], body)
    return _html(page, position)


@routes.get("/{category}/{page}")
async def article_page(request: web.Request) -> web.Response:
    """GET /{category}/{slug}-{id}: the article, a redirect to its canonical URL, 404 or 410."""
    position = await wait_for_min_position(request)
    articles, settings = request.app[VIEWS].articles, request.app[SETTINGS]
    match = _PAGE.fullmatch(request.match_info["page"])
    article = None
    if match is not None and int(match.group(2)) <= ID_MAX:
        article = articles.get(int(match.group(2)))
    if article is None or article.status == "DRAFT":
        return _not_found(settings, position)
    if article.status == "RETRACTED":
        return _html(_retracted(settings, article), position, status=410)
    assert match is not None
    slug, category = match.group(1), request.match_info["category"]
    if (category, slug) != (article.category, slugify(article.title)):
        path = article_path(article.category, article.title, article.id)
        raise web.HTTPMovedPermanently(location=path)
    return _html(_article(settings, article), position)


def _article(settings: Settings, article: ArticleView) -> html.HtmlElement:
    title = xml_text(article.title)
    assert article.published_at is not None  # only published articles get here
    byline = E.P(
        "By ", xml_text(article.author_name), " · ",
        E.TIME(f"{article.published_at:%d %B %Y, %H:%M} UTC", datetime=w3c(article.published_at)),
        " · ", E.A(article.category, href=f"/feed/{article.category}"),
    )  # fmt: skip
    body = [E.P(E.A(xml_text(settings.site_name), href="/")),
            E.ARTICLE(E.H1(title), byline, *paragraphs(xml_text(article.body)))]  # fmt: skip
    head = [
        E.LINK(rel="canonical", href=article_url(settings, article)),
        E.META(name="author", content=xml_text(article.author_name)),
        E.SCRIPT(_json_ld(settings, article), type="application/ld+json"),
    ]
    return _page(settings, f"{title} — {xml_text(settings.site_name)}", head, body)


def _json_ld(settings: Settings, article: ArticleView) -> str:
    """The schema.org NewsArticle that search engines read (https://schema.org/NewsArticle)."""
    assert article.published_at is not None
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": xml_text(article.title)[:HEADLINE_MAX],
        "datePublished": w3c(article.published_at),
        "dateModified": w3c(article.modified),
        "author": [{"@type": "Person", "name": xml_text(article.author_name)}],
        "publisher": {"@type": "Organization", "name": xml_text(settings.site_name)},
        "mainEntityOfPage": article_url(settings, article),
        "articleSection": article.category,
        "inLanguage": settings.language,
    }
    return orjson.dumps(data).decode().translate(_SCRIPT_ESCAPES)


def _retracted(settings: Settings, article: ArticleView) -> html.HtmlElement:
    assert article.retracted_at is not None
    notice = [
        E.P(E.A(xml_text(settings.site_name), href="/")),
        E.H1("This article was retracted"),
        E.P(f"“{xml_text(article.title)}” was retracted on ",
            E.TIME(f"{article.retracted_at:%d %B %Y}", datetime=w3c(article.retracted_at)), "."),
        E.P("Reason: ", xml_text(article.retraction_reason or "not given")),
    ]  # fmt: skip
    return _page(settings, "Retracted article", [E.META(name="robots", content="noindex")], notice)


def _not_found(settings: Settings, position: int) -> web.Response:
    body = [E.H1("Not found"), E.P("There is no article here. ", E.A("Latest news", href="/"))]
    page = _page(settings, "Not found", [E.META(name="robots", content="noindex")], body)
    return _html(page, position, status=404)


def _headline(article: ArticleView) -> html.HtmlElement:
    path = article_path(article.category, article.title, article.id)
    return E.LI(E.A(xml_text(article.title), href=path), f" — {article.category}, by ",
                xml_text(article.author_name))  # fmt: skip


def _page(
    settings: Settings, title: str, head: list[html.HtmlElement], body: list[html.HtmlElement]
) -> html.HtmlElement:
    viewport = E.META(name="viewport", content="width=device-width, initial-scale=1")
    page = E.HTML(E.HEAD(E.META(charset="utf-8"), viewport, E.TITLE(title), *head), E.BODY(*body))
    page.set("lang", settings.language)
    return page


def _html(page: html.HtmlElement, position: int, status: int = 200) -> web.Response:
    text = etree.tostring(page, method="html", encoding="unicode", doctype="<!DOCTYPE html>")
    return html_response(text, status, position=position)
