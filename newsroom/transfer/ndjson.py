"""The export file: newline-delimited JSON (https://github.com/ndjson/ndjson-spec), UTF-8, one
object per line, in three parts:

    {"format":"newsroom-log","version":1,"events":2,"idempotency_records":1}
    {"position":1,"stream":"article-7","version":1,"event_id":"…","type":"ArticleCreated",
     "schema_version":1,"data":"{\"title\":\"…\",…}","metadata":"{\"command\":\"CreateArticle\"}",
     "recorded_at":"2026-12-05T01:02:03.456789+00:00","checksum":3735928559}
    {"position":2,…}
    {"key":"k-1","fingerprint":"…","stream":"article-7","version":1,"first_position":1,
     "last_position":1}

The header comes first, so a reader refuses a file that is not an export (`format`) or that a
newer newsroom wrote (`version`) before it reads on; and it says how many lines follow, so a file
cut short, even at the end of a line, is noticed. Then every event in position order, then every
idempotency record by first position.

`data` and `metadata` are JSON strings holding the stored JSON text, not JSON values. The
checksum covers the stored bytes, and a value would be parsed on import and written out again
with nothing to promise the same bytes (spacing, key order, escapes, `1e3` against `1000.0`,
integers beyond 2**53 that some parsers round). A string gives back exactly the text it holds.
`recorded_at` is the stored text for the same reason. Lines are written by orjson with keys in
a fixed order, so one log gives one file, byte for byte, from SQLite or from PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

import orjson

from newsroom.errors import StoreCorrupted, StoreUnrecognised
from newsroom.store.transfer import Contents, EventRow, KeyRow

FORMAT = "newsroom-log"
VERSION = 1  # bump when a reader of version 1 could not read the file right
MAX_LINE = 16 * 1024 * 1024  # bytes; an event is far smaller (validation.BODY_MAX is 100,000)

# Each line's fields, in the order they are written, and what each must be.
EVENT_FIELDS: dict[str, type] = {
    "position": int, "stream": str, "version": int, "event_id": str, "type": str,
    "schema_version": int, "data": str, "metadata": str, "recorded_at": str, "checksum": int,
}  # fmt: skip
KEY_FIELDS: dict[str, type] = {
    "key": str, "fingerprint": str, "stream": str, "version": int,
    "first_position": int, "last_position": int,
}  # fmt: skip


def header_line(contents: Contents) -> bytes:
    """The first line: what the file is, and how many lines of each kind follow."""
    header = {"format": FORMAT, "version": VERSION, "events": contents.events,
              "idempotency_records": contents.keys}  # fmt: skip
    return orjson.dumps(header) + b"\n"


def event_line(row: EventRow, location: str) -> bytes:
    """One event's line; `StoreCorrupted` if its JSON is not UTF-8 text (no intact row's is)."""
    try:
        data, metadata = _text(row.data), _text(row.metadata)
    except UnicodeDecodeError:
        raise StoreCorrupted(
            f"{location}: the event at position {row.position} holds JSON that is not UTF-8"
        ) from None
    line = dict(zip(EVENT_FIELDS, row, strict=True)) | {"data": data, "metadata": metadata}
    return orjson.dumps(line) + b"\n"


def key_line(row: KeyRow) -> bytes:
    """One idempotency record's line."""
    return orjson.dumps(row._asdict()) + b"\n"


class ExportReader:
    """Reads an export file line by line: the header at once (`StoreUnrecognised` if it is no
    header of this format), then `events`, then `keys`, then `end`. A line that is not what it
    must be raises `StoreCorrupted` naming it."""

    def __init__(self, lines: IO[bytes], name: str) -> None:
        self._lines = lines
        self.name = name
        self.number = 0  # the line read last
        self.contents = self._header()

    def _header(self) -> Contents:
        """The first line: refuse a foreign or newer file before reading any further."""
        try:
            header = self._object()
        except StoreCorrupted:
            header = {}  # not even a JSON object
        if header.get("format") != FORMAT:
            raise StoreUnrecognised(
                f"{self.name}: not a newsroom export (its first line is no "
                f'{{"format": "{FORMAT}", ...}} header)'
            )
        version = header.get("version")
        if not isinstance(version, int) or version > VERSION:
            raise StoreUnrecognised(
                f"{self.name}: an export of format version {version}, newer than this "
                f"newsroom's ({VERSION}): upgrade newsroom"
            )
        return Contents(self._count(header, "events"), self._count(header, "idempotency_records"))

    def events(self, count: int) -> Iterator[EventRow]:
        """The next `count` lines, each an event."""
        for _ in range(count):
            row = self._fields(EVENT_FIELDS, "an event")
            try:
                data, metadata = row[6].encode(), row[7].encode()
            except UnicodeEncodeError:
                raise self._damaged("its data or metadata is not valid Unicode") from None
            yield EventRow._make([*row[:6], data, metadata, *row[8:]])

    def keys(self, count: int) -> Iterator[KeyRow]:
        """The next `count` lines, each an idempotency record."""
        for _ in range(count):
            yield KeyRow(*self._fields(KEY_FIELDS, "an idempotency record"))

    def end(self) -> None:
        """Nothing may follow what the header announced."""
        if self._lines.readline(1):
            raise StoreCorrupted(
                f"{self.name}: line {self.number + 1}: more lines than line 1 announced"
            )

    def _count(self, header: dict[str, Any], name: str) -> int:
        value = header.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise StoreUnrecognised(f"{self.name}: line 1 does not say how many {name} follow")
        return value

    def _fields(self, fields: dict[str, type], kind: str) -> list[Any]:
        found = self._object()
        if found.keys() != fields.keys():
            raise self._damaged(f"not {kind} (its fields are {', '.join(found) or 'none'})")
        values = [found[name] for name in fields]
        for (name, kind_of), value in zip(fields.items(), values, strict=True):
            if not isinstance(value, kind_of) or isinstance(value, bool):
                raise self._damaged(f"{name} must be {'text' if kind_of is str else 'a number'}")
        return values

    def _object(self) -> dict[str, Any]:
        line = self._lines.readline(MAX_LINE + 1)
        self.number += 1
        if not line:
            raise self._damaged("the file ends here, before all that line 1 announced")
        if len(line) > MAX_LINE:
            raise self._damaged(f"longer than {MAX_LINE:,} bytes")
        try:
            found = orjson.loads(line)
        except orjson.JSONDecodeError as e:
            raise self._damaged(f"not JSON: {e}") from None
        if not isinstance(found, dict):
            raise self._damaged("not a JSON object")
        return found

    def _damaged(self, what: str) -> StoreCorrupted:
        return StoreCorrupted(f"{self.name}: line {self.number}: {what}")


def _text(value: bytes | str) -> str:
    return value if isinstance(value, str) else value.decode()
