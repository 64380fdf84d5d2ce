"""The site's public URLs, in one place: the canonical address of an article's page."""

from __future__ import annotations

from typing import Protocol

from newsroom.config import Settings
from newsroom.slugs import article_path


class Linkable(Protocol):
    """Anything that names an article: a view, or the domain's state (time travel)."""

    @property
    def id(self) -> int: ...
    @property
    def title(self) -> str: ...
    @property
    def category(self) -> str: ...


def article_url(settings: Settings, article: Linkable) -> str:
    """The canonical, absolute URL of an article's page (feeds, sitemaps, pages, the API)."""
    return settings.public_url + article_path(article.category, article.title, article.id)
