"""GraphQL mutations: one per command. User errors go in the payload, as Ariadne advises.

Each resolver builds a command from its arguments, hands it to the command handler, waits
(bounded by the `view_wait` setting) until the views reached the position it wrote, and answers
with the article as the views now show it. Refusals come back as `status: FAILED` with `error`
and a `code`: a mutation's arguments are therefore checked here, with the rules of
`web/inputs.py`, and by the domain, never as a request error.
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
    ProjectionFailed,
    ValidationError,
)
from newsroom.web import inputs
from newsroom.web.graphql.context import Info

log = logging.getLogger(__name__)
mutation = MutationType()
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
    context = info.context
    try:
        if expected_version is not None and expected_version < 0:
            raise ValidationError(f"expected_version must be 0 or more, got {expected_version}")
        if creates and expected_version not in (None, 0):
            raise ValidationError("a new article has no version yet: expected_version must be 0")
        command: Command = build()
        outcome = await context.commands.handle(
            command, expected_version=expected_version, idempotency_key=idempotency_key
        )
    except USER_ERRORS as e:
        return {"status": "FAILED", "error": str(e), "code": e.code}
    views = context.views
    try:
        await views.wait_for(outcome.position, context.settings.view_wait)
    except NewsroomError as e:
        log.warning("a write is durable but not yet visible: %s", e)
    try:
        article = views.articles.get(outcome.article_id)
    except ProjectionFailed:
        article = None  # a stopped view shows nothing rather than what it held when it stopped
    return {
        "status": "ACCEPTED",
        "id": str(outcome.article_id),
        "name": outcome.event_names[-1] if outcome.event_names else None,
        "position": outcome.position,
        "version": outcome.version,
        "article": article,
    }


def _new(kind: type[CreateDraft], article: dict[str, Any]) -> CreateDraft:
    return kind(
        article_id=inputs.article_id("id", article["id"])
        if article.get("id") is not None
        else None,
        title=article["title"],
        body=article["body"],
        category=article["category"],
        author_id=inputs.article_id("author_id", article["author_id"]),
        author_name=article["author_name"],
    )


def _changes(changes: dict[str, Any]) -> dict[str, Any]:
    fields = {name: value for name, value in changes.items() if value is not None}
    if "author_id" in fields:
        fields["author_id"] = inputs.article_id("author_id", fields["author_id"])
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
    return await _handle(
        info, lambda: UpdateDraft(inputs.article_id("id", id), **_changes(changes)), **options
    )


@mutation.field("updateArticle")
async def resolve_update_article(
    _: None, info: Info, id: str, changes: dict[str, Any], **options: Any
) -> dict[str, Any]:
    return await _handle(
        info, lambda: UpdateArticle(inputs.article_id("id", id), **_changes(changes)), **options
    )


@mutation.field("publishArticle")
async def resolve_publish(_: None, info: Info, id: str, **options: Any) -> dict[str, Any]:
    return await _handle(info, lambda: PublishArticle(inputs.article_id("id", id)), **options)


@mutation.field("retractArticle")
async def resolve_retract(
    _: None, info: Info, id: str, reason: str, **options: Any
) -> dict[str, Any]:
    return await _handle(
        info, lambda: RetractArticle(inputs.article_id("id", id), reason), **options
    )
