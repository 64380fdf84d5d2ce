"""The cache of prepared GraphQL documents: least recently used first out, bounded in bytes.

A parsed document is far bigger than its text: graphql-core keeps every token (a linked list
that each node's location holds on to) and nodes for every name, value and selection. 500
entries of the hostile shape in issue 12 held 400 MB. Measured with tracemalloc (see
tests/web/test_document_cache.py), an entry takes up to TOKEN_BYTES per token of its document,
whatever its shape, plus its text twice (the key, and the names and values cut from it). Each
entry is weighed by that estimate, and the cache drops the least recently used entries while
the total is over its budget.

Those are also thousands of objects per document for the cyclic garbage collector to scan while
they live: with 24 MB of them, one collection of the older generations held the event loop for
up to 180 ms. So the budget is small (GraphQLLimits.cache_bytes), and a document is only kept
the second time it comes (within the last SEEN new documents): clients repeat their queries; a
flood of distinct documents does not, and keeping those would only push the repeated ones out
and feed the collector.

Refusals are kept too (a document that failed once fails again), as compact errors: the message
and locations a client sees, without the nodes or traceback that would keep the whole parsed
document alive.
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from typing import Generic, TypeVar

from graphql import GraphQLError

TOKEN_BYTES = 400  # per token of a parsed document (token, nodes, locations), measured: 250-390
ERROR_BYTES = 600  # per compact error besides its message, measured: about 500
ENTRY_BYTES = 400  # per entry: its place in the cache, the entry tuple, the parsed wrapper
SEEN = 4096  # documents remembered (by a hash of their text) as seen once

V = TypeVar("V")


class DocumentCache(Generic[V]):
    """Values by document text, kept from their second time; least recently used dropped first
    while over `budget` bytes or `entries` entries."""

    def __init__(self, budget: int, entries: int) -> None:
        self.budget = budget
        self.entries = entries
        self.bytes = 0  # the estimated footprint of everything held
        self._held: OrderedDict[str, tuple[V, int]] = OrderedDict()
        self._seen: OrderedDict[int, None] = OrderedDict()  # hashes of texts put once

    def __len__(self) -> int:
        return len(self._held)

    def get(self, text: str) -> V | None:
        """The value kept for `text` (now the most recently used), or None."""
        found = self._held.get(text)
        if found is None:
            return None
        self._held.move_to_end(text)
        return found[0]

    def put(self, text: str, value: V, footprint: int) -> None:
        """Keep `value` for `text`, weighing `footprint` bytes, if `text` was put before (only
        remembered the first time); then drop the oldest entries while over."""
        if (seen := hash(text)) not in self._seen:
            self._seen[seen] = None
            if len(self._seen) > SEEN:
                self._seen.popitem(last=False)
            return
        if footprint > self.budget:
            return  # larger than the whole cache
        del self._seen[seen]
        self._held[text] = (value, footprint)
        self.bytes += footprint
        while self.bytes > self.budget or len(self._held) > self.entries:
            _, (_, dropped) = self._held.popitem(last=False)
            self.bytes -= dropped


def document_footprint(text: str, tokens: int) -> int:
    """Estimated bytes a parsed document of `text` (`tokens` long, comments included) holds,
    with its text (the key) and the names and values cut from it (at most as long again)."""
    return ENTRY_BYTES + 2 * sys.getsizeof(text) + TOKEN_BYTES * tokens


def errors_footprint(text: str, errors: list[GraphQLError]) -> int:
    """Estimated bytes a list of compact errors for `text` holds, with the text."""
    messages = sum(ERROR_BYTES + sys.getsizeof(error.message) for error in errors)
    return ENTRY_BYTES + sys.getsizeof(text) + messages


def compact(error: GraphQLError) -> GraphQLError:
    """The same error as clients see it (message, locations, path, extensions), holding neither
    the document's nodes nor a traceback (whose frames would hold the parser and its tokens)."""
    original = error.original_error
    return GraphQLError(
        error.message,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=original.with_traceback(None) if original is not None else None,
        extensions=error.extensions,
    )
