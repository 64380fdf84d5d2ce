"""URL slugs from titles: readable, Unicode-aware, never empty. Pure functions."""

from __future__ import annotations

import functools
import re
import unicodedata
from urllib.parse import quote

SLUG_MAX = 80  # characters; long titles make long URLs, and the id is what finds the article
_DASHES = re.compile("-+")


def slugify(title: str) -> str:
    """A lowercase slug of letters and digits of any script; 'article' if nothing is left.

    Accents on Latin letters fold away ("Café" -> "cafe"); other scripts stay whole, marks
    included ("Новый" -> "новый", "ガソリン", "한국"); an emoji-only title still gets a usable URL.
    """
    kept: list[str] = []
    for c in unicodedata.normalize("NFKD", title):
        if unicodedata.combining(c) and kept and kept[-1].isascii():
            continue  # an accent on a Latin letter
        kept.append(c.lower() if c.isalnum() or unicodedata.combining(c) else "-")
    text = unicodedata.normalize("NFC", "".join(kept))
    slug = _DASHES.sub("-", text).strip("-")[:SLUG_MAX].strip("-")
    return slug or "article"


@functools.lru_cache(maxsize=65_536)  # feeds and sitemaps ask for the same paths again and again
def article_path(category: str, title: str, article_id: int) -> str:
    """The canonical path of an article page, percent-encoded: /{category}/{slug}-{id}."""
    return f"/{category}/{quote(slugify(title))}-{article_id}"
