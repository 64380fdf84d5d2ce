"""Query limits: what keeps hostile GraphQL documents cheap to refuse, checked before validation.

A document the server has not seen before is parsed and validated on the event loop, where
nothing else runs meanwhile. graphql-core's work grows with the document's tokens (some 10-15 µs
a token on the benchmark VM, parse, validation and cost together), except in two places where it
grows with a square: every two fields that share a response name in one selection set are
compared, and so is every two fragments spread together (both in OverlappingFieldsCanBeMerged).
`{ x: article(id: 1) { id } x: article(id: 1) { id } ... }`, 240 times in 6 KB, made 57,000
comparisons: over 300 ms (issue 12). So each square is stopped at its cause, by a count this
module makes in one linear walk, and the linear part by the size of the document; the costliest
document the limits let through takes about 15 ms, the reported one is refused in 2 ms
(bench/graphql_documents.py). Every legitimate document stays inside every limit: GraphiQL's
introspection query (183 tokens, 469 fields, 4 definitions, 18 fragment uses, no comparisons),
the README's and the seed's, and the largest requests of the tests (50 articles by id in 602
tokens, 80 creates in 970). `GraphQLLimits` (config.py) holds the values.

Parsing, with graphql-core's own limits:
- `max_length` (16,384 characters): the lexer reads every character, of strings and comments
  too, which no token count bounds (a 60 KB string took 7 ms). Long values go in variables.
- `max_tokens` (1,000): the bound on all the linear work, about 15 ms at most. It is GraphQL
  Armor's default too.
- `max_comments` (200): comments stay in the token list, so in the cache, but are not tokens to
  `max_tokens`. GraphiQL's welcome text is 29 lines of them.
- `max_errors` (20, in the pipeline): validation stops after so many; each costs some 60 µs
  (suggestions, locations), and graphql-core's own default is 100.

The shape, measured here in one walk with fragments expanded where they are spread; the walk
stops at the first limit passed, so it costs no more than the limits allow:
- `max_depth` (20) levels of nested fields; introspection nests 15 deep.
- `max_fields` (500) field selections, each counted as often as a fragment repeats it, as
  execution would produce them.
- `max_overlaps` (200): the comparisons validation makes between fields that share a response
  name in one selection set, counted as it merges them (from inline fragments, from fragments,
  and the sub-selections of same-named parents, which merge too). 200 take about 2 ms.
- `max_definitions` (16) operations and fragments: validation runs rules for each operation
  (some 100 µs each) and compares every two fragments spread together.
- `max_fragment_uses` (100): spreads and inline fragments, each counted as often as it is
  expanded. Fragments without fields would otherwise expand two to the power of their number
  (the walk here expands them, as execution does) without one field counted.

Cost is checked per request with Ariadne's cost validator, since it depends on variables
(count, first); it walks the same bounded document.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
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
SIZES = frozenset(
    name
    for by_field in COST_MAP.values()
    for f in by_field.values()
    for name in f.get("multipliers", [])
)
"""The arguments a list's cost multiplies with (count, first)."""


class Shape(NamedTuple):
    """What the walk found out about a document within the limits."""

    sized_by_variables: bool
    """Whether a list size the cost depends on (count, first) comes from a variable."""


# GraphQL's lexical tokens, as graphql-core's lexer reads them (spec: Lexical Tokens), with
# comments matched (and not captured) so that a `#` inside a string is not taken for one.
_TOKEN = re.compile(
    r'#[^\n\r]*|("""(?:\\"""|[^"]|"(?!""))*"""|"(?:[^"\\\n]|\\.)*"|\.\.\.'
    r"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|[_A-Za-z][_0-9A-Za-z]*|[!$&()\[\]{}:=@|])"
)  # In a block string a backslash escapes nothing but `\"""`, and it may end a line.


NUMBER_MAX = 40
"""Characters in a number of a document: an Int is 32 bits (11 characters), and a Float's digits
past the 17th change nothing. Python refuses to read an integer of more than 4,300 digits, an
error graphql-core does not expect; short of that, it would echo the number in its error."""


def lexical_refusal(text: str, limits: GraphQLLimits) -> GraphQLError | None:
    """An error if `text` has more lexical tokens than the limit, or a number longer than
    `NUMBER_MAX`. The tokens are found by one regular expression: about a tenth of what
    graphql-core's lexer takes to reach its own limit, so a document far past the limit costs
    its turn little."""
    found = _TOKEN.findall(text)
    if len(found) - found.count("") > limits.max_tokens:
        return GraphQLError(
            f"Document contains more than {limits.max_tokens} tokens. Parsing aborted."
        )
    for token in found:
        if len(token) > NUMBER_MAX and token[0] in _NUMBER_START:
            return GraphQLError(
                f"a number in the document has {len(token):,} characters; the limit is "
                f"{NUMBER_MAX} (an Int is 32 bits)"
            )
    return None


_NUMBER_START = frozenset("-0123456789")


def check_shape(document: DocumentNode, limits: GraphQLLimits) -> Shape | GraphQLError:
    """The document's shape, or an error naming the first limit it passes."""
    definitions = len(document.definitions)
    if definitions > limits.max_definitions:
        return GraphQLError(
            f"the document has {definitions} operations and fragments; "
            f"the limit is {limits.max_definitions}"
        )
    walk = _Walk(fragments_of(document), limits)
    try:
        for root, definition in enumerate(document.definitions):
            if isinstance(definition, OperationDefinitionNode | FragmentDefinitionNode):
                walk.selections(definition.selection_set, parent=-1 - root, depth=0)
    except _Refused as refused:
        return GraphQLError(refused.args[0])
    return Shape(walk.sized_by_variables)


def fragments_of(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    """The document's fragment definitions by name."""
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


class _Refused(Exception):
    """A limit was passed; the message says which."""


class _Walk:
    """Counts, over every operation and fragment with fragments expanded, what the limits bound.

    Fields that validation merges share a key: a field's key is its parent's key and its
    response name (alias or name), so `x { y }` and another `x { y }` in one selection set (or
    in fragments spread into it) give both `y` the same key, as validation compares them.
    """

    def __init__(self, fragments: dict[str, FragmentDefinitionNode], limits: GraphQLLimits):
        self.fragments = fragments
        self.limits = limits
        self.fields = 0
        self.fragment_uses = 0
        self.overlaps = 0  # pairs of fields that share a key
        self.merged: dict[tuple[int, str], list[int]] = {}  # (parent, name) -> [key, fields]
        self.most = (0, "")  # the most fields that share a key, and their response name
        self.expanding: list[str] = []  # the fragments being expanded, to find cycles
        self.sized_by_variables = False

    def selections(self, selection_set: SelectionSetNode, parent: int, depth: int) -> None:
        for node in selection_set.selections:
            if isinstance(node, FieldNode):
                self.field(node, parent, depth + 1)
            elif isinstance(node, InlineFragmentNode):
                self.use_fragment()
                self.selections(node.selection_set, parent, depth)
            elif isinstance(node, FragmentSpreadNode):
                self.use_fragment()
                self.spread(node.name.value, parent, depth)

    def field(self, node: FieldNode, parent: int, depth: int) -> None:
        self.count_field(depth)
        key = self.merge(parent, (node.alias or node.name).value)
        self.sized_by_variables |= any(
            argument.name.value in SIZES and isinstance(argument.value, VariableNode)
            for argument in node.arguments or ()
        )
        if node.selection_set is not None:
            self.selections(node.selection_set, key, depth)

    def count_field(self, depth: int) -> None:
        limits = self.limits
        if depth > limits.max_depth:
            raise _Refused(
                f"the query nests more than {limits.max_depth} levels deep; "
                f"the limit is {limits.max_depth}"
            )
        self.fields += 1
        if self.fields > limits.max_fields:
            raise _Refused(
                f"the document selects more than {limits.max_fields:,} fields (aliases and "
                f"fragments included); the limit is {limits.max_fields:,}"
            )

    def merge(self, parent: int, name: str) -> int:
        """The key of a field named `name` under `parent`, counting the comparisons it adds."""
        merged = self.merged.setdefault((parent, name), [len(self.merged), 0])
        key, earlier = merged
        merged[1] = earlier + 1
        self.overlaps += earlier  # validation compares it with each earlier one
        self.most = max(self.most, (earlier + 1, name))
        if self.overlaps > self.limits.max_overlaps:
            count, most = self.most
            raise _Refused(
                f"{count} or more fields share the name {most!r} in one selection set "
                "(fragments and same-named parents' selections included); validation compares "
                "every two fields that share a name, and the limit is "
                f"{self.limits.max_overlaps:,} comparisons per document"
            )
        return key

    def use_fragment(self) -> None:
        self.fragment_uses += 1
        if self.fragment_uses > self.limits.max_fragment_uses:
            raise _Refused(
                f"the document uses fragments more than {self.limits.max_fragment_uses} times "
                "(spreads and inline fragments, each time its fragment is expanded); the limit "
                f"is {self.limits.max_fragment_uses}"
            )

    def spread(self, name: str, parent: int, depth: int) -> None:
        definition = self.fragments.get(name)
        if definition is None:
            return  # validation reports the unknown fragment
        if name in self.expanding:
            raise _Refused(f"fragment {name!r} spreads itself (a fragment cycle)")
        self.expanding.append(name)
        self.selections(definition.selection_set, parent, depth)
        self.expanding.pop()
