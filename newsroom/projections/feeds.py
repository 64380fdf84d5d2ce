"""The feeds read model: which articles each feed lists, and when each feed last changed.

There is one feed for all news (category None), there from the start (empty, and stamped
`BEFORE_ANY_EVENT` until an article is published), and one per category that any article has
used.
A feed lists the newest published articles (by the time they were published); the articles
themselves come from the articles view, which this view reads: the dispatcher applies it first
and hands over what each event changed there. What this view adds is the stamp of the last event
that changed each feed, so that an edit in politics leaves the business feed's validators (ETag,
Last-Modified) as they were.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import NamedTuple

from newsroom.events import PUBLISHED
from newsroom.projections.articles import ArticlesProjection, ArticleView, Change, Placement
from newsroom.projections.base import BEFORE_ANY_EVENT, Stamp
from newsroom.store import Recorded

FEED_ITEMS = 20  # the seed's number of items per feed


class Feed(NamedTuple):
    """One feed as it stands: its newest articles (newest first) and its last change."""

    category: str | None
    items: list[ArticleView]
    changed: Stamp


class FeedsProjection:
    """Per-feed change stamps over the articles view; `feed(category)` assembles one feed."""

    name = "feeds"
    reads = ("articles",)

    def __init__(self, articles: ArticlesProjection, size: int = FEED_ITEMS) -> None:
        if size < 1:
            raise ValueError(f"a feed lists at least one article, not {size}")
        self._articles = articles
        self._size = size
        self._changed: dict[str | None, Stamp] = {None: BEFORE_ANY_EVENT}

    def feed(self, category: str | None) -> Feed | None:
        """The feed for `category` (None: all news, always there), or None if no article ever
        used the category."""
        if category not in self._changed:
            return None
        items = self._articles.latest(PUBLISHED, category, self._size)
        return Feed(category, items, self._changed[category])

    def changed(self, category: str | None) -> Stamp | None:
        """The last change to the feed for `category`, or None if there is no such feed."""
        return self._changed.get(category)

    def categories(self) -> list[str]:
        """Every category that has a feed, sorted."""
        return sorted(c for c in self._changed if c is not None)

    def fingerprint(self) -> str:
        return hashlib.sha256(repr(sorted(self._changed.items(), key=repr)).encode()).hexdigest()

    def snapshot(self) -> dict[str | None, Stamp]:
        """The state for a checkpoint: a copy of the stamps (immutable) by feed."""
        return self._changed.copy()

    def restore(self, parts: Iterable[dict[str | None, Stamp]]) -> None:
        """Take the state of a snapshot, saved in one part (into a fresh view)."""
        for state in parts:
            self._changed = state

    def apply(self, recorded: Recorded, change: Change | None) -> None:
        """Stamp the feeds that `change` (what the event did in the articles view) touched."""
        if change is None:
            return
        stamp = Stamp(recorded.position, change.at)
        self._changed.setdefault(change.after.category, stamp)  # the feed exists from now on
        before, after = change.before, change.after
        # An edit that leaves the article in place is one placement to check, not two.
        for placement in (after,) if before is after else (before, after):
            if placement is not None and placement.status is PUBLISHED:
                for feed in (None, placement.category):
                    if self._listed(placement, feed):
                        self._changed[feed] = stamp

    def _listed(self, placement: Placement, feed: str | None) -> bool:
        """Whether an article placed so is (or was, just before this event) among the feed's
        newest. Articles newer than it are unaffected by its coming or going, so the list as
        it is now answers for both moments: fewer than `size` keys sort above the article's
        exactly when the `size`-th newest does not. One comparison, where counting the keys
        above it took a binary search of the feed's whole list (an event of a replay asks up to
        four times: two feeds, the places before and after)."""
        keys = self._articles.keys(PUBLISHED, feed)
        return len(keys) < self._size or keys[-self._size] <= placement.key
