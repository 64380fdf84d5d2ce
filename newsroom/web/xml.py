"""The XML writers: RSS 2.0 and Atom 1.0 feeds, sitemaps, the Google News sitemap, the index.

Each writer takes what to publish (a `Feed`, a `Sitemap`) and the site's settings, and builds
the document with lxml, which escapes everything; nothing here formats XML as a string. Text
from events passes `xml_text` first: logs written before validation existed may hold characters
that XML cannot carry, and one such event must never break a feed.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import urlsplit

from lxml import etree

from newsroom.config import Settings
from newsroom.projections.articles import ArticleView
from newsroom.projections.feeds import Feed
from newsroom.projections.sitemaps import Sitemap
from newsroom.web.text import body_html, summary, xml_text
from newsroom.web.urls import article_url

ATOM = "http://www.w3.org/2005/Atom"
CONTENT = "http://purl.org/rss/1.0/modules/content/"
DC = "http://purl.org/dc/elements/1.1/"
SITEMAP = "http://www.sitemaps.org/schemas/sitemap/0.9"
NEWS = "http://www.google.com/schemas/sitemap-news/0.9"
TTL_MINUTES = 5  # RSS <ttl>: how long a reader may cache the feed (https://www.rssboard.org/rss-specification#ltttlgtSubelementOfLtchannelgt)


def _rfc822(moment: datetime) -> str:
    """RSS dates: RFC 822 with a four-digit year, as the RSS Best Practices Profile advises."""
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def w3c(moment: datetime) -> str:
    """W3C Datetime / RFC 3339 in UTC, to the second (sitemaps, Atom, Google News)."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def entry_id(settings: Settings, article: ArticleView) -> str:
    """A tag URI (RFC 4151) naming the article forever: a new title or category keeps it."""
    host = urlsplit(settings.public_url).hostname or "localhost"
    return f"tag:{host},{article.created.astimezone(UTC):%Y-%m-%d}:article:{article.id}"


def _root(tag: str, namespaces: dict[str | None, str]) -> etree._Element:
    """A document element declaring `namespaces` (None: the default namespace)."""
    return etree.Element(tag, nsmap=namespaces)  # type: ignore[arg-type]  # lxml-stubs: no None key


@functools.lru_cache(maxsize=4_096)
def _texts(article: ArticleView) -> tuple[str, str]:
    """An article's summary and body HTML, worked out once per version of it (views are
    immutable, and a feed is re-rendered with mostly the same articles each time)."""
    body = xml_text(article.body)
    return summary(body), body_html(body)


def _tostring(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True)


def _sub(
    parent: etree._Element, tag: str, text: str | None = None, **attrib: str
) -> etree._Element:
    element = etree.SubElement(parent, tag, attrib)
    if text is not None:
        element.text = xml_text(text)  # a no-op but for logs written before validation
    return element


# --- feeds -------------------------------------------------------------------------------------


def rss(feed: Feed, settings: Settings, self_url: str) -> bytes:
    """RSS 2.0 (https://www.rssboard.org/rss-specification), following the RSS Advisory Board's
    Best Practices Profile (https://www.rssboard.org/rss-profile)."""
    root = _root("rss", {"atom": ATOM, "content": CONTENT, "dc": DC})
    root.set("version", "2.0")
    channel = _sub(root, "channel")
    _sub(channel, "title", _feed_title(feed, settings))
    _sub(channel, "link", settings.public_url + "/")
    _sub(channel, "description", settings.site_description)
    _sub(channel, "language", settings.language)
    _sub(channel, "lastBuildDate", _rfc822(feed.changed.at))
    _sub(channel, "generator", "newsroom")
    _sub(channel, "ttl", str(TTL_MINUTES))
    _sub(channel, f"{{{ATOM}}}link", href=self_url, rel="self", type="application/rss+xml")
    for article in feed.items:
        plain, rich = _texts(article)
        item = _sub(channel, "item")
        _sub(item, "title", article.title)
        _sub(item, "link", article_url(settings, article))
        # RSS readers take <description> as HTML; the summary is text, so it goes in escaped.
        _sub(item, "description", html.escape(plain, quote=False))
        _sub(item, f"{{{CONTENT}}}encoded", rich)
        _sub(item, f"{{{DC}}}creator", article.author_name)
        _sub(item, "category", article.category)
        _sub(item, "guid", entry_id(settings, article), isPermaLink="false")
        assert article.published_at is not None  # feeds list published articles only
        _sub(item, "pubDate", _rfc822(article.published_at))
    return _tostring(root)


def atom(feed: Feed, settings: Settings, self_url: str) -> bytes:
    """Atom 1.0 (RFC 4287)."""
    root = _root(f"{{{ATOM}}}feed", {None: ATOM})
    root.set("{http://www.w3.org/XML/1998/namespace}lang", settings.language)
    _sub(root, f"{{{ATOM}}}id", self_url)
    _sub(root, f"{{{ATOM}}}title", _feed_title(feed, settings))
    _sub(root, f"{{{ATOM}}}subtitle", settings.site_description)
    _sub(root, f"{{{ATOM}}}updated", w3c(feed.changed.at))
    _sub(_sub(root, f"{{{ATOM}}}author"), f"{{{ATOM}}}name", settings.site_name)
    _sub(root, f"{{{ATOM}}}link", rel="self", type="application/atom+xml", href=self_url)
    _sub(root, f"{{{ATOM}}}link", rel="alternate", type="text/html", href=settings.public_url + "/")
    _sub(root, f"{{{ATOM}}}generator", "newsroom")
    for article in feed.items:
        entry = _sub(root, f"{{{ATOM}}}entry")
        _sub(entry, f"{{{ATOM}}}id", entry_id(settings, article))
        _sub(entry, f"{{{ATOM}}}title", article.title, type="text")
        url = article_url(settings, article)
        _sub(entry, f"{{{ATOM}}}link", rel="alternate", type="text/html", href=url)
        assert article.published_at is not None  # feeds list published articles only
        _sub(entry, f"{{{ATOM}}}published", w3c(article.published_at))
        _sub(entry, f"{{{ATOM}}}updated", w3c(article.modified))
        _sub(_sub(entry, f"{{{ATOM}}}author"), f"{{{ATOM}}}name", article.author_name)
        _sub(entry, f"{{{ATOM}}}category", term=article.category)
        plain, rich = _texts(article)
        _sub(entry, f"{{{ATOM}}}summary", plain, type="text")
        _sub(entry, f"{{{ATOM}}}content", rich, type="html")
    return _tostring(root)


def _feed_title(feed: Feed, settings: Settings) -> str:
    return settings.site_name if feed.category is None else f"{settings.site_name}: {feed.category}"


# --- sitemaps ----------------------------------------------------------------------------------


def urlset(sitemap: Sitemap, settings: Settings) -> bytes:
    """An article sitemap (https://www.sitemaps.org/protocol.html)."""
    root = _root(f"{{{SITEMAP}}}urlset", {None: SITEMAP})
    if sitemap.with_home:
        _sub(_sub(root, f"{{{SITEMAP}}}url"), f"{{{SITEMAP}}}loc", settings.public_url + "/")
    for article in sitemap.items():
        url = _sub(root, f"{{{SITEMAP}}}url")
        _sub(url, f"{{{SITEMAP}}}loc", article_url(settings, article))
        _sub(url, f"{{{SITEMAP}}}lastmod", w3c(article.modified))
    return _tostring(root)


def news_urlset(sitemap: Sitemap, settings: Settings) -> bytes:
    """A Google News sitemap
    (https://developers.google.com/search/docs/crawling-indexing/sitemaps/news-sitemap)."""
    root = _root(f"{{{SITEMAP}}}urlset", {None: SITEMAP, "news": NEWS})
    if sitemap.with_home:  # an empty window: the home page, so that the file stays valid
        _sub(_sub(root, f"{{{SITEMAP}}}url"), f"{{{SITEMAP}}}loc", settings.public_url + "/")
    for article in sitemap.items():
        url = _sub(root, f"{{{SITEMAP}}}url")
        _sub(url, f"{{{SITEMAP}}}loc", article_url(settings, article))
        news = _sub(url, f"{{{NEWS}}}news")
        publication = _sub(news, f"{{{NEWS}}}publication")
        _sub(publication, f"{{{NEWS}}}name", settings.site_name)
        _sub(publication, f"{{{NEWS}}}language", settings.language)
        assert article.published_at is not None  # the news window holds published articles
        _sub(news, f"{{{NEWS}}}publication_date", w3c(article.published_at))
        _sub(news, f"{{{NEWS}}}title", article.title)
    return _tostring(root)


def sitemap_index(entries: Sequence[tuple[str, datetime | None]]) -> bytes:
    """A sitemap index (https://www.sitemaps.org/protocol.html#index): (URL, lastmod) pairs; a
    file no event has changed yet (an empty log's) has no lastmod rather than an invented one."""
    root = _root(f"{{{SITEMAP}}}sitemapindex", {None: SITEMAP})
    for loc, modified in entries:
        sitemap = _sub(root, f"{{{SITEMAP}}}sitemap")
        _sub(sitemap, f"{{{SITEMAP}}}loc", loc)
        if modified is not None:
            _sub(sitemap, f"{{{SITEMAP}}}lastmod", w3c(modified))
    return _tostring(root)
