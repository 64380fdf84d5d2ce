"""The sitemaps read model: which URLs each sitemap file lists, and when each last changed.

Article sitemaps list the home page and then every published article, oldest first, split into
files of at most 50,000 URLs. The Google News sitemap lists the articles published in the last
48 hours by the server's clock, newest first, at most 1,000 per file; articles leave it as time
passes, with no event, so its contents are worked out at the moment it is asked for. Articles
come from the articles view, which this view reads: the dispatcher applies it first and hands
over what each event changed there.
"""

from __future__ import annotations

import hashlib
import math
from bisect import bisect_left, bisect_right
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from newsroom.events import PUBLISHED
from newsroom.projections.articles import ArticlesProjection, ArticleView, Change, Key
from newsroom.projections.base import BEFORE_ANY_EVENT, Stamp
from newsroom.store import Recorded

# https://www.sitemaps.org/protocol.html#index: "no more than 50,000 URLs" per sitemap file.
URLS_PER_FILE = 50_000
# https://developers.google.com/search/docs/crawling-indexing/sitemaps/news-sitemap:
# "only include URLs for articles published in the last 2 days", "up to 1,000 news:news tags".
NEWS_WINDOW = timedelta(hours=48)
NEWS_SECONDS = NEWS_WINDOW.total_seconds()
NEWS_URLS_PER_FILE = 1_000


@dataclass(frozen=True, slots=True)
class Sitemap:
    """One sitemap file: which articles it lists, whether the home page comes first, and its
    version. The articles are looked up only when `items()` is called (when it is rendered)."""

    number: int
    keys: Sequence[Key]
    with_home: bool
    version: Hashable
    """Equal for two moments at which the file's contents are equal."""
    modified: datetime
    articles: ArticlesProjection = field(repr=False, compare=False)

    def items(self) -> list[ArticleView]:
        """The articles of this file, in its order."""
        views = [self.articles.get(key[1]) for key in self.keys]
        return [view for view in views if view is not None]


class SitemapsProjection:
    """Change stamps per article sitemap file and for the news window, over the articles view."""

    name = "sitemaps"
    reads = ("articles",)

    def __init__(
        self,
        articles: ArticlesProjection,
        per_file: int = URLS_PER_FILE,
        news_per_file: int = NEWS_URLS_PER_FILE,
    ) -> None:
        if per_file < 2:
            raise ValueError(
                f"per_file must be at least 2 (the first file holds the home page and an "
                f"article), not {per_file}"
            )
        self._articles = articles
        self._per_file = per_file
        self._boundaries: Sequence[Key] | None = None  # see `_file_of`; None: to work out
        self._news_per_file = news_per_file
        # The first file always exists: it has the home page.
        self._files: list[Stamp] = [BEFORE_ANY_EVENT]
        self._news = BEFORE_ANY_EVENT
        self._file_count_changed = BEFORE_ANY_EVENT  # the index changes when a file comes or goes

    # --- queries -----------------------------------------------------------------------------

    def article_files(self) -> list[Stamp]:
        """The change stamp of every article sitemap file, in file order."""
        return list(self._files)

    def files_changed(self) -> datetime:
        """When an article sitemap file last changed, came or went. The index changed then, or
        when the news window did (the news files' `modified`), whichever is later."""
        return max(stamp.at for stamp in (*self._files, self._file_count_changed))

    def article_file(self, number: int) -> Sitemap | None:
        """Article sitemap file `number` (from 1), or None if there is no such file."""
        if not 1 <= number <= len(self._files):
            return None
        first = (number - 1) * self._per_file - 1  # URL 0 is the home page, then the articles
        stop = first + self._per_file
        keys = self._articles.keys(PUBLISHED)[max(first, 0) : stop]
        stamp = self._files[number - 1]
        return Sitemap(number, keys, number == 1, stamp.position, stamp.at, self._articles)

    def news_files(self, now: datetime) -> list[Sitemap]:
        """The Google News sitemap files at `now`: the 48-hour window, newest first. There is
        always a first file; when nothing was published in the window it lists the home page
        alone (the schema wants one URL at least; a URL without news tags is no news item)."""
        keys = self._articles.keys(PUBLISHED)
        # An article leaves the window at exactly 48 hours: then its time equals the cutoff.
        start = bisect_right(keys, ((now - NEWS_WINDOW).timestamp(), math.inf))
        window = keys[start:]
        modified = self._news.at
        if start > 0:  # the last article to leave the window changed it when it left
            expired = datetime.fromtimestamp(keys[start - 1][0], UTC) + NEWS_WINDOW
            modified = max(modified, expired)
        version = (self._news.position, window[:1], len(window))
        newest_first = window[::-1]
        size = self._news_per_file
        chunks = [newest_first[i : i + size] for i in range(0, len(newest_first), size)] or [[]]
        return [
            Sitemap(n, chunk, not chunk, version, modified, self._articles)
            for n, chunk in enumerate(chunks, start=1)
        ]

    def fingerprint(self) -> str:
        state = (self._files, self._news, self._file_count_changed)
        return hashlib.sha256(repr(state).encode()).hexdigest()

    # --- checkpoints -------------------------------------------------------------------------

    def snapshot(self) -> tuple[list[Stamp], Stamp, Stamp]:
        """The state for a checkpoint: the stamps (immutable), the list of them copied."""
        return self._files.copy(), self._news, self._file_count_changed

    def restore(self, parts: Iterable[tuple[list[Stamp], Stamp, Stamp]]) -> None:
        """Take the state of a snapshot, saved in one part (into a fresh view)."""
        for state in parts:
            self._files, self._news, self._file_count_changed = state
        self._boundaries = None

    # --- apply -------------------------------------------------------------------------------

    def apply(self, recorded: Recorded, change: Change | None) -> None:
        """Stamp the files that `change` (what the event did in the articles view) touched."""
        if change is None:
            return
        before, after = change.before, change.after
        was = before is not None and before.status is PUBLISHED
        now = after.status is PUBLISHED
        if not (was or now):
            return
        stamp = Stamp(recorded.position, change.at)
        if was and now and before is not None and before.key == after.key:
            # An edit (most events) or a move to another category: no URL moved, only the
            # article's own file changed.
            self._files[self._file_of(after.key)] = stamp
            self._mark_news(after.key, stamp)
            return
        # An article came, went or (a log that publishes a published article anew, which the
        # domain refuses but an imported log may hold) moved: every URL after it shifted.
        places = [p.key for p in (before, after) if p is not None and p.status is PUBLISHED]
        self._shift(min(places), stamp)
        for key in places:
            self._mark_news(key, stamp)

    def _shift(self, key: Key, stamp: Stamp) -> None:
        """Stamp every file from the one where `key` sorts (the URLs before it are where they
        were), and note whether the number of files changed."""
        keys = self._articles.keys(PUBLISHED)
        self._boundaries = None  # the files' boundaries moved
        first = (bisect_left(keys, key) + 1) // self._per_file  # +1: the home page comes first
        count = len(keys) // self._per_file + 1
        if count != len(self._files):
            self._file_count_changed = stamp
        del self._files[count:]
        self._files.extend([stamp] * (count - len(self._files)))
        self._files[first:count] = [stamp] * (count - first)

    def _mark_news(self, key: Key, stamp: Stamp) -> None:
        """Stamp the news window if the article was published in the 48 hours before the event."""
        if key[0] >= stamp.at.timestamp() - NEWS_SECONDS:
            self._news = stamp

    def _file_of(self, key: Key) -> int:
        """The index of the article sitemap file that lists the article with `key`.

        File j (from 0) lists URLs j * per_file onwards, and an article's URL comes after the
        home page and every article sorting before it; so the article is in file j or later
        exactly when the key at index j * per_file - 2 of the published list sorts before its
        own. Those keys, one per file, are this view's boundaries: a binary search among a few
        of them, not among every published article's key. They change only when an article
        comes, goes or moves (`_shift`) or a checkpoint is restored, and are worked out again on
        the next edit after that."""
        if self._boundaries is None:
            keys = self._articles.keys(PUBLISHED)
            self._boundaries = keys[self._per_file - 2 :: self._per_file]
        return bisect_left(self._boundaries, key)
