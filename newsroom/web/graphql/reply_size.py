"""The reply size cap: the text a GraphQL reply carries is counted while the reply is built.

The cost limit (limits.py) bounds how many items a query may ask for, but not how large they
are: an article body or an event's data may hold 100 KB. So the fields that carry article
text charge their size, in UTF-8 bytes, to the operation's `ReplyBudget` as they resolve; the
first field past `max_reply_bytes` raises `ReplyTooLarge`, and a query's reply becomes that one
error, without data (a mutation's keeps each write's outcome, its text past the cap null:
`pipeline.reply`). The reply is refused before it is serialised, and while it is built it
holds at most the cap (plus the small fields around the text).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from newsroom.errors import ReplyTooLarge


class ReplyBudget:
    """The bytes of text one operation's reply may still carry."""

    __slots__ = ("left", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = self.left = limit

    def charge(self, size: int) -> None:
        """Count `size` bytes of the reply; `ReplyTooLarge` once the total passes the limit."""
        self.left -= size
        if self.left < 0:
            raise ReplyTooLarge(
                f"the reply would carry more than {self.limit:,} bytes of text (bodies, event "
                "data); ask for fewer items, or leave out body, data or changes"
            )


def text_size(text: str) -> int:
    """The size of `text` in UTF-8 (ASCII text, the common case, is measured without encoding)."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def data_size(data: Mapping[str, Any]) -> int:
    """About the size of an event's fields as JSON: their names and values as text."""
    return sum(
        len(name) + (text_size(value) if isinstance(value, str) else len(str(value)))
        for name, value in data.items()
    )
