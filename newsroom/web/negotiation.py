"""Content negotiation: which of the media types a route can send the client prefers.

RFC 9110 section 12.5.1: each media range in `Accept` may carry a quality (`q`, 0 to 1); an
offered type takes the quality of the most specific range that matches it (`text/html` over
`text/*` over `*/*`), and a quality of 0 means "not acceptable". A route lists its offers with
its default first: ties, an absent or unreadable header, and a header that accepts none of the
offers all get the default (the RFC allows that rather than a 406, and API clients expect it).
"""

from __future__ import annotations

import functools
import re

# qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )   (RFC 9110 section 12.4.2)
_QVALUE = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
Range = tuple[str, str, float]
"""A media range from Accept: type, subtype (either may be *), quality."""


def preferred(accept: str | None, offers: tuple[str, ...]) -> str:
    """The offer the client ranks highest by `accept`; the first offer when none ranks above
    the rest (or none is acceptable)."""
    if not accept:
        return offers[0]
    return _preferred(accept, offers)


@functools.lru_cache(maxsize=256)  # clients send a handful of distinct values
def _preferred(accept: str, offers: tuple[str, ...]) -> str:
    ranges = _ranges(accept)
    best, best_quality = offers[0], 0.0
    for offer in offers:
        quality = _quality(offer, ranges)
        if quality > best_quality:
            best, best_quality = offer, quality
    return best


def _quality(offer: str, ranges: list[Range]) -> float:
    """The quality of the most specific range matching `offer` (0 if none matches)."""
    kind, _, subtype = offer.partition("/")
    found, specificity = 0.0, -1
    for range_kind, range_subtype, quality in ranges:
        if range_kind == kind and range_subtype == subtype:
            rank = 2
        elif range_kind == kind and range_subtype == "*":
            rank = 1
        elif range_kind == "*" and range_subtype == "*":
            rank = 0
        else:
            continue
        if rank > specificity:
            found, specificity = quality, rank
    return found


def _ranges(accept: str) -> list[Range]:
    """The well-formed media ranges of an Accept header; malformed ones are skipped."""
    ranges = []
    for part in accept.split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        kind, slash, subtype = media.lower().partition("/")
        if not (slash and _TOKEN.fullmatch(kind) and _TOKEN.fullmatch(subtype)):
            continue
        if kind == "*" and subtype != "*":
            continue  # "*/html" is no media range
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                value = value.strip()
                quality = float(value) if _QVALUE.fullmatch(value) else 0.0
        ranges.append((kind, subtype, quality))
    return ranges
