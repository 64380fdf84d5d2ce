"""Pages that say, in plain words, why there is nothing to read here and where to go instead:
404 (no published article at this address) and 410 Gone (the publisher retracted it). Search
engines are asked not to index them.
"""

from __future__ import annotations

from lxml import html
from lxml.html import builder as E

from newsroom.config import Settings
from newsroom.projections.articles import ArticleView
from newsroom.web.layout import Child, Head, page, when
from newsroom.web.text import xml_text


def not_found(settings: Settings, article: bool = True) -> html.HtmlElement:
    """The 404 page of an address that leads nowhere: an article's (`article`) or any other."""
    what = "no article" if article else "nothing"
    why = " The link may be mistyped"
    why += ", or the article may not have been published yet." if article else "."
    body: list[Child] = [
        E.H1("Page not found"),
        E.P(f"There is {what} at this address.{why}"),
        _where_next(),
    ]
    head = Head("Page not found", f"There is {what} at this address.", indexed=False)
    return page(settings, head, body)


def retracted(settings: Settings, article: ArticleView) -> html.HtmlElement:
    """The 410 page of a retracted article: what happened, when, and why, if the publisher said."""
    title = xml_text(article.title)
    what: list[Child] = [f"The publisher of {xml_text(settings.site_name)} retracted the article "
                         f"“{title}”"]  # fmt: skip
    if article.retracted_at is not None:
        what += [" on ", when(article.retracted_at, with_time=False)]
    what.append(". It has been withdrawn and is no longer available, here or in the feeds.")
    reason = article.retraction_reason
    body: list[Child] = [
        E.H1("This article was retracted"),
        E.P(*what, E.CLASS("notice")),
        E.P("The reason given: ", xml_text(reason)) if reason else E.P("No reason was given."),
        _where_next(),
    ]
    head = Head("Retracted article", f"“{title}” was retracted by its publisher.", indexed=False)
    return page(settings, head, body)


def _where_next() -> html.HtmlElement:
    return E.P(
        "You can read ", E.A("the latest news", href="/"), " or ",
        E.A("search the articles", href="/search"), ".",
    )  # fmt: skip
