"""Arguments checked before execution, so bad input is a request error, not a failed field.

A count of 0 or an id that is no id is the caller's mistake; reporting it as a failed field
(an `errors` entry with a `path`) reads like a server fault to clients and to tools such as
schemathesis. So the root query fields' arguments are checked here, with the request's
variables, by the same rules the resolvers apply, and refused as a whole with a 400.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from graphql import (
    ArgumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    Undefined,
    value_from_ast_untyped,
)

from newsroom.errors import ValidationError
from newsroom.projections.search_query import parse
from newsroom.web import search
from newsroom.web.resolvers import COUNT_MAX, EVENTS_MAX, check_count, decode_cursor, parse_id


def _at_least(minimum: int) -> Callable[[str, Any], None]:
    def check(name: str, value: Any) -> None:
        if value < minimum:
            raise ValidationError(f"{name} must be {minimum} or more, got {value}")

    return check


RULES: dict[str, dict[str, Callable[[str, Any], Any]]] = {
    "article": {"id": lambda _, v: parse_id(v), "version": _at_least(1)},
    "articles": {"count": lambda n, v: check_count(n, v, COUNT_MAX)},
    "articleConnection": {
        "first": lambda n, v: check_count(n, v, COUNT_MAX),
        "after": lambda _, v: decode_cursor(v),
    },
    "events": {"count": lambda n, v: check_count(n, v, EVENTS_MAX), "after": _at_least(0)},
    "articleEvents": {"after": _at_least(0)},
    "search": {
        "query": lambda _, v: parse(v),
        "first": lambda n, v: check_count(n, v, COUNT_MAX),
        "after": lambda _, v: search.decode_cursor(v),
    },
}


# Root fields that each cost real work per call (a full-text search reads every match): one per
# document, so aliases cannot multiply one request into hundreds of searches.
ONCE_PER_REQUEST = ("search",)


def argument_errors(
    operation: OperationDefinitionNode,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
) -> list[GraphQLError]:
    """Errors for root fields whose arguments break the API's rules (none if all is well)."""
    errors = []
    fields = list(_root_fields(operation.selection_set, fragments, set()))
    for name in ONCE_PER_REQUEST:
        if len(repeated := [f for f in fields if f.name.value == name]) > 1:
            message = f"a request may run one {name}; send the others as separate requests"
            errors.append(
                GraphQLError(message, repeated[1], extensions={"code": ValidationError.code})
            )
    for field in fields:
        for argument in field.arguments or ():
            rule = RULES.get(field.name.value, {}).get(argument.name.value)
            if rule is None:
                continue
            value = value_from_ast_untyped(argument.value, variables)
            if value is None or value is Undefined:
                continue  # null or left out where allowed; GraphQL validation covers the rest
            name = argument.name.value
            try:
                rule(name, value)
            except ValidationError as e:
                errors.append(_error(str(e), argument))
            except (TypeError, ValueError, AttributeError):
                errors.append(
                    _error(f"{name} has a value of the wrong kind: {value!r:.40}", argument)
                )
    return errors


def _error(message: str, argument: ArgumentNode) -> GraphQLError:
    return GraphQLError(message, argument, extensions={"code": ValidationError.code})


def _root_fields(
    selections: SelectionSetNode, fragments: dict[str, FragmentDefinitionNode], seen: set[str]
) -> Iterator[FieldNode]:
    for node in selections.selections:
        if isinstance(node, FieldNode):
            yield node
        elif isinstance(node, InlineFragmentNode):
            yield from _root_fields(node.selection_set, fragments, seen)
        elif isinstance(node, FragmentSpreadNode) and node.name.value not in seen:
            seen.add(node.name.value)
            if (fragment := fragments.get(node.name.value)) is not None:
                yield from _root_fields(fragment.selection_set, fragments, seen)
