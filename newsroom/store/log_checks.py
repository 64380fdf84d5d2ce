"""The checks a whole log must pass, shared by every store's verifier and by `export`/`import`.

Each check looks at rows as every store keeps them (`rows.py`) and reports a `Problem` at the
position it concerns, so SQLite, PostgreSQL and an export file are judged by the same rules:
- event rows, in position order: positions 1, 2, 3, ... with no gap, each row's checksum, each
  stream's versions 1, 2, 3, ..., and (for a verifier) that the event decodes as a replay would;
- the `streams` table against the streams those events make;
- each idempotency record against the events at the positions it names.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson

from newsroom.errors import CodecError
from newsroom.events import codec
from newsroom.store.integrity import Problem
from newsroom.store.rows import checksum

# The idempotency records whose first and last positions do not hold the first and last events
# of their append (plain SQL that SQLite and PostgreSQL both run; a missing event is a NULL).
MISMATCHED_KEYS = """
SELECT i.key, i.stream, i.version, i.first_position, i.last_position
FROM idempotency AS i
LEFT JOIN events AS f ON f.position = i.first_position
LEFT JOIN events AS l ON l.position = i.last_position
WHERE NOT coalesce(
    f.stream = i.stream AND f.version = i.version - (i.last_position - i.first_position)
    AND l.stream = i.stream AND l.version = i.version, false)
ORDER BY i.first_position
"""


class EventChecks:
    """Checks the event rows of a log whose head is `head` (the columns of `rows.COLUMNS`, then
    the checksum), handed to it in position order; `check` returns the first thing wrong with a
    row, or None, and `end` whether rows were missing at the end.

    With `versions`, it remembers each stream's last version (memory grows with the number of
    streams, not of events); with `decode`, it also decodes each event as a replay would.
    """

    def __init__(self, head: int, *, versions: bool = True, decode: bool = False) -> None:
        self.head = head
        self.expected = 1  # the position the next row must have
        self.streams: dict[str, tuple[int, int]] = {}  # stream -> (last version, its position)
        self._versions = versions
        self._decode = decode

    @property
    def events(self) -> int:
        """How many rows passed so far."""
        return self.expected - 1

    def check(self, row: Sequence[Any]) -> Problem | None:
        """The first problem of `row`, or None (then the row counts as passed)."""
        *values, stored_checksum = row
        position, stream, version = values[:3]
        if position != self.expected:
            return Problem(self.expected, f"the event at position {self.expected} is missing")
        if position > self.head:
            return Problem(
                position,
                f"the event at position {position} lies beyond the log's head ({self.head}): "
                "the next append would collide with it",
            )
        if stored_checksum != checksum(values):
            return Problem(
                position,
                f"the event at position {position} fails its checksum: "
                "its stored bytes were altered or damaged",
            )
        if self._versions:
            previous = self.streams.get(stream, (0, 0))[0]
            if version != previous + 1:
                return Problem(
                    position,
                    f"the event at position {position} is version {version} of {stream}, but "
                    f"the one before it was version {previous}: versions must run 1, 2, 3, ...",
                )
            self.streams[stream] = (version, position)
        if self._decode and (problem := _undecodable(values)) is not None:
            return problem
        self.expected += 1
        return None

    def end(self) -> Problem | None:
        """Once every row was read: a problem if the log's head promised more of them."""
        if self.events < self.head:
            return Problem(self.expected, f"the event at position {self.expected} is missing")
        return None


def _undecodable(values: Sequence[Any]) -> Problem | None:
    position, _, _, _, type_name, schema, data, metadata, recorded_at = values
    try:  # what a replay does with the row (rows.decode_rows)
        codec.decode(type_name, schema, data)
        orjson.loads(metadata)
        datetime.fromisoformat(recorded_at)
    except (CodecError, ValueError, TypeError) as e:
        return Problem(position, f"the event at position {position} cannot be decoded: {e}")
    return None


def stream_problems(
    recorded: Mapping[str, int], seen: Mapping[str, tuple[int, int]]
) -> Iterator[Problem]:
    """The version the `streams` table records for each stream (what appends check
    `expected_version` against) is the version of its last event."""
    for stream, (version, position) in seen.items():
        if recorded.get(stream) != version:
            says = "has no row" if stream not in recorded else f"says version {recorded[stream]}"
            yield Problem(
                position,
                f"the streams table {says} for {stream}, whose last event (position "
                f"{position}) is version {version}",
            )
    for stream in recorded.keys() - seen.keys():
        yield Problem(None, f"the streams table names {stream}, which has no events")


def key_problem(row: Sequence[Any]) -> Problem:
    """What is wrong with an idempotency record that `MISMATCHED_KEYS` returned: a repeat of
    its key would answer with positions that hold other events."""
    key, stream, version, first, last = row
    return Problem(
        first,
        f"the idempotency record of key {key!r} names positions {first}-{last} as {stream} up "
        f"to version {version}, but the log holds other events there",
    )
