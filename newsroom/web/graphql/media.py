"""The media type a GraphQL reply goes out in, chosen from the client's Accept header, and the
status code each kind of reply gets in it.

GraphQL over HTTP (https://graphql.github.io/graphql-over-http/draft/#sec-Body) answers in
`application/graphql-response+json`, where the status code tells a request error (400) from an
executed operation (200), or in `application/json`, the older type, where any well-formed request
gets 200 and the body says what happened: a client cannot trust a non-200 `application/json`
reply to come from the GraphQL server rather than a proxy on the way.
"""

from __future__ import annotations

import functools
from typing import Any

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
HTML = "text/html"
POST_TYPES = (JSON, GRAPHQL_RESPONSE)
"""What POST answers in, in the order the server prefers them when the client does not say
(`*/*`, or no Accept header: application/json, as the spec asks of legacy clients)."""
GET_TYPES = (JSON, GRAPHQL_RESPONSE, HTML)
"""What GET answers in: a query's result, or GraphiQL for a browser."""
PAGE_FIRST = (HTML, JSON, GRAPHQL_RESPONSE)
"""GET without a query: a client that takes anything gets the page."""


@functools.lru_cache(maxsize=256)  # clients send a handful of distinct Accept headers
def negotiate(accept: str | None, offered: tuple[str, ...]) -> str | None:
    """The type of `offered` the client's Accept header prefers, or None if it accepts none.

    RFC 9110 section 12.5.1: each offered type takes the weight (q) of the most specific media
    range that matches it; the heaviest wins. Between types of equal weight, one the client
    names beats one it takes only through a wildcard (`*/*`, `application/*`), and of those it
    names, the first listed wins (the spec advises clients to send
    `application/graphql-response+json, application/json`, in that order); otherwise
    `offered`'s order decides. No Accept header is `*/*`.
    """
    ranges = _ranges(accept if accept is not None else "*/*")
    best: tuple[float, bool, int, int] | None = None
    chosen = None
    for rank, media in enumerate(offered):
        match = _match(ranges, media)
        if match is None or match[0] <= 0:
            continue
        weight, named, listed = match
        key = (weight, named, -listed if named else 0, -rank)
        if best is None or key > best:
            best, chosen = key, media
    return chosen


Range = tuple[str, str, float, int]  # type, subtype, weight, place in the header


def _ranges(accept: str) -> list[Range]:
    """The header's media ranges; a malformed one (no `/`, a weight that is not a number from 0
    to 1) is skipped, as if not sent."""
    ranges = []
    for place, part in enumerate(accept.split(",")):
        media, *params = (piece.strip() for piece in part.split(";"))
        kind, slash, subtype = media.lower().partition("/")
        if not slash or not kind or not subtype:
            continue
        weight = _weight(params)
        if weight is not None:
            ranges.append((kind, subtype, weight, place))
    return ranges


def _weight(params: list[str]) -> float | None:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                weight = float(value.strip())
            except ValueError:
                return None
            return weight if 0 <= weight <= 1 else None  # NaN fails both comparisons
    return 1.0


def _match(ranges: list[Range], media: str) -> tuple[float, bool, int] | None:
    """(weight, named exactly, place) of the most specific range that matches `media`."""
    kind, _, subtype = media.partition("/")
    found: tuple[int, Range] | None = None
    for candidate in ranges:
        ckind, csub = candidate[0], candidate[1]
        if (ckind, csub) == (kind, subtype):
            specific = 2
        elif (ckind, csub) == (kind, "*"):
            specific = 1
        elif (ckind, csub) == ("*", "*"):
            specific = 0
        else:
            continue
        if found is None or specific > found[0]:
            found = (specific, candidate)
    if found is None:
        return None
    specific, (_, _, weight, place) = found
    return weight, specific == 2, place


def request_error_status(media: str) -> int:
    """The status of a GraphQL request error (the document does not parse or validate, or
    breaks a limit; the operation cannot be chosen; the variables do not coerce): 400 in
    application/graphql-response+json; 200 in application/json, where the request was well
    formed and the body is a well-formed GraphQL response (the spec's "application/json"
    section)."""
    return 400 if media == GRAPHQL_RESPONSE else 200


UNAVAILABLE = 503


def executed_status(reply: dict[str, Any], store_failed: bool) -> int:
    """The status of an operation that ran: 200, partial results and field errors included; 503
    when the server could not do its part now (`replies.store_failed`) and there is no data
    to show for it. A reply with data is 200 whatever its errors: both media types require a
    2xx then."""
    return UNAVAILABLE if store_failed and reply.get("data") is None else 200


def not_acceptable_message(offered: tuple[str, ...]) -> str:
    """What a 406 says: the types this request could have had."""
    return f"the Accept header allows none of {', '.join(offered)}, the types this answers in"
