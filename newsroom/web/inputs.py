"""What a client may send, each rule written once: article ids, list sizes, cursors, search text.

GraphQL (its argument table, `web/graphql/arguments.py`) and the HTTP routes (`/search`) check
their input with these functions, so a rule and its message are the same on every route. Each
takes the argument's name (for the message) and its value, and returns the value as newsroom
uses it, or raises `ValidationError` naming the problem.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from newsroom import validation
from newsroom.errors import ValidationError
from newsroom.projections.search import SortKey
from newsroom.projections.search_query import Query, parse
from newsroom.validation import ID_MAX

COUNT_MAX = 50  # articles per list or page
SEARCH_FIRST = 10  # hits per page of search results, unless the client asks for another count
EVENTS_MAX = 1_000  # events per `events` query
Rule = Callable[[str, Any], Any]


def article_id(name: str, value: Any) -> int:
    """An article (or author) id from its number or its Relay global id."""
    text = str(value).strip()
    if not text.isdigit():
        text = _from_global_id(text)
    if not text.isascii() or not text.isdigit() or not 0 < int(text) <= ID_MAX:
        raise ValidationError(
            f"{name} must be a positive whole number (at most {ID_MAX}), got {str(value)[:40]!r}"
        )
    return int(text)


def global_id(article_id: int) -> str:
    """The Relay global id of an article."""
    return base64.b64encode(f"Article:{article_id}".encode()).decode()


def _from_global_id(text: str) -> str:
    try:
        kind, _, number = base64.b64decode(text.encode(), validate=True).decode().partition(":")
    except (ValueError, UnicodeError):  # binascii.Error is a ValueError
        return text
    return number if kind == "Article" else text


def count(limit: int) -> Rule:
    """The rule for a list size: a whole number from 1 to `limit`."""

    def check(name: str, value: int) -> int:
        if not 1 <= value <= limit:
            raise ValidationError(f"{name} must be between 1 and {limit}, got {value}")
        return value

    return check


def at_least(minimum: int) -> Rule:
    """The rule for a position or version: a whole number of `minimum` or more."""

    def check(name: str, value: int) -> int:
        if value < minimum:
            raise ValidationError(f"{name} must be {minimum} or more, got {value}")
        return value

    return check


def category(name: str, value: str) -> str:
    """A category filter: a slug, or there is nothing it could match. (`name` is unused: the
    domain's rule names the category itself; every rule takes it, to share one signature.)"""
    return validation.category(value)


STREAM_MAX = 200  # characters; streams are named `article-<id>`


def stream_name(name: str, value: str) -> str:
    """A log stream's name: one line of text the log can hold (no lone surrogates, no control
    characters), else the store would fail on it as if it were broken."""
    return validation.text(name, value, limit=STREAM_MAX)


def search_text(name: str, value: str) -> Query:
    """What a reader typed into a search box, parsed into terms. (`name` is unused: the parser's
    messages speak of "the search"; every rule takes it, to share one signature.)"""
    return parse(value)


# --- cursors: one codec, a tuple of numbers as URL-safe base64 of a JSON array ------------------


def encode_cursor(key: tuple[float | int, ...]) -> str:
    """An opaque cursor for the list entry that sorts at `key`."""
    return base64.urlsafe_b64encode(orjson.dumps(key)).decode()


def _decode_cursor(text: str, kinds: tuple[type, ...]) -> tuple[Any, ...] | None:
    """The key a cursor stands for if it has the given kinds of number (finite), else None."""
    try:
        values = orjson.loads(base64.urlsafe_b64decode(text.encode()))
    except (ValueError, TypeError, UnicodeError, binascii.Error, orjson.JSONDecodeError):
        return None
    if not isinstance(values, list) or len(values) != len(kinds):
        return None
    key = []
    for value, kind in zip(values, kinds, strict=True):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        if kind is int and not isinstance(value, int):
            return None
        if not math.isfinite(value):
            return None
        key.append(kind(value))
    return tuple(key)


def list_cursor(name: str, value: str) -> tuple[float, int]:
    """An `articleConnection` cursor: (time the article entered its status, id)."""
    key = _decode_cursor(value, (float, int))
    if key is None:
        raise ValidationError(f"{name} must be a cursor this API gave out (endCursor)")
    return key


def search_cursor(name: str, value: str) -> SortKey:
    """A search cursor: (score, -published time, -id), as `SortKey` orders hits."""
    key = _decode_cursor(value, (float, float, int))
    if key is None or not -ID_MAX <= key[2] < 0:
        raise ValidationError(f"{name} must be a cursor a search gave out (next)")
    return key


# --- a search request, as GET /search takes it ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """What a GET /search asks for, checked: the text as given, its terms, the filter, the page."""

    text: str
    query: Query
    category: str | None
    first: int
    after: SortKey | None
    before: SortKey | None = None


def search_request(params: Mapping[str, str], backwards: bool = False) -> SearchRequest:
    """The search a query string asks for (`q`, `first`, `category`, `after`, and with
    `backwards` `before`, the cursor of a page back); ValidationError naming the first problem."""
    if "q" not in params:
        raise ValidationError("give the words to search for as ?q=…")
    first_text = params.get("first", str(SEARCH_FIRST))
    if not first_text.isascii() or not first_text.isdigit() or len(first_text) > 4:
        raise ValidationError(f"first must be a whole number from 1 to {COUNT_MAX}")
    first = count(COUNT_MAX)("first", int(first_text))
    category_filter = params.get("category") or None
    if category_filter is not None:
        category("category", category_filter)
    after, before = params.get("after"), params.get("before") if backwards else None
    if after is not None and before is not None:
        raise ValidationError("give after (the next page) or before (the page back), not both")
    after_key = search_cursor("after", after) if after is not None else None
    before_key = search_cursor("before", before) if before is not None else None
    query = search_text("q", params["q"])
    return SearchRequest(params["q"], query, category_filter, first, after_key, before_key)
