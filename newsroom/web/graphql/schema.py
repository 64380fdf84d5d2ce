"""The executable schema: `schema.graphql` with the resolvers bound to it (Ariadne)."""

from __future__ import annotations

from importlib import resources

from ariadne import make_executable_schema

from newsroom.web.graphql.mutations import mutation
from newsroom.web.graphql.objects import (
    article_event_type,
    article_type,
    datetime_scalar,
    json_scalar,
    log_event_type,
)
from newsroom.web.graphql.queries import query
from newsroom.web.graphql.subscriptions import subscription

SDL = resources.files(__package__).joinpath("schema.graphql").read_text(encoding="utf-8")

schema = make_executable_schema(
    SDL, query, mutation, subscription, article_type, log_event_type, article_event_type,
    datetime_scalar, json_scalar,
)  # fmt: skip
