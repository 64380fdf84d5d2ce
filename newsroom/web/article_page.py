"""One published article's page: the story, and what search engines and social sites read of
it: a description (the summary), the canonical URL, Open Graph and Twitter card tags, and a
schema.org NewsArticle in JSON-LD, every URL absolute. The JSON-LD is escaped for a <script>
element on top of lxml's escaping.
"""

from __future__ import annotations

from typing import Any

import orjson
from lxml import html
from lxml.html import builder as E

from newsroom.config import Settings
from newsroom.projections.articles import ArticleView
from newsroom.web.layout import Head, page, when
from newsroom.web.text import paragraphs, summary, xml_text
from newsroom.web.urls import article_url
from newsroom.web.xml import w3c

HEADLINE_MAX = 110  # characters; Google's limit for a NewsArticle headline
# Inside <script>, "</script>" or "<!--" in the JSON would end or confuse the element.
_SCRIPT_ESCAPES = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026"}


def article_page(settings: Settings, article: ArticleView) -> html.HtmlElement:
    """The page of a published article."""
    assert article.published_at is not None  # only published articles get here
    title, url = xml_text(article.title), article_url(settings, article)
    byline = E.P(
        "By ", xml_text(article.author_name), " · ", when(article.published_at), " · ",
        E.A(article.category, href=f"/feed/{article.category}", title="The category's feed"),
        E.CLASS("meta"),
    )  # fmt: skip
    permalink = E.P("Link to this article: ", E.A(url, E.CLASS("url"), href=url), E.CLASS("note"))
    story = E.ARTICLE(
        E.H1(title), byline, *paragraphs(xml_text(article.body)), E.FOOTER(permalink),
        E.CLASS("story"),
    )  # fmt: skip
    properties = [
        ("article:published_time", w3c(article.published_at)),
        ("article:modified_time", w3c(article.modified)),
        ("article:section", article.category),
    ]
    head = Head(
        title=title,
        description=xml_text(summary(article.body)),
        canonical=url,
        kind="article",
        properties=properties,
        extra=[
            E.META(name="author", content=xml_text(article.author_name)),
            E.SCRIPT(_json_ld(settings, article), type="application/ld+json"),
        ],
    )
    return page(settings, head, [story])


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
