"""The search as an HTML page, for browsers (web/search.py decides who gets it): the results with
their snippets, facets as links that narrow the search, links to the previous and next pages,
and plain words for no results and for a search that cannot run.

Everything a reader typed is echoed only as lxml text or attribute values, so it is escaped; the
search view's snippets (HTML-escaped text with matches in <mark>) are turned back into text and
<mark> elements here, never inserted as markup.
"""

from __future__ import annotations

import html as entities
import re
from typing import Any
from urllib.parse import urlencode

from lxml import html
from lxml.html import builder as E

from newsroom.config import Settings
from newsroom.projections.search import Results
from newsroom.web.http import Refusal
from newsroom.web.inputs import SEARCH_FIRST, SearchRequest, encode_cursor
from newsroom.web.layout import Child, Head, page, search_form, story_item
from newsroom.web.text import xml_text

_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
"""Bidirectional embedding and override controls: echoed, they make text read as another."""

TIPS = ("Every word must match. Use \"quotes\" for a phrase, a* for words that begin with a, "
        "and -word to leave out articles with that word.")  # fmt: skip
_MARKED = re.compile("<mark>(.*?)</mark>", re.DOTALL)


def results_page(
    settings: Settings, asked: SearchRequest, results: Results, hits: list[dict[str, Any]]
) -> html.HtmlElement:
    """One page of results: hits with their snippets, links to the pages around it, facets."""
    text = _BIDI.sub("", xml_text(asked.text))  # no reordering of the page around it
    body: list[Child] = [E.H1(f"Results for “{text}”"), _form(text), *_summary(asked, results)]
    if hits:
        items = [story_item(hit["article"], highlighted(hit["snippet"])) for hit in hits]
        body += [E.H2("Results"), E.OL(*items, E.CLASS("stories")), *_pages(asked, results)]
    elif results.total:  # a page past the end (an old cursor)
        first = E.A("the first page", href=_href(asked.text, asked.category, asked.first))
        body.append(E.P("There are no results on this page; go back to ", first, "."))
    if results.facets:
        body += _facets(asked, results.facets)
    site = xml_text(settings.site_name)
    head = Head(
        f"Search: {text}",
        f"Articles of {site} that match “{text}”.",
        canonical=settings.public_url + _href(asked.text, asked.category),
        indexed=False,  # result pages are not content of their own
    )
    return page(settings, head, body, header_search=False)


def form_page(settings: Settings) -> html.HtmlElement:
    """GET /search without a query: the search box."""
    body: list[Child] = [E.H1("Search"), _form("")]
    site = xml_text(settings.site_name)
    head = Head("Search", f"Search the articles of {site}.", settings.public_url + "/search")
    return page(settings, head, body, header_search=False)


def refused_page(settings: Settings, typed: str, refused: Refusal) -> html.HtmlElement:
    """A search that cannot run: a bad parameter (400, naming it) or a passing shortage (503)."""
    title = "The search could not be run" if refused.status < 500 else "Search is busy"
    body: list[Child] = [
        E.H1(title),
        E.P(xml_text(refused.message), E.CLASS("notice")),
        E.P("Change the search and try again." if refused.status < 500
            else "Please try again in a moment."),
        _form(xml_text(typed)),
    ]  # fmt: skip
    return page(settings, Head(title, title + ".", indexed=False), body, header_search=False)


def highlighted(snippet: str) -> list[Child]:
    """A snippet from the search view as text and <mark> elements. The view escaped everything
    but its own <mark> tags, so a "<" in it can only be one of them; the rest is unescaped back
    to plain text, which lxml escapes again as it writes the page."""
    parts: list[Child] = []
    start = 0
    for match in _MARKED.finditer(snippet):
        parts += [_plain(snippet[start : match.start()]), E.MARK(_plain(match.group(1)))]
        start = match.end()
    parts.append(_plain(snippet[start:]))
    return parts


def _plain(escaped: str) -> str:
    return xml_text(entities.unescape(escaped))


def _form(text: str) -> html.HtmlElement:
    return E.DIV(search_form(text, "q", "Search for", label_shown=True), E.P(TIPS, E.CLASS("note")))


def _summary(asked: SearchRequest, results: Results) -> list[html.HtmlElement]:
    """How many articles matched, and where (with a way out of a category filter)."""
    where = f" in {asked.category}" if asked.category else ""
    if not results.total:
        found: list[Child] = [f"No published article{where} matches every word of this search. "
                              "Try fewer words or other spellings."]  # fmt: skip
    elif results.exact:
        found = [f"{results.total} article{'s' if results.total != 1 else ''} found{where}."]
    else:
        found = [f"More than {results.total} articles found{where}; the newest {results.total} "
                 "are shown, best first. Add words to narrow the search."]  # fmt: skip
    if asked.category:
        found += [" ", E.A("Search every category", href=_href(asked.text, None, asked.first))]
    return [E.P(*found, E.CLASS("note"))]


def _pages(asked: SearchRequest, results: Results) -> list[html.HtmlElement]:
    """Links to the previous and the next page, by the cursors of this page's first and last hit
    (of those the index gave, shown or not)."""
    links = []
    if results.earlier:
        before = encode_cursor(results.hits[0].key)
        href = _href(asked.text, asked.category, asked.first, before=before)
        links.append(E.LI(E.A("← Previous results", href=href, rel="prev")))
    if results.more:
        after = encode_cursor(results.hits[-1].key)
        href = _href(asked.text, asked.category, asked.first, after=after)
        links.append(E.LI(E.A("More results →", href=href, rel="next")))
    if not links:
        return []
    return [E.NAV(E.UL(*links), E.CLASS("pages"), {"aria-label": "Result pages"})]


def _facets(asked: SearchRequest, facets: dict[str, int]) -> list[html.HtmlElement]:
    """The categories with matches, each a link that narrows the search to it."""
    items = []
    for category, count in sorted(facets.items()):
        link = E.A(category, href=_href(asked.text, category, asked.first))
        if category == asked.category:
            link.set("aria-current", "true")
        items.append(E.LI(link, f" ({count})"))
    if asked.category:
        items.append(E.LI(E.A("Every category", href=_href(asked.text, None, asked.first))))
    return [E.H2("By category"), E.UL(*items, E.CLASS("facets"))]


def _href(
    text: str,
    category: str | None,
    first: int = SEARCH_FIRST,
    after: str | None = None,
    before: str | None = None,
) -> str:
    """The path and query of a search: the text, and the rest only where it is not the default."""
    params = [("q", xml_text(text))]
    params += [("category", category)] if category else []
    params += [("first", str(first))] if first != SEARCH_FIRST else []
    params += [("after", after)] if after else []
    params += [("before", before)] if before else []
    return "/search?" + urlencode(params)
