"""The article domain, pure: commands, state, `decide` (command -> events), `evolve`.

No I/O and no asyncio here. The command handler loads an article's events, folds them into an
`ArticleState` with `evolve`, asks `decide` what happens next, and appends the answer to the log.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from newsroom import validation
from newsroom.errors import AlreadyExists, InvalidTransition, NotFound, ValidationError
from newsroom.events import (
    EDITABLE,
    ArticleCreated,
    ArticleDraftCreated,
    ArticleDraftUpdated,
    ArticlePublished,
    ArticleRetracted,
    ArticleUpdated,
    Event,
    Status,
)


@dataclass(frozen=True, slots=True)
class ArticleState:
    """An article as its events left it; `version` is the number of events in its stream."""

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
    published_at: datetime | None = None
    retracted_at: datetime | None = None
    retraction_reason: str | None = None


# --- commands: what an editor asks for (imperative names) --------------------------------------


@dataclass(frozen=True, slots=True)
class CreateDraft:
    """Start a draft. `article_id` None lets the server pick the next free id."""

    title: str
    body: str
    category: str
    author_id: int
    author_name: str
    article_id: int | None = None


@dataclass(frozen=True, slots=True)
class CreateArticle(CreateDraft):
    """Create an article and publish it at once (the seed's `createArticle`)."""


@dataclass(frozen=True, slots=True)
class UpdateDraft:
    """Change some fields of a draft; fields left None stay as they are."""

    article_id: int
    title: str | None = None
    body: str | None = None
    category: str | None = None
    author_id: int | None = None
    author_name: str | None = None


@dataclass(frozen=True, slots=True)
class UpdateArticle(UpdateDraft):
    """Correct some fields of a published article; fields left None stay as they are."""


@dataclass(frozen=True, slots=True)
class PublishArticle:
    """Make a draft public."""

    article_id: int


@dataclass(frozen=True, slots=True)
class RetractArticle:
    """Withdraw a published article for good, telling readers why."""

    article_id: int
    reason: str


Command = CreateDraft | UpdateDraft | PublishArticle | RetractArticle


# --- decide: command + past -> new events --------------------------------------------------------


def decide(state: ArticleState | None, command: Command, now: datetime) -> list[Event]:
    """Return the events that `command` causes for an article in `state`, or raise why not."""
    match command:
        case CreateDraft(article_id=None):
            raise ValidationError("the command handler assigns an id before deciding")
        case CreateDraft(article_id=int(article_id)):
            if state is not None:
                raise AlreadyExists(f"article {article_id} already exists; pick another id")
            new = ArticleCreated if isinstance(command, CreateArticle) else ArticleDraftCreated
            return [new(**_validated_new(command), created_at=now)]
        case UpdateArticle():
            current = _require(state, command.article_id, Status.PUBLISHED, "update")
            return [ArticleUpdated(command.article_id, now, **_changes(current, command))]
        case UpdateDraft():
            current = _require(state, command.article_id, Status.DRAFT, "update the draft of")
            return [ArticleDraftUpdated(command.article_id, now, **_changes(current, command))]
        case PublishArticle():
            _require(state, command.article_id, Status.DRAFT, "publish")
            return [ArticlePublished(command.article_id, published_at=now)]
        case RetractArticle():
            _require(state, command.article_id, Status.PUBLISHED, "retract")
            reason = validation.text("reason", command.reason, limit=validation.REASON_MAX)
            return [ArticleRetracted(command.article_id, reason=reason, retracted_at=now)]
    raise TypeError(f"not an article command: {command!r}")  # pragma: no cover


def _validated_new(command: CreateDraft) -> dict[str, Any]:
    return {
        "article_id": validation.positive_id("article id", command.article_id or 0),
        **{name: _validated(name, getattr(command, name)) for name in EDITABLE},
    }


def _validated(name: str, value: Any) -> Any:
    if name == "author_id":
        return validation.positive_id("author_id", value)
    if name == "category":
        return validation.category(value)
    if name == "body":
        return validation.text("body", value, limit=validation.BODY_MAX, single_line=False)
    limit = validation.TITLE_MAX if name == "title" else validation.AUTHOR_NAME_MAX
    return validation.text(name, value, limit=limit)


def _changes(current: ArticleState, command: UpdateDraft) -> dict[str, Any]:
    given = {n: v for n in EDITABLE if (v := getattr(command, n)) is not None}
    if not given:
        raise ValidationError("give at least one field to change")
    changed = {n: v for n, v in given.items() if _validated(n, v) != getattr(current, n)}
    if not changed:
        raise ValidationError(
            f"the update changes nothing: every given field equals article {current.id}'s "
            "current value"
        )
    return changed


def _require(
    state: ArticleState | None, article_id: int, needed: Status, action: str
) -> ArticleState:
    validation.positive_id("article id", article_id)
    if state is None:
        raise NotFound(f"article {article_id} does not exist")
    if state.status is needed:
        return state
    raise InvalidTransition(f"cannot {action} article {article_id}: {_why_not(state, action)}")


def _why_not(state: ArticleState, action: str) -> str:
    if state.status is Status.RETRACTED:
        return "it was retracted, and a retraction is final; publish a new article instead"
    if state.status is Status.PUBLISHED:
        return "it is already published; use updateArticle to correct it"
    if action == "retract":
        return "it is a draft and was never public; there is nothing to retract"
    return "it is still a draft; use updateDraft to change it, or publishArticle first"


# --- evolve: state + event -> next state ---------------------------------------------------------


def evolve(state: ArticleState | None, event: Event) -> ArticleState:
    """Return the article after `event`; the domain only ever gives it events `decide` allows."""
    match event:
        case ArticleDraftCreated() | ArticleCreated():
            published = isinstance(event, ArticleCreated)
            return ArticleState(
                id=event.article_id,
                **{name: getattr(event, name) for name in EDITABLE},
                status=Status.PUBLISHED if published else Status.DRAFT,
                version=1,
                created=event.created_at,
                modified=event.created_at,
                published_at=event.created_at if published else None,
            )
    assert state is not None, f"{event.type_name} before the article was created"
    version = state.version + 1
    match event:
        case ArticleDraftUpdated() | ArticleUpdated():
            changes = {n: v for n in EDITABLE if (v := getattr(event, n)) is not None}
            return replace(state, **changes, version=version, modified=event.updated_at)
        case ArticlePublished():
            return replace(
                state,
                status=Status.PUBLISHED,
                version=version,
                modified=event.published_at,
                published_at=event.published_at,
            )
        case ArticleRetracted():
            return replace(
                state,
                status=Status.RETRACTED,
                version=version,
                modified=event.retracted_at,
                retracted_at=event.retracted_at,
                retraction_reason=event.reason,
            )
    raise TypeError(f"not an article event: {event!r}")  # pragma: no cover


def fold(events: Iterable[Event]) -> ArticleState | None:
    """Replay an article's events from the start; None when there are none."""
    state: ArticleState | None = None
    for event in events:
        state = evolve(state, event)
    return state
