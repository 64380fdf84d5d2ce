"""The parameters of a GraphQL-over-HTTP request, from a POST's JSON body or a GET's query
string, checked to be well formed: `query` a string, `operationName` a string, `variables` and
`extensions` objects (https://graphql.github.io/graphql-over-http/draft/#sec-Request-Parameters).

A request that is not well formed is refused by HTTP (400) in every media type, before GraphQL
sees it; a `query` that does not parse is a well-formed request, answered by GraphQL.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from multidict import MultiMapping

from newsroom.web.http import LONE_SURROGATE, NUMBER_TOO_LONG, lone_surrogate

_NAMES = ("query", "operationName", "variables", "extensions")


class Params(NamedTuple):
    """A well-formed request's parameters (null and absent alike as None, or {} for variables)."""

    query: str
    operation_name: str | None
    variables: dict[str, Any]


class Malformed(Exception):
    """Raised when a request is not a well-formed GraphQL-over-HTTP request; says why."""


def from_body(body: dict[str, Any]) -> Params:
    """The parameters of a POST's JSON object."""
    query = body.get("query")
    if query is None:
        raise Malformed("the request body needs a 'query' string: the GraphQL document")
    if not isinstance(query, str):
        raise Malformed("'query' must be a string: the GraphQL document")
    name = body.get("operationName")
    if not isinstance(name, str | None):
        raise Malformed("'operationName' must be a string")
    variables = _object(body.get("variables"), "variables")
    _object(body.get("extensions"), "extensions")  # checked; no extension is used yet
    return Params(query, name or None, variables)


def from_query(query: MultiMapping[str]) -> Params:
    """The parameters of a GET's query string, `variables` and `extensions` as JSON text. A
    parameter given twice is refused (which one would be meant?); an empty one is as absent
    (the spec says so of `operationName`)."""
    for name in _NAMES:
        if len(query.getall(name, ())) > 1:
            raise Malformed(f"the query string gives '{name}' more than once")
    if "query" not in query:
        raise Malformed(
            "GET /graphql needs a 'query' parameter (open it in a browser for GraphiQL)"
        )
    variables = _object(_json(query.get("variables"), "variables"), "variables")
    _object(_json(query.get("extensions"), "extensions"), "extensions")
    return Params(query["query"], query.get("operationName") or None, variables)


def _object(value: Any, name: str) -> dict[str, Any]:
    """`value` if it is a JSON object, {} if null or absent; else Malformed."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Malformed(f"'{name}' must be a JSON object")
    return value


def _json(text: str | None, name: str) -> Any:
    """The JSON value of a query-string parameter (None if absent or empty)."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise Malformed(f"'{name}' is not valid JSON: {e.msg} at character {e.pos}") from None
    except ValueError:
        raise Malformed(f"'{name}' is not usable JSON: {NUMBER_TOO_LONG}") from None
    except RecursionError:
        raise Malformed(f"'{name}' nests too deeply") from None
    if lone_surrogate(value):
        raise Malformed(f"'{name}' is not usable: {LONE_SURROGATE}")
    return value
