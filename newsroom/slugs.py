"""URL slugs from titles: readable, Unicode-aware, never empty. Pure functions."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

SLUG_MAX = 80  # characters; long titles make long URLs, and the id is what finds the article
_DASHES = re.compile("-+")


def slugify(title: str) -> str:
    """A lowercase slug of letters and digits of any script; 'article' if nothing is left.

    Accents fold away ("Café" -> "cafe"), other scripts stay ("Новости" -> "новости"), and an
    emoji-only title still gets a usable URL.
    """
    decomposed = unicodedata.normalize("NFKD", title)
    kept = "".join(
        c.lower() if c.isalnum() else "-" for c in decomposed if not unicodedata.combining(c)
    )
    slug = _DASHES.sub("-", kept).strip("-")[:SLUG_MAX].strip("-")
    return slug or "article"


def article_path(category: str, title: str, article_id: int) -> str:
    """The canonical path of an article page, percent-encoded: /{category}/{slug}-{id}."""
    return f"/{category}/{quote(slugify(title))}-{article_id}"
