"""The articles read model: every article by id, and the latest N by category and status.

Lists are ordered by the time an article entered its status (created for drafts, published for
published articles, retracted for retractions), newest first, ties broken by the higher id.
Internally each article is a small mutable row, changed in place by `apply` (cheap during a
replay of millions of events); queries hand out frozen `ArticleView`s, built once per change.
`apply` returns what the event did, a `Change` (which article moved where): the dispatcher hands
it to the views that read this one (feeds, sitemaps, search).
"""

from __future__ import annotations

import hashlib
import pickle
from bisect import bisect_left, insort
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from sys import intern
from typing import Literal, NamedTuple, cast

from newsroom.events import (
    DRAFT,
    EDITABLE,
    PUBLISHED,
    RETRACTED,
    ArticleCreated,
    ArticleDraftCreated,
    ArticleDraftUpdated,
    ArticlePublished,
    ArticleRetracted,
    ArticleUpdated,
    Status,
)
from newsroom.store import Recorded

Key = tuple[float, int]  # (time it entered its status, id): sorts oldest first
StatusName = Status | Literal["DRAFT", "PUBLISHED", "RETRACTED"]
"""What the queries take for a status: a `Status`, or its name (a `Status` is a `StrEnum`, so both
find the same list). GraphQL hands resolvers the name; converting it per request is needless."""


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


class Placement(NamedTuple):
    """Where an article sits in the lists: its category, status and sort key."""

    category: str
    status: Status
    key: Key


class Change(NamedTuple):
    """What one event did to one article: its placement before (None if new) and after (the
    very same object when the event left the article where it was, as most edits do)."""

    article_id: int
    before: Placement | None
    after: Placement
    at: datetime
    """The time the event states (created, updated, published or retracted at)."""


_PLAIN_FIELDS = tuple(name for name in ArticleView.__slots__ if name not in ("title", "body"))


class PublishedText(NamedTuple):
    """A published article's text, as the search index takes it."""

    article_id: int
    title: bytes
    """UTF-8, as the articles view holds it (see `_Row.title`)."""
    body: bytes
    category: str
    published: float
    """When it was published (a POSIX timestamp)."""


Lists = dict[tuple[str | None, StatusName], list[Key]]
Part = tuple[str, object]
"""A piece of a saved view: what it holds ("rows" or "list") and the values."""
_SAVED = (*_PLAIN_FIELDS, "_title", "_body")
"""A row's fields as a checkpoint holds them: its text as the row keeps it (UTF-8)."""
_FIELDS = attrgetter(*_SAVED)
_STATUS_AT = _SAVED.index("status")
_STATUSES: dict[object, Status] = {status.value: status for status in Status}


PART_ARTICLES = 100
"""Articles per part of a checkpoint, in the order they came: a part that no event changed since
the last checkpoint is taken from that checkpoint's file, not copied again (news is edited while
it is new: most parts of a large log stay as they were). About 0.2 ms to copy one."""
LIST_STEP = 50_000
"""List keys copied per turn of the loop while a checkpoint copies the lists (about 0.2 ms)."""


class ArticlesState(NamedTuple):
    """The articles view at one moment, as immutable parts (see `ArticlesProjection.snapshot`)."""

    articles: list[bytes | None]
    """The articles, `part_size` per item in the order they came, each item pickled by
    `_packed`; None for a part unchanged since the last snapshot (and so the same as in the
    checkpoint written from it, if one was)."""
    lists: Lists
    part_size: int

    def parts(self, size: int) -> Iterator[Part]:
        """The state in pieces of `size` list keys (or one part of the articles), each cheap to
        pickle alone: pickling a list of plain values runs in C without letting another thread
        in, so one large pickle would hold the event loop (on its worker thread) for as long as
        it takes."""
        for packed in self.articles:
            yield "rows", packed
        for key, keys in self.lists.items():
            for start in range(0, len(keys), size):
                yield "list", (key, keys[start : start + size])


def _packed(rows: Iterable[_Row]) -> bytes:
    """Rows pickled as columns of plain values, one per field of `_SAVED` (statuses by name):
    unpickling them builds no object per article beyond its values. Pickled at once, so the
    copy leaves no objects for the cyclic collector to scan (a tuple per article would, and
    200,000 of them set off full collections of tens of milliseconds)."""
    columns = [list(column) for column in zip(*map(_FIELDS, rows), strict=True)]
    if columns:
        columns[_STATUS_AT] = [str(status) for status in columns[_STATUS_AT]]
    return pickle.dumps(columns, protocol=pickle.HIGHEST_PROTOCOL)


class _Row:
    """The mutable, internal form of one article; `view()` freezes it for callers."""

    # Title and body are kept as UTF-8 (see `title`); the other fields as the view has them.
    __slots__ = (*_PLAIN_FIELDS, "_title", "_body", "_view", "part")

    def __init__(self, event: ArticleCreated | ArticleDraftCreated, recorded: Recorded) -> None:
        published = isinstance(event, ArticleCreated)
        self.id, self.title, self.body = event.article_id, event.title, event.body
        # Every article of a category (an author) shares one string, not a copy per article.
        self.category, self.author_id = intern(event.category), event.author_id
        self.author_name = intern(event.author_name)
        self.status = PUBLISHED if published else DRAFT
        self.created = self.modified = event.created_at
        self.published_at = event.created_at if published else None
        self.retracted_at: datetime | None = None
        self.retraction_reason: str | None = None
        self.version, self.position = recorded.version, recorded.position
        self._view: ArticleView | None = None
        self.part = 0  # which part of a checkpoint it is in (set by the view that keeps it)

    @property
    def title(self) -> str:
        """Text is held as UTF-8 and decoded only when a view is built. A Python string takes
        two bytes for every character once one of them is past Latin-1 (one typographic quote
        will do), four once one is an emoji; UTF-8 keeps an article's Latin text at about one
        byte a character, which halves the articles view (docs/benchmarks.md, memory)."""
        return self._title.decode()

    @title.setter
    def title(self, text: str) -> None:
        self._title = text.encode()

    @property
    def body(self) -> str:
        """As `title`."""
        return self._body.decode()

    @body.setter
    def body(self, text: str) -> None:
        self._body = text.encode()

    def key(self) -> Key:
        """Where the row sorts in its status lists."""
        if self.status is PUBLISHED and self.published_at is not None:
            return (self.published_at.timestamp(), self.id)
        if self.status is RETRACTED and self.retracted_at is not None:
            return (self.retracted_at.timestamp(), self.id)
        return (self.created.timestamp(), self.id)

    def placement(self) -> Placement:
        return Placement(self.category, self.status, self.key())

    def touched(self, recorded: Recorded, at: datetime) -> None:
        self.version, self.position, self.modified = recorded.version, recorded.position, at
        self._view = None

    def view(self) -> ArticleView:
        if self._view is None:
            self._view = ArticleView(*(getattr(self, name) for name in ArticleView.__slots__))
        return self._view


class ArticlesProjection:
    """Articles by id, plus per-(category, status) lists sorted by the time they entered it."""

    name = "articles"
    reads = ()  # the log alone

    def __init__(self) -> None:
        self._rows: dict[int, _Row] = {}
        self._lists: dict[tuple[str | None, StatusName], list[Key]] = {}
        # For checkpoints: the articles in the order they came, `part_size` to a part; the
        # parts changed since the last snapshot; and, while copying, the parts copied so far
        # (a part is dropped from there when an event changes it).
        self.part_size = PART_ARTICLES
        self._order: list[int] = []
        self._dirty: set[int] = set()
        self._copies: dict[int, bytes] = {}
        # While copying, the lists copied so far, and those changed other than at their end
        # since (the snapshot copies those again; the others take only their new ends).
        self._list_copies: dict[tuple[str | None, StatusName], list[Key]] = {}
        self._lists_reordered: set[tuple[str | None, StatusName]] = set()
        self._newest_part = 0  # one int object for the rows of a part, not one each
        # Changes are noted from the first checkpoint on (its copy, or a restore): during the
        # full replay before it there is nothing to note them against.
        self._noting = False

    # --- queries -----------------------------------------------------------------------------

    def get(self, article_id: int) -> ArticleView | None:
        """The article with `article_id`, in any status, or None."""
        row = self._rows.get(article_id)
        return row.view() if row else None

    def published_text(self, article_id: int) -> PublishedText | None:
        """The text of the article if it is published (else None), as this view holds it: for
        a reader of many articles' text (the search index), with no view built or kept."""
        row = self._rows.get(article_id)
        if row is None or row.status is not PUBLISHED or row.published_at is None:
            return None
        published = row.published_at.timestamp()
        return PublishedText(row.id, row._title, row._body, row.category, published)

    def latest(
        self, status: StatusName, category: str | None = None, count: int = 10
    ) -> list[ArticleView]:
        """The `count` newest articles in `status` (and `category`, if given), newest first."""
        keys = self._lists.get((category, status), [])
        return [self._rows[article_id].view() for _, article_id in reversed(keys[-count:])]

    def page(
        self, status: StatusName, category: str | None, first: int, before: Key | None
    ) -> tuple[list[tuple[Key, ArticleView]], bool]:
        """Up to `first` articles older than the cursor key `before`, newest first, and whether
        more follow. Keys never change while an article stays in a list, so paging is stable
        while new articles arrive."""
        keys = self._lists.get((category, status), [])
        end = len(keys) if before is None else bisect_left(keys, before)
        start = max(0, end - first)
        chosen = reversed(keys[start:end])
        return [(key, self._rows[key[1]].view()) for key in chosen], start > 0

    def keys(self, status: StatusName, category: str | None = None) -> Sequence[Key]:
        """The sort keys of the articles in `status` (and `category`), oldest first; read-only."""
        return self._lists.get((category, status), [])

    def count(self, status: StatusName, category: str | None = None) -> int:
        """How many articles are in `status` (and `category`, if given)."""
        return len(self._lists.get((category, status), []))

    def categories(self) -> list[str]:
        """Every category any article has used, sorted."""
        return sorted({category for category, _ in self._lists if category is not None})

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for article_id in sorted(self._rows):
            digest.update(repr(self._rows[article_id].view()).encode())
        for list_key in sorted(self._lists, key=repr):
            digest.update(repr((list_key, self._lists[list_key])).encode())
        return digest.hexdigest()

    # --- checkpoints ----------------------------------------------------------------------------

    def copy_in_steps(self, reusable: int) -> Iterator[None]:
        """Copy (pickle: bytes that nothing changes) the parts a snapshot cannot reuse, one part
        at a time, yielding between parts so that requests and events go on. Of the first
        `reusable` parts (those the last checkpoint holds), only the ones changed since its
        snapshot are copied. A part changed meanwhile is copied again, in a second and a third
        pass, so that `snapshot` has only a few left to copy. Then the lists, in steps too."""
        self._copies, self._noting = {}, True
        for sweep in range(3):
            todo = [k for k in self._to_copy(reusable) if k not in self._copies]
            if sweep and len(todo) <= 1:
                break
            for part in todo:
                self._copies[part] = self._pack(part)
                yield
        yield from self._copy_lists()

    def _copy_lists(self) -> Iterator[None]:
        """Copy the lists `LIST_STEP` keys at a time, yielding between steps; a list an event
        changes other than by adding at its end is noted, for the snapshot to copy whole."""
        self._list_copies, self._lists_reordered = {}, set()
        for key in list(self._lists):
            copy = self._list_copies[key] = []
            while key not in self._lists_reordered and key in self._lists:
                keys = self._lists[key]
                if len(copy) >= len(keys):
                    break
                copy += keys[len(copy) : len(copy) + LIST_STEP]
                yield

    def snapshot(self, reusable: int = 0) -> ArticlesState:
        """The state as immutable parts, taken on the event loop between two events: of the
        first `reusable` parts (the last checkpoint's), None for each unchanged since the last
        snapshot; the copies `copy_in_steps` made of the others, and a copy now of those it did
        not (all of them, without `copy_in_steps` first); and a copy of each list (a C-speed
        copy of references to immutable keys; of a list `copy_in_steps` copied, only the keys
        added at its end since). From here on, changes count from this one."""
        to_copy = set(self._to_copy(reusable))
        articles = [
            (self._copies.get(part) or self._pack(part)) if part in to_copy else None
            for part in range(self._part_count())
        ]
        lists = {}
        for key, keys in self._lists.items():
            copy = self._list_copies.get(key)
            if copy is None or key in self._lists_reordered:
                lists[key] = keys.copy()
            else:  # only added to at its end since: the copy is the start of it
                copy += keys[len(copy) :]
                lists[key] = copy
        self._copies, self._dirty, self._noting = {}, set(), True
        self._list_copies, self._lists_reordered = {}, set()
        return ArticlesState(articles, lists, self.part_size)

    def _to_copy(self, reusable: int) -> list[int]:
        """The parts a snapshot must copy: those past the first `reusable`, and those changed."""
        changed = sorted(part for part in self._dirty if part < reusable)
        return [*changed, *range(reusable, self._part_count())]

    def _part_count(self) -> int:
        return -(-len(self._order) // self.part_size)

    def _pack(self, part: int) -> bytes:
        start = part * self.part_size
        return _packed(self._rows[i] for i in self._order[start : start + self.part_size])

    def restore(self, parts: Iterable[Part]) -> None:
        """Take the state saved as `ArticlesState.parts` (into a fresh view whose `part_size`
        is the saved state's): the parts of the articles in their order, then the lists.
        `ValueError` if the articles' parts are not of that size."""
        for kind, values in parts:
            if kind == "rows":
                self._restore_rows(pickle.loads(cast(bytes, values)))  # from our own checkpoint
            else:
                key, keys = cast(tuple[tuple[str | None, StatusName], list[Key]], values)
                self._lists.setdefault(key, []).extend(keys)

    def _restore_rows(self, columns: list[list[object]]) -> None:
        if not columns:
            return
        part, rest = divmod(len(self._order), self.part_size)
        if rest or len(columns[0]) > self.part_size:
            raise ValueError(f"its articles are not in parts of {self.part_size}")
        columns[_STATUS_AT] = list(map(_STATUSES.__getitem__, columns[_STATUS_AT]))
        new, rows = _Row.__new__, self._rows
        for values in zip(*columns, strict=True):
            row = new(_Row)
            # One assignment per field, in `_SAVED`'s order: the fastest way to fill slots.
            (row.id, row.category, row.author_id, row.author_name, row.status, row.version,
             row.created, row.modified, row.published_at, row.retracted_at,
             row.retraction_reason, row.position, row._title, row._body) = values  # fmt: skip
            row.category, row.author_name = intern(row.category), intern(row.author_name)
            row._view, row.part = None, part
            rows[row.id] = row
        self._order.extend(cast(list[int], columns[0]))
        self._newest_part, self._noting = part, True
        if len(rows) != len(self._order):
            raise ValueError("an article is in two of its parts")

    # --- apply ---------------------------------------------------------------------------------

    def apply(self, recorded: Recorded) -> Change | None:
        """Fold one event in; return what it did to its article (None: it touched none)."""
        match recorded.event:
            case ArticleDraftCreated() | ArticleCreated() as e:
                row = self._rows[e.article_id] = _Row(e, recorded)
                if len(self._order) % self.part_size == 0:  # it begins a new part
                    self._newest_part = len(self._order) // self.part_size
                row.part = self._newest_part
                self._order.append(row.id)
                if self._noting:
                    self._changed(row)
                self._index(row)
                return Change(row.id, None, row.placement(), e.created_at)
            case ArticleDraftUpdated() | ArticleUpdated() as e:
                row = self._rows[e.article_id]
                before = row.placement()
                moves = e.category is not None and e.category != row.category
                if moves:
                    self._unindex(row)
                for name in EDITABLE:
                    if (value := getattr(e, name)) is not None:
                        setattr(row, name, value)
                if not moves:  # the usual edit: the article stays where it was
                    row.touched(recorded, e.updated_at)
                    if self._noting:
                        self._changed(row)
                    return Change(row.id, before, before, e.updated_at)
                self._index(row)
                return self._touched(row, before, recorded, e.updated_at)
            case ArticlePublished(article_id=article_id, published_at=at):
                row = self._rows[article_id]
                before = row.placement()
                self._unindex(row)
                row.status, row.published_at = PUBLISHED, at
                self._index(row)
                return self._touched(row, before, recorded, at)
            case ArticleRetracted(article_id=article_id, retracted_at=at, reason=reason):
                row = self._rows[article_id]
                before = row.placement()
                self._unindex(row)
                row.status, row.retracted_at, row.retraction_reason = RETRACTED, at, reason
                self._index(row)
                return self._touched(row, before, recorded, at)
            case _:
                return None  # an event this read model does not use

    def _touched(self, row: _Row, before: Placement, recorded: Recorded, at: datetime) -> Change:
        row.touched(recorded, at)
        if self._noting:
            self._changed(row)
        return Change(row.id, before, row.placement(), at)

    def _changed(self, row: _Row) -> None:
        """Note that `row`'s part changed: the next checkpoint copies it (again)."""
        self._dirty.add(row.part)
        self._copies.pop(row.part, None)

    def _index(self, row: _Row) -> None:
        key = row.key()
        for list_key in ((row.category, row.status), (None, row.status)):
            keys = self._lists.setdefault(list_key, [])
            if not keys or keys[-1] < key:
                keys.append(key)  # the usual case: the newest goes last
            else:
                insort(keys, key)
                if self._noting:
                    self._lists_reordered.add(list_key)

    def _unindex(self, row: _Row) -> None:
        key = row.key()
        for list_key in ((row.category, row.status), (None, row.status)):
            keys = self._lists[list_key]
            del keys[bisect_left(keys, key)]
            if self._noting:
                self._lists_reordered.add(list_key)
            if not keys:
                del self._lists[list_key]
