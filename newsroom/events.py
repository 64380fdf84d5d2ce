"""Domain events: what happened to an article, as frozen facts, and the JSON codec that stores them.

Events carry business fields only; the log's envelope (position, version, time) is separate.
Each event class has a stable stored `type_name` (never a Python path) and a `schema_version`;
an upcaster lifts data written by an older schema version to the current one when it is read.
The statuses the events move an article between, and the fields editors write, are named here
too: the domain and the views both speak of them, and both may import this module.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

import orjson

from newsroom.errors import CodecError


class Status(StrEnum):
    """Where an article is in its life. UNKNOWN is the seed's zero value and is never stored."""

    UNKNOWN = "UNKNOWN"
    DRAFT = "DRAFT"
    PUBLISHED = "PUBLISHED"
    RETRACTED = "RETRACTED"


# The same members under plain names, for the views' per-event code: on Python 3.11 each
# `Status.PUBLISHED` is a descriptor call (about 50 ns), and a replay makes millions of them.
DRAFT, PUBLISHED, RETRACTED = Status.DRAFT, Status.PUBLISHED, Status.RETRACTED

EDITABLE = ("title", "body", "category", "author_id", "author_name")
"""The fields an editor writes: every create event carries them all, every update event the
changed ones. The domain validates them and the articles view copies them, by these names."""


@dataclass(frozen=True, slots=True)
class ArticleDraftCreated:
    """An editor started a draft; nobody outside the newsroom can see it yet."""

    type_name: ClassVar[str] = "ArticleDraftCreated"
    schema_version: ClassVar[int] = 1
    article_id: int
    title: str
    body: str
    category: str
    author_id: int
    author_name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ArticleDraftUpdated:
    """An editor changed a draft; only the changed fields are set."""

    type_name: ClassVar[str] = "ArticleDraftUpdated"
    schema_version: ClassVar[int] = 1
    article_id: int
    updated_at: datetime
    title: str | None = None
    body: str | None = None
    category: str | None = None
    author_id: int | None = None
    author_name: str | None = None


@dataclass(frozen=True, slots=True)
class ArticlePublished:
    """A draft went public."""

    type_name: ClassVar[str] = "ArticlePublished"
    schema_version: ClassVar[int] = 1
    article_id: int
    published_at: datetime


@dataclass(frozen=True, slots=True)
class ArticleCreated:
    """An article was created and published in one step (the seed's `createArticle`)."""

    type_name: ClassVar[str] = "ArticleCreated"
    schema_version: ClassVar[int] = 1
    article_id: int
    title: str
    body: str
    category: str
    author_id: int
    author_name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ArticleUpdated:
    """A published article was corrected; only the changed fields are set."""

    type_name: ClassVar[str] = "ArticleUpdated"
    schema_version: ClassVar[int] = 1
    article_id: int
    updated_at: datetime
    title: str | None = None
    body: str | None = None
    category: str | None = None
    author_id: int | None = None
    author_name: str | None = None


@dataclass(frozen=True, slots=True)
class ArticleRetracted:
    """A published article was withdrawn for good, with the reason readers are told."""

    type_name: ClassVar[str] = "ArticleRetracted"
    schema_version: ClassVar[int] = 1
    article_id: int
    reason: str
    retracted_at: datetime


@dataclass(frozen=True, slots=True)
class UnknownEvent:
    """An event whose type this version of newsroom does not know; read models ignore it."""

    type_name: str
    data: Mapping[str, Any]


Event = (
    ArticleDraftCreated
    | ArticleDraftUpdated
    | ArticlePublished
    | ArticleCreated
    | ArticleUpdated
    | ArticleRetracted
)
EVENT_TYPES: tuple[type[Event], ...] = (
    ArticleDraftCreated,
    ArticleDraftUpdated,
    ArticlePublished,
    ArticleCreated,
    ArticleUpdated,
    ArticleRetracted,
)

# An upcaster takes the data of one schema version and returns the data of the next one.
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class _EventType:
    """What the codec knows about one event class: how to rebuild it from JSON."""

    __slots__ = ("cls", "datetime_fields", "field_names")

    def __init__(self, cls: type[Event]) -> None:
        self.cls = cls
        fields = dataclasses.fields(cls)
        self.field_names = frozenset(f.name for f in fields)
        self.datetime_fields = tuple(f.name for f in fields if "datetime" in str(f.type))


class Codec:
    """Turns events into (type name, schema version, JSON bytes) and back, upcasting old data."""

    def __init__(
        self,
        types: Iterable[type[Event]] = EVENT_TYPES,
        upcasters: Mapping[tuple[str, int], Upcaster] | None = None,
    ) -> None:
        self._types = {cls.type_name: _EventType(cls) for cls in types}
        # keyed by (type name, the schema version the upcaster reads)
        self._upcasters = dict(upcasters or {})

    def encode(self, event: Event) -> tuple[str, int, bytes]:
        """Return the stored form of an event; unset optional fields are left out."""
        data = {
            name: value
            for name in self._types[event.type_name].field_names
            if (value := getattr(event, name)) is not None
        }
        return event.type_name, event.schema_version, orjson.dumps(data)

    def decode(self, type_name: str, schema_version: int, raw: bytes | str) -> Event | UnknownEvent:
        """Rebuild an event from its stored form; unknown type names become `UnknownEvent`."""
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            raise CodecError(f"{type_name} event data is not valid JSON: {e}") from e
        known = self._types.get(type_name)
        if known is None:
            return UnknownEvent(type_name, data)
        if schema_version != known.cls.schema_version:
            data = self._upcast(type_name, schema_version, known.cls.schema_version, data)
        try:
            for name in known.datetime_fields:
                if name in data:
                    data[name] = datetime.fromisoformat(data[name])
            return known.cls(**data)
        except (TypeError, ValueError) as e:
            raise CodecError(f"{type_name} v{schema_version} data does not fit: {e}") from e

    def _upcast(
        self, type_name: str, stored: int, current: int, data: dict[str, Any]
    ) -> dict[str, Any]:
        if stored > current:
            raise CodecError(
                f"{type_name} was written with schema version {stored}, but this newsroom reads "
                f"up to version {current}; upgrade newsroom to read this log"
            )
        for version in range(stored, current):
            upcaster = self._upcasters.get((type_name, version))
            if upcaster is None:
                raise CodecError(f"no upcaster lifts {type_name} from schema version {version}")
            data = upcaster(data)
        return data


codec = Codec()
"""The codec for the events of this module, with every upcaster newsroom ships (none yet)."""
