"""The search read model: published articles in a full-text index, kept in step with the log.

The projection decides *what* is searchable: an article is indexed when it is published,
re-indexed when it is updated, and removed the moment it is retracted (in the same dispatch as
every other view). It reads the articles view: the dispatcher applies that first and hands over
what each event changed there. *How* it is searched belongs to a `SearchIndex` (SQLite FTS5 in
memory today); any engine with these four operations can replace it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from newsroom.events import PUBLISHED
from newsroom.projections.articles import ArticlesProjection, ArticleView, Change
from newsroom.projections.search_query import Query
from newsroom.store import Recorded

SortKey = tuple[float, float, int]
"""Where a hit sorts: (score, -published time, -id); lower comes first. Cursors carry it."""


@dataclass(frozen=True, slots=True)
class Hit:
    """One result: the article's id, its relevance, and a snippet of safe HTML."""

    article_id: int
    score: float
    """Higher is more relevant (BM25, title weighted above body)."""
    snippet: str
    """Text around the matches with each match in <mark>; everything else HTML-escaped."""
    key: SortKey


@dataclass(frozen=True, slots=True)
class Results:
    """One page of results, the total for the whole search, and counts per category."""

    hits: list[Hit]
    total: int
    facets: dict[str, int]
    """Matches per category, ignoring the category filter (so a reader sees where else to go)."""
    more: bool
    exact: bool = True
    """False when the search matched more articles than an index covers per search: hits, total
    and facets then come from the newest of them, and total is a lower bound."""


class SearchIndex(Protocol):
    """A full-text index of articles."""

    def put(self, article: ArticleView) -> None:
        """Index the article, replacing what was indexed under its id."""
        ...

    def remove(self, article_id: int) -> None:
        """Forget the article (nothing happens if it is not indexed)."""
        ...

    def search(
        self, query: Query, category: str | None, first: int, after: SortKey | None
    ) -> Results:
        """Up to `first` hits after the cursor key `after`, best first, ties newest first."""
        ...

    def fingerprint(self) -> str:
        """A digest of everything indexed."""
        ...

    def flush(self) -> None:
        """Make every write so far part of what a search (or a copy) sees."""
        ...

    def save(self, path: Path) -> None:
        """Copy the index into a new file at `path`; runs on a worker thread, while nothing
        writes to the index (see `SearchProjection.hold`)."""
        ...

    def load(self, path: Path) -> None:
        """Fill this fresh, empty index from a copy `save` wrote."""
        ...


class SearchProjection:
    """Keeps a `SearchIndex` holding exactly the published articles, from the articles view."""

    name = "search"
    reads = ("articles",)

    def __init__(self, articles: ArticlesProjection, index: SearchIndex) -> None:
        self._articles = articles
        self.index = index
        self._held: set[int] | None = None  # while a checkpoint copies the index: ids to redo

    def hold(self) -> None:
        """Stop writing to the index while a checkpoint copies it (on a worker thread): until
        `release` has caught up, the articles to (re)index or remove are only noted. Searches go on,
        from the index as it was held (a second or so behind at most)."""
        self.index.flush()
        self._held = set()

    def release(self, count: int) -> bool:
        """Bring up to `count` of the articles noted while held up to date in the index (only
        their state now matters, not the events in between); once none is left, write to the
        index again and return True. In steps, so that catching up after a long hold does
        not hold the event loop: new events are noted meanwhile."""
        held = self._held
        if held is None:
            return True
        for _ in range(min(count, len(held))):
            article_id = held.pop()
            article = self._articles.get(article_id)
            if article is not None and article.status is PUBLISHED:
                self.index.put(article)
            else:
                self.index.remove(article_id)
        if held:
            return False
        self._held = None
        return True

    def fingerprint(self) -> str:
        return self.index.fingerprint()

    def apply(self, recorded: Recorded, change: Change | None) -> None:
        """Index, re-index or remove the article `change` (from the articles view) is about."""
        if change is None:
            return
        if self._held is not None:
            self._held.add(change.article_id)
            return
        if change.after.status is PUBLISHED:
            article = self._articles.get(change.article_id)
            assert article is not None  # the articles view has just applied it
            self.index.put(article)
        elif change.before is not None and change.before.status is PUBLISHED:
            self.index.remove(change.article_id)
