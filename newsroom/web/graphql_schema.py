"""The executable GraphQL schema, and its documents: parsed, limited and validated once.

Shared by GraphQL over HTTP (graphql.py) and over WebSocket (graphql_ws.py).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from importlib import resources
from typing import Any

from aiohttp import web
from ariadne import format_error, make_executable_schema
from ariadne.validation import cost_validator
from graphql import DocumentNode, FragmentDefinitionNode, GraphQLError, parse, validate

from newsroom.config import GraphQLLimits
from newsroom.errors import NewsroomError
from newsroom.web.graphql_limits import COST_MAP, check_shape, sizes_from_variables
from newsroom.web.mutations import mutation
from newsroom.web.resolvers import article_type, datetime_scalar, json_scalar, query
from newsroom.web.subscriptions import subscription

log = logging.getLogger(__name__)
CACHE_SIZE = 500  # distinct documents kept parsed and validated

schema = make_executable_schema(
    resources.files("newsroom.web").joinpath("schema.graphql").read_text(encoding="utf-8"),
    query,
    mutation,
    subscription,
    article_type,
    datetime_scalar,
    json_scalar,
)


class Documents:
    """Parsed, shape-checked and validated documents, by query text (least recently used out)."""

    def __init__(self, limits: GraphQLLimits, size: int = CACHE_SIZE) -> None:
        self.limits = limits
        self._size = size
        self._cache: OrderedDict[str, DocumentNode | list[GraphQLError]] = OrderedDict()
        # documents whose cost does not depend on variables: their cost errors, computed once
        self._static_costs: dict[int, list[GraphQLError]] = {}

    def get(self, text: str) -> DocumentNode | list[GraphQLError]:
        """The document for `text`, or the errors that make it unusable."""
        found = self._cache.get(text)
        if found is None:
            found = self._cache[text] = self._prepare(text)
            if len(self._cache) > self._size:
                _, dropped = self._cache.popitem(last=False)
                self._static_costs.pop(id(dropped), None)
        else:
            self._cache.move_to_end(text)
        return found

    def _prepare(self, text: str) -> DocumentNode | list[GraphQLError]:
        try:
            document = parse(text, max_tokens=self.limits.max_tokens)
            if shape_error := check_shape(document, self.limits):
                return [shape_error]
        except GraphQLError as e:
            return [e]
        except RecursionError:  # the parser recurses per level of nesting
            return [GraphQLError(f"the query nests deeper than {self.limits.max_depth} levels")]
        return validate(schema, document) or document

    def cost_errors(self, document: DocumentNode, variables: dict[str, Any]) -> list[GraphQLError]:
        """Errors if running `document` with `variables` would cost more than the limit."""
        if (known := self._static_costs.get(id(document))) is not None:
            return known
        rule = cost_validator(
            self.limits.max_cost, default_cost=1, variables=variables, cost_map=COST_MAP
        )
        errors = validate(schema, document, [rule])
        if not sizes_from_variables(document):
            self._static_costs[id(document)] = errors
        return errors


DOCUMENTS = web.AppKey("graphql documents", Documents)


def format_graphql_error(error: GraphQLError, debug: bool = False) -> dict[str, Any]:
    """Show our own errors' messages; hide anything unexpected behind a generic one."""
    original = error.original_error
    if original is None or isinstance(original, NewsroomError | GraphQLError):
        formatted: dict[str, Any] = format_error(error, debug=False)
        if isinstance(original, NewsroomError):
            formatted["extensions"] = {"code": original.code}
        return formatted
    log.error("unexpected error in a resolver at %s", error.path, exc_info=original)
    return {"message": "internal error", "path": error.path, "extensions": {"code": "INTERNAL"}}


def fragments_of(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    """The document's fragment definitions by name."""
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
