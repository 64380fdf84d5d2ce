"""The views newsroom serves, held in dispatch order, each handed out only while it is healthy.

Whoever answers from a view asks `views.articles`, `views.feeds`, `views.sitemaps` or
`views.search`: the property checks the view has not stopped (raising `ProjectionFailed` if it
has) before handing it out, so no handler has to remember to. A view that reads another stops
with it, so a healthy `feeds` also vouches for the articles it lists. The search view is also
refused (`Busy`, a 503 with Retry-After) while its index is built after the replay at start.
"""

from __future__ import annotations

from typing import Any

from newsroom.errors import Busy
from newsroom.projections.articles import ArticlesProjection
from newsroom.projections.base import Projector, in_dispatch_order
from newsroom.projections.feeds import FeedsProjection
from newsroom.projections.search import SearchProjection
from newsroom.projections.sitemaps import SitemapsProjection


class Views:
    """The articles, feeds, sitemaps and search views with their projectors."""

    def __init__(
        self,
        articles: ArticlesProjection,
        feeds: FeedsProjection,
        sitemaps: SitemapsProjection,
        search: SearchProjection,
    ) -> None:
        self._articles = Projector(articles)
        self._feeds = Projector(feeds)
        self._sitemaps = Projector(sitemaps)
        self.search_projector = Projector(search)
        """The search view's projector, for the index's build after the replay (search_build.py)."""
        search.failed = self._search_failed
        self.projectors: list[Projector[Any]] = in_dispatch_order(
            [self._articles, self._feeds, self._sitemaps, self.search_projector]
        )
        """Every projector, each after those of the views it reads: for the dispatcher, and for
        health reports."""

    def _search_failed(self, error: str) -> None:
        """The search index failed outside a dispatched batch (a checkpoint's hold or release):
        the view stops where it is, as it would have inside one."""
        if self.search_projector.failure is None:
            self.search_projector.fail(self.search_projector.position, error)

    @property
    def articles(self) -> ArticlesProjection:
        """The articles view; raises `ProjectionFailed` if it stopped."""
        return self._articles.checked()

    @property
    def feeds(self) -> FeedsProjection:
        """The feeds view; raises `ProjectionFailed` if it (or the articles view) stopped."""
        return self._feeds.checked()

    @property
    def sitemaps(self) -> SitemapsProjection:
        """The sitemaps view; raises `ProjectionFailed` if it (or the articles view) stopped."""
        return self._sitemaps.checked()

    @property
    def search(self) -> SearchProjection:
        """The search view; raises `ProjectionFailed` if it (or the articles view) stopped, and
        `Busy` while its index is being built after the replay."""
        search = self.search_projector.checked()
        if not search.caught_up:
            raise Busy("the search index is still being built after the restart; retry shortly")
        return search

    @property
    def position(self) -> int:
        """The log position the views reflect (each one still running is at it)."""
        return self._articles.position

    async def wait_for(self, position: int, timeout: float | None) -> None:
        """Wait until the views have applied `position` (read-your-writes).

        Every other view reads the articles view and is applied in the same dispatch, so when
        the articles view is at `position`, so is each view still running. A view that stopped
        is not waited for here: its property refuses to hand it out."""
        await self._articles.wait_for(position, timeout)
