"""Argument rules: one table of what each root field's arguments must be, checked before execution.

A count of 0 or an id that is no id is the caller's mistake; reporting it as a failed field
(an `errors` entry with a `path`) reads like a server fault to clients and to tools such as
schemathesis. So the pipeline checks the root fields' arguments with the request's variables,
by the rules in `RULES` (from `web/inputs.py`, shared with the HTTP routes), and refuses a
request that breaks one as a whole, with a 400. What the rules return (an id as an int, a
cursor as its key, search text as terms) is handed to the resolvers as their arguments
(`context.checked`), so no resolver checks an argument again.
"""

from __future__ import annotations

from collections.abc import Iterator
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
from newsroom.web import inputs
from newsroom.web.inputs import COUNT_MAX, EVENTS_MAX, Rule

# root field -> argument -> the rule that checks and converts it
RULES: dict[str, dict[str, Rule]] = {
    "article": {"id": inputs.article_id, "version": inputs.at_least(1)},
    "articles": {"count": inputs.count(COUNT_MAX)},
    "articleConnection": {"first": inputs.count(COUNT_MAX), "after": inputs.list_cursor},
    "events": {
        "count": inputs.count(EVENTS_MAX),
        "after": inputs.at_least(0),
        "stream": inputs.stream_name,
    },
    "articleEvents": {"after": inputs.at_least(0)},
    "search": {
        "query": inputs.search_text,
        "first": inputs.count(COUNT_MAX),
        "after": inputs.search_cursor,
        "category": inputs.category,
    },
}

# Root fields that each cost real work per call (a full-text search reads every match): one per
# document, so aliases cannot multiply one request into hundreds of searches.
ONCE_PER_REQUEST = ("search",)

Checked = dict[int, dict[str, Any]]
"""Converted argument values by root field (the `id()` of its FieldNode), for the resolvers of
the fields in `RULES` (each decorated with `checked_arguments`)."""


def check_arguments(
    operation: OperationDefinitionNode,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
) -> Checked | list[GraphQLError]:
    """The root fields' arguments as the resolvers get them, or every rule they break."""
    errors = []
    checked: Checked = {}
    fields = list(_root_fields(operation.selection_set, fragments, set()))
    for name in ONCE_PER_REQUEST:
        if len(repeated := [f for f in fields if f.name.value == name]) > 1:
            message = f"a request may run one {name}; send the others as separate requests"
            errors.append(_error(message, repeated[1]))
    for field in fields:
        if (rules := RULES.get(field.name.value)) is None:
            continue  # a field without rules takes its arguments as GraphQL coerced them
        values = checked[id(field)] = {}
        for argument in field.arguments or ():
            if (rule := rules.get(argument.name.value)) is None:
                continue
            value = value_from_ast_untyped(argument.value, variables)
            if value is None or value is Undefined:
                continue  # null or left out where allowed; GraphQL validation covers the rest
            try:
                values[argument.name.value] = rule(argument.name.value, value)
            except ValidationError as e:
                errors.append(_error(str(e), argument))
            except (TypeError, ValueError, AttributeError):
                message = f"{argument.name.value} has a value of the wrong kind: {value!r:.40}"
                errors.append(_error(message, argument))
    return errors or checked


def _error(message: str, node: ArgumentNode | FieldNode) -> GraphQLError:
    return GraphQLError(message, node, extensions={"code": ValidationError.code})


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
