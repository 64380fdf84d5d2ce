"""Field rules for articles: what a title, body, category or author may hold. Pure functions."""

from __future__ import annotations

import re

from newsroom.errors import ValidationError

# Length caps, in characters. A title of 300 characters must still fit (feeds are tested with one).
TITLE_MAX = 300
BODY_MAX = 100_000
CATEGORY_MAX = 64
AUTHOR_NAME_MAX = 200
REASON_MAX = 1_000
# Ids travel as GraphQL Int, a signed 32-bit number (https://spec.graphql.org/October2021/#sec-Int).
ID_MAX = 2**31 - 1

# Characters XML 1.0 cannot carry (https://www.w3.org/TR/xml/#charsets): C0 controls except
# tab, newline and carriage return, lone surrogates, U+FFFE and U+FFFF. Rejected here, so that
# no feed or sitemap has to drop them silently later.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_LINE_BREAK = re.compile("[\t\n\r\u2028\u2029]")
_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")

# Category slugs become the first segment of article URLs (/{category}/{slug}-{id}); these
# would collide with newsroom's own top-level routes.
RESERVED_CATEGORIES = frozenset(
    {
        "feed", "graphql", "healthz", "metrics", "readyz", "search", "sitemap", "sitemaps",
        "static", "api", "admin",
    }
)  # fmt: skip


def text(field: str, value: str, *, limit: int, single_line: bool = True) -> str:
    """Return `value` if non-blank, within `limit` and XML-safe; else raise naming `field`."""
    if not value.strip():
        raise ValidationError(f"{field} is required and must not be blank")
    if len(value) > limit:
        raise ValidationError(f"{field} is {len(value):,} characters long; the limit is {limit:,}")
    if bad := NOT_XML.search(value):
        raise ValidationError(
            f"{field} contains the character U+{ord(bad.group()):04X} at index {bad.start()}, "
            "which XML cannot carry; remove it"
        )
    if single_line and _LINE_BREAK.search(value):
        raise ValidationError(f"{field} must be a single line (no tabs or line breaks)")
    return value


def category(value: str) -> str:
    """Return `value` if it is a lowercase slug that is not reserved; else raise."""
    text("category", value, limit=CATEGORY_MAX)
    if not _SLUG.fullmatch(value):
        raise ValidationError(
            f"category {value!r} must be a lowercase slug: letters a-z, digits and single "
            "hyphens, e.g. 'world-news'"
        )
    if value in RESERVED_CATEGORIES:
        raise ValidationError(f"category {value!r} is reserved for one of newsroom's own routes")
    return value


def positive_id(field: str, value: int) -> int:
    """Return `value` if it is a positive id that fits a GraphQL Int; else raise naming `field`."""
    if isinstance(value, bool) or not 1 <= value <= ID_MAX:
        raise ValidationError(f"{field} must be a whole number from 1 to {ID_MAX}, got {value}")
    return value
