"""GraphQL mutations: one per command. User errors go in the payload, as Ariadne advises.

Each resolver builds a command from its arguments, hands it to the command handler, waits
(bounded) until the views reached the position it wrote, and answers with the article as the
views now show it. Refusals come back as `status: FAILED` with `error` and a `code`.
"""

from __future__ import annotations

import logging
from typing import Any

from ariadne import MutationType

from newsroom.articles import (
    Command,
    CreateArticle,
    CreateDraft,
    PublishArticle,
    RetractArticle,
    UpdateArticle,
    UpdateDraft,
)
from newsroom.errors import (
    AlreadyExists,
    ConcurrencyError,
    IdempotencyKeyReused,
    InvalidTransition,
    NewsroomError,
    NotFound,
    ValidationError,
)
from newsroom.web.resolvers import newsroom_of, parse_id
from newsroom.web.types import Info

log = logging.getLogger(__name__)
mutation = MutationType()
MUTATION_VIEW_WAIT = 2.0  # seconds a mutation waits for the views to show its write
# The errors that are the caller's to fix; anything else is a server problem (top-level error).
USER_ERRORS = (
    ValidationError, NotFound, AlreadyExists, InvalidTransition, ConcurrencyError,
    IdempotencyKeyReused,
)  # fmt: skip


async def _handle(
    info: Info,
    build: Any,
    expected_version: int | None = None,
    idempotency_key: str | None = None,
    creates: bool = False,
) -> dict[str, Any]:
    newsroom = newsroom_of(info)
    try:
        if expected_version is not None and expected_version < 0:
            raise ValidationError(f"expected_version must be 0 or more, got {expected_version}")
        if creates and expected_version not in (None, 0):
            raise ValidationError("a new article has no version yet: expected_version must be 0")
        command: Command = build()
        outcome = await newsroom.commands.handle(
            command, expected_version=expected_version, idempotency_key=idempotency_key
        )
    except USER_ERRORS as e:
        return {"status": "FAILED", "error": str(e), "code": e.code}
    try:
        await newsroom.wait_for(outcome.position, MUTATION_VIEW_WAIT)
    except NewsroomError as e:
        log.warning("a write is durable but not yet visible: %s", e)
    return {
        "status": "SUCCEEDED",
        "id": str(outcome.article_id),
        "name": outcome.event_names[-1] if outcome.event_names else None,
        "position": outcome.position,
        "version": outcome.version,
        "article": newsroom.articles.get(outcome.article_id),
    }


def _new(kind: type[CreateDraft], article: dict[str, Any]) -> CreateDraft:
    return kind(
        article_id=parse_id(article["id"]) if article.get("id") is not None else None,
        title=article["title"],
        body=article["body"],
        category=article["category"],
        author_id=parse_id(article["author_id"], "author_id"),
        author_name=article["author_name"],
    )


def _changes(changes: dict[str, Any]) -> dict[str, Any]:
    fields = {name: value for name, value in changes.items() if value is not None}
    if "author_id" in fields:
        fields["author_id"] = parse_id(fields["author_id"], "author_id")
    return fields


@mutation.field("createArticle")
async def resolve_create_article(
    _: None, info: Info, article: dict[str, Any], **options: Any
) -> dict[str, Any]:
    key = options.get("idempotency_key") or article.get("idempotency_key")
    version = options.get("expected_version")
    return await _handle(info, lambda: _new(CreateArticle, article), version, key, creates=True)


@mutation.field("createDraft")
async def resolve_create_draft(
    _: None, info: Info, article: dict[str, Any], **options: Any
) -> dict[str, Any]:
    return await _handle(info, lambda: _new(CreateDraft, article), **options, creates=True)


@mutation.field("updateDraft")
async def resolve_update_draft(
    _: None, info: Info, id: str, changes: dict[str, Any], **options: Any
) -> dict[str, Any]:
    return await _handle(info, lambda: UpdateDraft(parse_id(id), **_changes(changes)), **options)


@mutation.field("updateArticle")
async def resolve_update_article(
    _: None, info: Info, id: str, changes: dict[str, Any], **options: Any
) -> dict[str, Any]:
    return await _handle(info, lambda: UpdateArticle(parse_id(id), **_changes(changes)), **options)


@mutation.field("publishArticle")
async def resolve_publish(_: None, info: Info, id: str, **options: Any) -> dict[str, Any]:
    return await _handle(info, lambda: PublishArticle(parse_id(id)), **options)


@mutation.field("retractArticle")
async def resolve_retract(
    _: None, info: Info, id: str, reason: str, **options: Any
) -> dict[str, Any]:
    return await _handle(info, lambda: RetractArticle(parse_id(id), reason), **options)
