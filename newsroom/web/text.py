"""Article bodies for readers: plain text in, HTML paragraphs or a short plain summary out.

An article body is plain text (editors' line breaks and blank lines are its only structure).
Pages and feeds show it as HTML: a paragraph per blank-line-separated block, `<br>` for a single
line break, every character escaped by lxml, so `<script>` in a body stays text.
"""

from __future__ import annotations

import re

from lxml import etree, html
from lxml.html import builder as E

from newsroom.validation import NOT_XML

SUMMARY_MAX = 280  # characters of a feed item's plain-text description
_SPACES = re.compile(r"\s+")


def xml_text(text: str) -> str:
    """`text` without the characters XML 1.0 cannot carry (https://www.w3.org/TR/xml/#charsets).
    Validation refuses them today; logs written before it existed may still hold some."""
    return NOT_XML.sub("", text)


def paragraphs(body: str) -> list[html.HtmlElement]:
    """The body as `<p>` elements; line breaks inside a paragraph become `<br>`. Nothing is
    trimmed or merged, so the text of the paragraphs joined by blank lines is the body again."""
    result = []
    for block in body.split("\n\n"):
        lines = block.split("\n")
        children: list[str | html.HtmlElement] = [lines[0]]
        for line in lines[1:]:
            children += [E.BR(), line]
        result.append(E.P(*children))
    return result


def body_html(body: str) -> str:
    """The body as an HTML fragment (for RSS content:encoded and Atom content)."""
    return "".join(etree.tostring(p, method="html", encoding="unicode") for p in paragraphs(body))


def summary(body: str) -> str:
    """The start of the body as one plain line, cut at a word and marked with an ellipsis.

    Only the start of the body is flattened (pages list twenty summaries per request, of bodies
    up to 100,000 characters): further only while white space keeps it within SUMMARY_MAX."""
    end = 2 * SUMMARY_MAX
    flat = _SPACES.sub(" ", body[:end]).strip()
    while len(flat) <= SUMMARY_MAX and end < len(body):
        end *= 4
        flat = _SPACES.sub(" ", body[:end]).strip()
    if len(flat) <= SUMMARY_MAX:
        return flat
    cut = flat[: SUMMARY_MAX - 1]
    if " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip() + "…"
