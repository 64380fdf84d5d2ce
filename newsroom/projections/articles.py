"""The articles read model: every article by id, and the latest N by category and status.

Lists are ordered by the time an article entered its status (created for drafts, published for
published articles, retracted for retractions), newest first, ties broken by the higher id.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left, insort
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from newsroom.events import (
    ArticleCreated,
    ArticleDraftCreated,
    ArticleDraftUpdated,
    ArticlePublished,
    ArticleRetracted,
    ArticleUpdated,
)
from newsroom.store import Recorded

Status = Literal["DRAFT", "PUBLISHED", "RETRACTED"]
_Key = tuple[float, int]  # (time it entered its status, id): sorts oldest first


@dataclass(frozen=True, slots=True)
class ArticleView:
    """An article as readers and editors query it."""

    id: int
    title: str
    body: str
    category: str
    author_id: int
    author_name: str
    status: Status
    version: int
    created: datetime
    modified: datetime
    published_at: datetime | None
    retracted_at: datetime | None
    retraction_reason: str | None
    position: int
    """The log position of the last event that changed this article."""

    @property
    def entered_status_at(self) -> datetime:
        """When the article entered its current status; lists sort by this."""
        if self.status == "PUBLISHED" and self.published_at is not None:
            return self.published_at
        if self.status == "RETRACTED" and self.retracted_at is not None:
            return self.retracted_at
        return self.created


class ArticlesProjection:
    """Articles by id, plus per-(category, status) lists sorted by the time they entered it."""

    name = "articles"

    def __init__(self) -> None:
        self._by_id: dict[int, ArticleView] = {}
        self._lists: dict[tuple[str | None, Status], list[_Key]] = {}

    # --- queries -----------------------------------------------------------------------------

    def get(self, article_id: int) -> ArticleView | None:
        """The article with `article_id`, in any status, or None."""
        return self._by_id.get(article_id)

    def latest(
        self, status: Status, category: str | None = None, count: int = 10
    ) -> list[ArticleView]:
        """The `count` newest articles in `status` (and `category`, if given), newest first."""
        keys = self._lists.get((category, status), [])
        return [self._by_id[article_id] for _, article_id in reversed(keys[-count:])]

    def count(self, status: Status, category: str | None = None) -> int:
        """How many articles are in `status` (and `category`, if given)."""
        return len(self._lists.get((category, status), []))

    def categories(self) -> list[str]:
        """Every category any article has used, sorted."""
        return sorted({category for category, _ in self._lists if category is not None})

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for article_id in sorted(self._by_id):
            digest.update(repr(self._by_id[article_id]).encode())
        for list_key in sorted(self._lists, key=repr):
            digest.update(repr((list_key, self._lists[list_key])).encode())
        return digest.hexdigest()

    # --- apply ---------------------------------------------------------------------------------

    def apply(self, recorded: Recorded) -> None:
        match recorded.event:
            case ArticleDraftCreated() | ArticleCreated() as e:
                published = isinstance(e, ArticleCreated)
                self._put(
                    ArticleView(
                        e.article_id, e.title, e.body, e.category, e.author_id, e.author_name,
                        "PUBLISHED" if published else "DRAFT", recorded.version,
                        e.created_at, e.created_at, e.created_at if published else None,
                        None, None, recorded.position,
                    )
                )  # fmt: skip
            case ArticleDraftUpdated() | ArticleUpdated() as e:
                old = self._by_id[e.article_id]
                self._replace(
                    old,
                    ArticleView(
                        old.id, e.title or old.title, e.body or old.body,
                        e.category or old.category, e.author_id or old.author_id,
                        e.author_name or old.author_name, old.status, recorded.version,
                        old.created, e.updated_at, old.published_at, None, None, recorded.position,
                    ),
                )  # fmt: skip
            case ArticlePublished(article_id=article_id, published_at=at):
                old = self._by_id[article_id]
                self._replace(old, _moved(old, recorded, "PUBLISHED", published_at=at))
            case ArticleRetracted(article_id=article_id, retracted_at=at, reason=reason):
                old = self._by_id[article_id]
                self._replace(
                    old, _moved(old, recorded, "RETRACTED", retracted_at=at, reason=reason)
                )
            case _:
                pass  # an event this read model does not use

    def _put(self, view: ArticleView) -> None:
        self._by_id[view.id] = view
        key = (view.entered_status_at.timestamp(), view.id)
        for list_key in ((view.category, view.status), (None, view.status)):
            keys = self._lists.setdefault(list_key, [])
            if not keys or keys[-1] < key:
                keys.append(key)  # the usual case: the newest goes last
            else:
                insort(keys, key)

    def _replace(self, old: ArticleView, new: ArticleView) -> None:
        if (old.category, old.status, old.entered_status_at) == (
            new.category, new.status, new.entered_status_at,
        ):  # fmt: skip
            self._by_id[new.id] = new
            return
        key = (old.entered_status_at.timestamp(), old.id)
        for list_key in ((old.category, old.status), (None, old.status)):
            keys = self._lists[list_key]
            del keys[bisect_left(keys, key)]
            if not keys:
                del self._lists[list_key]
        self._put(new)


def _moved(
    old: ArticleView,
    recorded: Recorded,
    status: Status,
    *,
    published_at: datetime | None = None,
    retracted_at: datetime | None = None,
    reason: str | None = None,
) -> ArticleView:
    at = published_at or retracted_at
    assert at is not None
    return ArticleView(
        old.id, old.title, old.body, old.category, old.author_id, old.author_name, status,
        recorded.version, old.created, at, published_at or old.published_at, retracted_at,
        reason, recorded.position,
    )  # fmt: skip
