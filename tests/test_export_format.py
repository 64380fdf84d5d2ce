"""The export file's lines (`newsroom/transfer/ndjson.py`), without a store: what is written,
that rows come back exactly, and that a reader refuses what is not an export line."""

from __future__ import annotations

import io

import orjson
import pytest

from newsroom.errors import StoreCorrupted, StoreUnrecognised
from newsroom.store.rows import checksum
from newsroom.store.transfer import Contents, EventRow, KeyRow
from newsroom.transfer import ndjson
from newsroom.transfer.ndjson import ExportReader, event_line, header_line, key_line

# JSON a parser would write back differently: spacing, key order, an escape, 1e3, a big integer
STORED = b'{ "b": 1e3, "a": "\\u00e9 \xc3\xa9", "n": 12345678901234567890 }'


def row(data: bytes = STORED, metadata: bytes = b'{"actor":"Zo\xc3\xab"}') -> EventRow:
    values = [1, "article-1", 1, "e-1", "ArticleCreated", 1, data, metadata,
              "2026-12-05T01:02:03.456789+00:00"]  # fmt: skip
    return EventRow._make([*values, checksum(values)])


KEY = KeyRow("k-ü", "f", "article-1", 1, 1, 1)


def reader(*lines: bytes) -> ExportReader:
    """A reader of a file announcing one event and one idempotency record, then `lines`."""
    return ExportReader(io.BytesIO(header_line(Contents(1, 1)) + b"".join(lines)), "x.ndjson")


def test_the_header_names_the_format_its_version_and_what_follows() -> None:
    """The first line is a small JSON object a reader checks before anything else."""
    assert header_line(Contents(40, 2)) == (
        b'{"format":"newsroom-log","version":1,"events":40,"idempotency_records":2}\n'
    )


def test_an_event_line_holds_every_column_in_order_with_the_json_as_text() -> None:
    """One line, the columns in the table's order, data and metadata as JSON strings."""
    line = event_line(row(), "here")
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    parsed = orjson.loads(line)
    assert list(parsed) == list(ndjson.EVENT_FIELDS)
    assert parsed["data"] == STORED.decode() and parsed["metadata"] == '{"actor":"Zoë"}'
    assert parsed["checksum"] == row().checksum


def test_rows_come_back_exactly() -> None:
    """Data a parser would rewrite comes back as the same bytes, and the checksum still holds."""
    back = reader(event_line(row(), "here"), key_line(KEY))
    assert back.contents == Contents(1, 1)
    assert list(back.events(1)) == [row()]
    assert list(back.keys(1)) == [KEY]
    back.end()


def test_json_that_is_not_utf8_cannot_be_exported() -> None:
    """No intact row holds it (events are encoded by orjson), so it is damage, named."""
    with pytest.raises(StoreCorrupted, match="position 1 holds JSON that is not UTF-8"):
        event_line(row(data=b'{"a":"\xff"}'), "here")


def test_a_line_longer_than_any_event_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A reader never holds more than MAX_LINE bytes of one line."""
    line = event_line(row(), "here")
    monkeypatch.setattr(ndjson, "MAX_LINE", len(line) - 2)
    with pytest.raises(StoreCorrupted, match="line 2: longer than"):
        list(reader(line).events(1))


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"position": True}, "position must be a number"),
        ({"stream": 7}, "stream must be text"),
        ({"extra": 1}, "not an event"),
        ({"data": None}, "data must be text"),
    ],
    ids=["a boolean", "a number for text", "a field too many", "null data"],
)
def test_an_event_line_with_wrong_fields_is_refused_naming_it(
    change: dict[str, object], problem: str
) -> None:
    """Each field must be there, alone, of its kind; the message names line and field."""
    line = orjson.dumps(orjson.loads(event_line(row(), "here")) | change) + b"\n"
    with pytest.raises(StoreCorrupted, match=f"x.ndjson: line 2: {problem}"):
        list(reader(line).events(1))


@pytest.mark.parametrize(
    ("first_line", "problem"),
    [
        (b"not json at all", "not a newsroom export"),
        (b"", "not a newsroom export"),
        (b'{"format":"other-tool","version":1}', "not a newsroom export"),
        (b'{"format":"newsroom-log","version":2,"events":0,"idempotency_records":0}',
         r"format version 2, newer than this newsroom's \(1\)"),
        (b'{"format":"newsroom-log","version":1}', "does not say how many events follow"),
        (b'{"format":"newsroom-log","version":1,"events":-1,"idempotency_records":0}',
         "does not say how many events follow"),
    ],
    ids=["not JSON", "empty file", "another format", "newer version", "no counts",
         "a negative count"],
)  # fmt: skip
def test_a_foreign_or_newer_file_is_refused_at_its_first_line(
    first_line: bytes, problem: str
) -> None:
    """The header is read before anything else: a file that is not an export is unrecognised."""
    with pytest.raises(StoreUnrecognised, match=problem):
        ExportReader(io.BytesIO(first_line + b"\n" if first_line else b""), "x.ndjson")
