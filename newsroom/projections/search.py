"""The search read model: published articles in a full-text index, kept in step with the log.

The projection decides *what* is searchable: an article is indexed when it is published,
re-indexed when it is updated, and removed the moment it is retracted (in the same dispatch as
every other view). It reads the articles view: the dispatcher applies that first and hands over
what each event changed there. *How* it is searched belongs to a `SearchIndex` (SQLite FTS5 in
memory today); any engine with these operations can replace it.

Indexing is the expensive part (a replay once spent 70 % of its time deleting and re-inserting
articles that later events changed again), so `apply` only notes which articles changed and
`settle`, at the end of each batch the dispatcher hands over, indexes each of them once, as it
stands then. At start-up the view goes further: `defer()` holds every change back during the
replay, and `SearchBuild` (search_build.py) then loads each published article once, in bulk, on a
thread, while the other views already serve. Until it is done the view is not `caught_up`, and
`Views.search` answers `Busy` (503 with Retry-After) rather than give partial results.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from newsroom.events import PUBLISHED
from newsroom.projections.articles import ArticlesProjection, Change, PublishedText
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
    """Text around the matches with each match in <mark>, everything else HTML-escaped; empty
    if there is none (the match lies past the text snippets are made from, or the page's time
    for snippets ran out)."""
    key: SortKey


@dataclass(frozen=True, slots=True)
class Results:
    """One page of results, the total for the whole search, and counts per category."""

    hits: list[Hit]
    total: int
    facets: dict[str, int]
    """Matches per category, ignoring the category filter (so a reader sees where else to go)."""
    more: bool
    """True when hits follow this page."""
    exact: bool = True
    """False when the search matched more articles than an index covers per search: hits, total
    and facets then come from the newest of them, and total is a lower bound."""
    earlier: bool = False
    """True when hits precede this page (it is not the first)."""


Document = PublishedText
"""What the index holds of one published article: id, title and body (UTF-8), category and
publication time."""


class SearchIndex(Protocol):
    """A full-text index of articles."""

    def put(self, document: Document) -> None:
        """Index the article, replacing what was indexed under its id."""
        ...

    def load(self, documents: Sequence[Document], loaded: Callable[[int], None]) -> None:
        """Index articles that are not indexed yet, in bulk, calling `loaded(n)` as each n are
        in (it may raise to stop the load). May run on another thread, while nothing else uses
        the index."""
        ...

    def remove(self, article_id: int) -> None:
        """Forget the article (nothing happens if it is not indexed)."""
        ...

    def search(
        self,
        query: Query,
        category: str | None,
        first: int,
        after: SortKey | None,
        before: SortKey | None = None,
    ) -> Results:
        """Up to `first` hits after the cursor key `after`, best first, ties newest first; with
        `before`, the (up to) `first` hits just before that key instead (a page back)."""
        ...

    def fingerprint(self) -> str:
        """A digest of everything indexed."""
        ...

    def flush(self) -> None:
        """Make every write so far part of what a search (or a copy) sees."""
        ...

    def save(self, path: Path, between_steps: Callable[[], None]) -> None:
        """Copy the index into a new file at `path`, calling `between_steps` after each step
        of the copy (to pace it); runs on a worker thread, while nothing writes to the index
        (see `SearchProjection.hold`)."""
        ...

    def restore(self, path: Path) -> None:
        """Fill this fresh, empty index from a copy `save` wrote (`relink` must follow)."""
        ...

    def relink(self, text_of: Callable[[int], Document | None]) -> None:
        """After `restore`: take what the index needs of each article it holds from `text_of`
        (the articles view, restored from the same checkpoint); ValueError if one it holds is
        not published there."""
        ...


class SearchProjection:
    """Keeps a `SearchIndex` holding exactly the published articles, from the articles view."""

    name = "search"
    reads = ("articles",)

    def __init__(self, articles: ArticlesProjection, index: SearchIndex) -> None:
        self._articles = articles
        self.index = index
        self._changed: dict[int, None] = {}
        """Articles whose entry may be out of date: changed since the last `settle` (in order)."""
        self._deferred = False
        self._held = False
        self.failed: Callable[[str], None] = lambda error: None
        """Told when the index fails outside a dispatched batch (where the dispatcher stops
        the view itself): `Views` makes it stop the view."""

    @property
    def caught_up(self) -> bool:
        """True once the index holds every article the view has applied (not during the build
        that follows a replay; a checkpoint's short hold does not count)."""
        return not self._deferred

    def hold(self) -> None:
        """Stop writing to the index while a checkpoint copies it (on a worker thread): until
        `release` has caught up, the articles to (re)index or remove are only noted. Searches go
        on, from the index as it was held (a second or so behind at most; web/search.py drops
        a hit whose article is no longer published, and shows a corrected one's new text:
        `changed_while_held`)."""
        with self._stopped_by_failure():
            self.settle()
            self.index.flush()
        self._held = True

    def flush(self) -> None:
        """Commit what the index has not committed yet (a checkpoint does before it copies the
        index); if that fails, the writes are undone and the view stops (`failed`)."""
        with self._stopped_by_failure():
            self.index.flush()

    @contextlib.contextmanager
    def _stopped_by_failure(self) -> Iterator[None]:
        """Index writes outside a dispatched batch: one that fails stops the view (`failed`),
        as the dispatcher stops it for a failure inside one."""
        try:
            yield
        except Exception as e:
            self._held = False
            self.failed(f"{type(e).__name__}: {e}")
            raise

    def release(self, count: int) -> bool:
        """Bring up to `count` of the articles noted while held up to date in the index (only
        their state now matters, not the events in between); once none is left, write to the
        index again and return True. In steps, so that catching up after a long hold does
        not hold the event loop: new events are noted meanwhile."""
        if not self._held:
            return True
        with self._stopped_by_failure():
            for article_id in list(itertools.islice(self._changed, count)):
                self._index(article_id)
                del self._changed[article_id]
        if self._changed:
            return False
        self._held = False
        return True

    def changed_while_held(self, article_id: int) -> bool:
        """True while a checkpoint holds the index and the article changed since: what the index
        says of it (its text, whether it is published) may be out of date until `release`."""
        return self._held and article_id in self._changed

    def fingerprint(self) -> str:
        return self.index.fingerprint()

    def apply(self, recorded: Recorded, change: Change | None) -> None:
        """Note the article `change` is about when it is, or was, published; `settle` indexes it."""
        if change is None:
            return
        if change.after.status is PUBLISHED or (
            change.before is not None and change.before.status is PUBLISHED
        ):
            self._changed[change.article_id] = None

    def settle(self) -> None:
        """Index, re-index or remove each article changed since the last call, once, as it stands
        now (nothing while deferred). A write the index cannot take (its disk is full) raises
        here, and stops this view at the batch's position."""
        if self._deferred or self._held:
            return
        for article_id in self._changed:
            self._index(article_id)
        self._changed.clear()

    def _index(self, article_id: int) -> None:
        """Index the article as it stands now, or remove it if it is not published."""
        if (document := self._articles.published_text(article_id)) is not None:
            self.index.put(document)
        else:
            self.index.remove(article_id)

    def defer(self) -> None:
        """Hold every change back (the replay at start) until `resume`; not caught up meanwhile."""
        self._deferred = True

    def take_changed(self) -> list[int]:
        """The ids of the articles changed while deferred, forgotten here: the caller indexes
        them (changes after this call are held back again, for `resume`)."""
        changed = list(self._changed)
        self._changed.clear()
        return changed

    def document(self, article_id: int) -> Document | None:
        """What the index should hold for the article now: None unless it is published."""
        return self._articles.published_text(article_id)

    def resume(self) -> None:
        """End the deferral: index what changed since `take_changed`; the view is caught up."""
        self._deferred = False
        self.settle()
