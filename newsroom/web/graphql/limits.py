"""Query limits: what keeps hostile GraphQL documents cheap to refuse, checked before validation.

graphql-core's validation is thorough but not built for abuse: overlapping-field checks grow
with the square of the fields in a selection set. So a document is parsed with a token cap,
then its shape (depth, number of field selections, fragment cycles) is measured in one linear
walk, and only a document within the limits reaches full validation. Cost is checked per
request with Ariadne's cost validator, since it depends on variables (count, first).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import (
    ArgumentNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    Node,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
)

from newsroom.config import GraphQLLimits

# What each field costs: lists cost per item asked for (count / first), the log browser too,
# and a history reads the article's stream. A field that carries article text (a body, an
# event's data or changes: up to 100 KB each, where an id is a few bytes) costs TEXT per item,
# so a query cannot ask for thousands of them: 1,000 events with their data is the most one
# query may ask (cost 5,000). What the text really weighs is counted as the reply is built
# (reply_size.py).
TEXT = 4
COST_MAP: dict[str, dict[str, Any]] = {
    "Query": {
        "articles": {"complexity": 1, "multipliers": ["count"]},
        "articleConnection": {"complexity": 1, "multipliers": ["first"]},
        "events": {"complexity": 1, "multipliers": ["count"]},
        "search": {"complexity": 5, "multipliers": ["first"]},
    },
    "Article": {"history": {"complexity": 5}, "body": {"complexity": TEXT}},
    "LogEvent": {"data": {"complexity": TEXT}},
    "ArticleEvent": {"changes": {"complexity": TEXT}},
}


def check_shape(document: DocumentNode, limits: GraphQLLimits) -> GraphQLError | None:
    """An error if the document nests too deep, selects too many fields or has a fragment cycle."""
    walker = _Walker(fragments_of(document))
    total = 0  # over every operation and fragment, used or not: validation reads them all
    try:
        for definition in document.definitions:
            if isinstance(definition, OperationDefinitionNode | FragmentDefinitionNode):
                depth, fields = walker.measure(definition.selection_set)
                total += fields
                if depth > limits.max_depth:
                    return GraphQLError(
                        f"the query nests {depth} levels deep; the limit is {limits.max_depth}"
                    )
                if total > limits.max_fields:
                    return GraphQLError(
                        f"the document selects {total:,} fields (aliases and fragments "
                        f"included); the limit is {limits.max_fields:,}"
                    )
    except _Cycle as cycle:
        return GraphQLError(f"fragment {cycle.args[0]!r} spreads itself (a fragment cycle)")
    return None


def fragments_of(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    """The document's fragment definitions by name."""
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


class _Cycle(Exception):
    pass


class _Walker:
    """Measures (depth, field count) of selection sets, each fragment once (memoised)."""

    def __init__(self, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self._fragments = fragments
        self._memo: dict[str, tuple[int, int]] = {}
        self._open: set[str] = set()

    def measure(self, selections: SelectionSetNode | None) -> tuple[int, int]:
        if selections is None:
            return 0, 0
        depth, fields = 0, 0
        for node in selections.selections:
            if isinstance(node, FieldNode):
                inner_depth, inner_fields = self.measure(node.selection_set)
                depth, fields = max(depth, inner_depth + 1), fields + inner_fields + 1
            elif isinstance(node, InlineFragmentNode):
                inner_depth, inner_fields = self.measure(node.selection_set)
                depth, fields = max(depth, inner_depth), fields + inner_fields
            elif isinstance(node, FragmentSpreadNode):
                inner_depth, inner_fields = self._fragment(node.name.value)
                depth, fields = max(depth, inner_depth), fields + inner_fields
        return depth, fields

    def _fragment(self, name: str) -> tuple[int, int]:
        if name in self._memo:
            return self._memo[name]
        if name in self._open:
            raise _Cycle(name)
        definition = self._fragments.get(name)
        if definition is None:
            return 0, 0  # validation reports the unknown fragment
        self._open.add(name)
        self._memo[name] = self.measure(definition.selection_set)
        self._open.discard(name)
        return self._memo[name]


def sizes_from_variables(document: DocumentNode) -> bool:
    """True if a list size the cost depends on (count, first) is given by a variable."""
    sizes = {
        name
        for fields in COST_MAP.values()
        for f in fields.values()
        for name in f.get("multipliers", ())
    }
    return any(
        isinstance(node, ArgumentNode)
        and node.name.value in sizes
        and isinstance(node.value, VariableNode)
        for node in _nodes(document)
    )


def _nodes(node: Node) -> Iterator[Node]:
    yield node
    for key in node.keys:
        value = getattr(node, key, None)
        children = value if isinstance(value, tuple | list) else (value,)
        for child in children:
            if isinstance(child, Node):
                yield from _nodes(child)
