"""GraphQL over HTTP: the schema's resolvers (thin: parse, ask, shape) and the POST /graphql route.

Queries read the articles projection; mutations go through the command handler. User errors of
a mutation come back in its payload (`status: FAILED`, `error`, `code`); protocol problems are
top-level `errors`. No traceback or internal value ever reaches a client.
"""

from __future__ import annotations

import logging
from importlib import resources
from typing import Any

from aiohttp import web
from ariadne import (
    MutationType,
    ObjectType,
    QueryType,
    format_error,
    graphql,
    make_executable_schema,
)
from graphql import GraphQLError, GraphQLResolveInfo

from newsroom.app import Newsroom
from newsroom.articles import CreateArticle
from newsroom.errors import NewsroomError, ValidationError, ViewTimeout
from newsroom.projections.articles import ArticleView
from newsroom.web.http import NEWSROOM, json_error, positioned_json, read_json_object

log = logging.getLogger(__name__)
COUNT_MAX = 50
MUTATION_VIEW_WAIT = 2.0  # seconds a mutation waits for the views to show its write


class _HideExpected(logging.Filter):
    """Ariadne logs every resolver error; ours are answers to the client, not server faults."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        original = getattr(error, "original_error", error)
        return not isinstance(original, NewsroomError)


_resolver_errors = logging.getLogger("newsroom.web.resolvers")
_resolver_errors.addFilter(_HideExpected())

query = QueryType()
mutation = MutationType()
article = ObjectType("Article")


def _newsroom(info: GraphQLResolveInfo) -> Newsroom:
    newsroom: Newsroom = info.context["newsroom"]
    return newsroom


def parse_id(value: Any, field: str = "id") -> int:
    """An ID argument as a positive integer, or a `ValidationError` naming the field."""
    text = str(value).strip()
    if not text.isascii() or not text.isdigit() or not 0 < int(text) < 2**31:
        raise ValidationError(f"{field} must be a positive whole number, got {str(value)[:40]!r}")
    return int(text)


@query.field("article")
def resolve_article(_: None, info: GraphQLResolveInfo, id: str) -> ArticleView | None:
    newsroom = _newsroom(info)
    newsroom.projectors["articles"].check()
    return newsroom.articles.get(parse_id(id))


@query.field("articles")
def resolve_articles(
    _: None, info: GraphQLResolveInfo, count: int, status: str, category: str | None = None
) -> list[ArticleView]:
    if not 1 <= count <= COUNT_MAX:
        raise ValidationError(f"count must be between 1 and {COUNT_MAX}, got {count}")
    newsroom = _newsroom(info)
    newsroom.projectors["articles"].check()
    if status == "UNKNOWN":
        return []  # the seed's zero value: no article is ever in it
    return newsroom.articles.latest(status, category, count)  # type: ignore[arg-type]


@article.field("author_id")
def resolve_author_id(view: ArticleView, _: GraphQLResolveInfo) -> str:
    return str(view.author_id)


@mutation.field("createArticle")
async def resolve_create_article(
    _: None, info: GraphQLResolveInfo, article: dict[str, Any]
) -> dict[str, Any]:
    newsroom = _newsroom(info)
    try:
        command = CreateArticle(
            article_id=parse_id(article["id"]) if article.get("id") is not None else None,
            title=article["title"],
            body=article["body"],
            category=article["category"],
            author_id=parse_id(article["author_id"], "author_id"),
            author_name=article["author_name"],
        )
        outcome = await newsroom.commands.handle(
            command, idempotency_key=article.get("idempotency_key")
        )
    except NewsroomError as e:
        return {"status": "FAILED", "error": str(e), "code": e.code}
    try:
        await newsroom.wait_for(outcome.position, MUTATION_VIEW_WAIT)
    except (ViewTimeout, NewsroomError) as e:
        log.warning("a write is durable but not yet visible: %s", e)
    return {
        "status": "SUCCEEDED",
        "id": str(outcome.article_id),
        "name": outcome.event_names[-1] if outcome.event_names else None,
        "position": outcome.position,
        "version": outcome.version,
    }


schema = make_executable_schema(
    resources.files("newsroom.web").joinpath("schema.graphql").read_text(encoding="utf-8"),
    query,
    mutation,
    article,
)


def format_graphql_error(error: GraphQLError, debug: bool = False) -> dict[str, Any]:
    """Show our own errors' messages; hide anything unexpected behind a generic one."""
    original = error.original_error
    if original is None or isinstance(original, NewsroomError):
        formatted: dict[str, Any] = format_error(error, debug=False)
        if isinstance(original, NewsroomError):
            formatted["extensions"] = {"code": original.code}
        return formatted
    return {"message": "internal error", "path": error.path, "extensions": {"code": "INTERNAL"}}


async def handle_graphql(request: web.Request) -> web.Response:
    """POST /graphql: one JSON operation in, one JSON result out."""
    body = await read_json_object(request)
    if not isinstance(body.get("query"), str):
        return json_error(400, "the request body needs a 'query' string")
    if not isinstance(body.get("variables") or {}, dict):
        return json_error(400, "'variables' must be a JSON object")
    newsroom = request.app[NEWSROOM]
    success, result = await graphql(
        schema,
        body,
        context_value={"newsroom": newsroom, "request": request},
        debug=False,
        error_formatter=format_graphql_error,
        logger=_resolver_errors,
    )
    # GraphQL over HTTP with application/json: 200 once execution ran, even with field errors;
    # 400 when the document did not parse or validate (https://graphql.github.io/graphql-over-http/)
    status = 200 if success or "data" in result else 400
    return positioned_json(result, newsroom.position, status=status)


def add_routes(app: web.Application) -> None:
    """Mount the GraphQL endpoint."""
    app.router.add_post("/graphql", handle_graphql)
