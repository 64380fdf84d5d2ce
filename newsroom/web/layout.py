"""The frame every reader page shares (home, articles, search, 404, 410), and its reply.

A page is a `Head` (title, description, canonical URL, what social sites read) and the content
of its `<main>`; `page` puts them in one layout: the site header (skip link, name, navigation,
search box), `<main>`, and a footer with the feeds and the machine-readable surfaces, styled by
the one stylesheet (web/assets.py). Everything is built with lxml, which escapes every piece of
text and every attribute; text from readers or articles goes through `xml_text` first, which
drops the few characters HTML cannot carry, so nothing anyone sends can break a page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias

from aiohttp import web
from lxml import etree, html
from lxml.html import builder as E

from newsroom.config import Settings
from newsroom.projections.articles import ArticleView
from newsroom.slugs import article_path
from newsroom.web.assets import ICON, STYLESHEET
from newsroom.web.http import html_response
from newsroom.web.text import xml_text
from newsroom.web.xml import w3c

Child: TypeAlias = "str | html.HtmlElement"
"""What an element holds: text (escaped by lxml) or another element."""


@dataclass(frozen=True, slots=True)
class Head:
    """What a page says about itself in its <head>."""

    title: str
    """What the page is; the <title> adds the site's name to it (unless it is the name)."""
    description: str
    canonical: str | None = None
    """The page's absolute URL; None for a page that stands for nothing (404, 410)."""
    kind: str = "website"
    """Its Open Graph type: website, or article (https://ogp.me/#types)."""
    properties: Sequence[tuple[str, str]] = ()
    """More Open Graph properties, e.g. ("article:section", "business")."""
    extra: Sequence[html.HtmlElement] = ()
    indexed: bool = True
    """False: search engines are asked not to index it (robots noindex)."""


def page(
    settings: Settings, head: Head, main: Sequence[Child], header_search: bool = True
) -> html.HtmlElement:
    """The whole page: `head`, the site header (with a search box unless the page has its own),
    `main` as the page's main content, the footer."""
    site = xml_text(settings.site_name)
    body = E.BODY(
        _header(site, header_search),
        E.MAIN(*main, id="main", tabindex="-1"),
        _footer(settings, site),
    )
    document = E.HTML(E.HEAD(*_head(settings, site, head)), body)
    document.set("lang", settings.language)
    return document


def _head(settings: Settings, site: str, head: Head) -> list[html.HtmlElement]:
    description, title = xml_text(head.description), xml_text(head.title)
    tags = [
        E.META(charset="utf-8"),
        E.META(name="viewport", content="width=device-width, initial-scale=1"),
        E.TITLE(title if title == site else f"{title} — {site}"),
        E.META(name="description", content=description),
        E.LINK(rel="stylesheet", href=STYLESHEET),
        E.LINK(rel="icon", href=ICON, type="image/svg+xml"),
        E.LINK(rel="alternate", type="application/rss+xml", href="/feed", title=f"{site}: news"),
    ]
    if not head.indexed:
        tags.append(E.META(name="robots", content="noindex"))
    if head.canonical is not None:
        tags.append(E.LINK(rel="canonical", href=head.canonical))
        tags += _social(site, head, description, head.canonical)
    return tags + list(head.extra)


def _social(site: str, head: Head, description: str, url: str) -> list[html.HtmlElement]:
    """Open Graph (https://ogp.me/) and a Twitter summary card: what a shared link shows."""
    title = xml_text(head.title)
    properties = [("og:type", head.kind), ("og:site_name", site), ("og:title", title),
                  ("og:description", description), ("og:url", url), *head.properties]  # fmt: skip
    tags = [E.META(property=name, content=value) for name, value in properties]
    cards = [("twitter:card", "summary"), ("twitter:title", title),
             ("twitter:description", description)]  # fmt: skip
    return tags + [E.META(name=name, content=value) for name, value in cards]


def _header(site: str, search: bool) -> html.HtmlElement:
    links = [("/", "Latest news"), ("/search", "Search")]
    header = E.HEADER(
        E.A("Skip to main content", E.CLASS("skip"), href="#main"),
        E.P(E.A(site, href="/"), E.CLASS("brand")),
        E.NAV(E.UL(*[E.LI(E.A(text, href=href)) for href, text in links]), {"aria-label": "Site"}),
    )
    if search:
        header.append(search_form("", "site-search", "Search articles", label_shown=False))
    return header


def _footer(settings: Settings, site: str) -> html.HtmlElement:
    links = [("/feed", "RSS feed"), ("/feed.atom", "Atom feed"), ("/sitemap.xml", "Sitemaps"),
             ("/graphql", "GraphQL API")]  # fmt: skip
    return E.FOOTER(
        E.P(f"{site}: {xml_text(settings.site_description)}"),
        E.NAV(
            E.UL(*[E.LI(E.A(text, href=href)) for href, text in links]),
            {"aria-label": "Feeds and data"},
        ),
    )


def search_form(value: str, field_id: str, label: str, label_shown: bool) -> html.HtmlElement:
    """A plain GET form to /search (no script): the box holds `value`, escaped by lxml."""
    label_element = E.LABEL(label, E.FOR(field_id))
    if not label_shown:
        label_element.set("class", "visually-hidden")
    box = E.INPUT(type="search", id=field_id, name="q", value=xml_text(value), required="")
    return E.FORM(
        label_element,
        box,
        E.BUTTON("Search", type="submit"),
        E.CLASS("search"),
        role="search",
        action="/search",
        method="get",
    )


def when(moment: datetime, with_time: bool = True) -> html.HtmlElement:
    """A <time> element: machine-readable in `datetime`, readable in its text (UTC)."""
    shown = f"{moment.day} {moment:%B %Y}"
    if with_time:
        shown += f", {moment:%H:%M} UTC"
    return E.TIME(shown, datetime=w3c(moment))


def story_item(article: ArticleView, text: list[Child]) -> html.HtmlElement:
    """One article in a list (the latest, search results): headline, time, category, author,
    and `text` (its summary, or a search snippet)."""
    assert article.published_at is not None  # lists show published articles only
    path = article_path(article.category, article.title, article.id)
    meta = [when(article.published_at), f" · {article.category} · by ",
            xml_text(article.author_name)]  # fmt: skip
    return E.LI(
        E.H3(E.A(xml_text(article.title), href=path)),
        E.P(*meta, E.CLASS("meta")),
        E.P(*text),
    )


def reply(
    document: html.HtmlElement,
    position: int | None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """The page as an HTML5 response with the headers every page carries (web/http.py)."""
    text = etree.tostring(document, method="html", encoding="unicode", doctype="<!DOCTYPE html>")
    response = html_response(text, status, position=position)
    response.headers.update(headers or {})
    return response
