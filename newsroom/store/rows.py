"""Event rows as every durable store keeps them: the columns, the per-row checksum, and decoding
with checks.

Every row carries a CRC-32 of all its other columns; reading verifies it, and `read_all` also
verifies that positions are dense, so a damaged or missing event is reported, never skipped.
SQLite and PostgreSQL store the same columns with the same checksum, so a log moved from one to
the other (`newsroom export` / `import`) keeps every checksum as it was.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any

import orjson

from newsroom.errors import CodecError, StoreCorrupted
from newsroom.events import codec
from newsroom.store.base import Recorded

COLUMNS = "position, stream, version, event_id, type, schema_version, data, metadata, recorded_at"


def decode_rows(
    location: object, rows: Iterable[Sequence[Any]], after: int | None = None
) -> list[Recorded]:
    """Turn rows into `Recorded`, verifying each checksum and, reading from `after`, density;
    `location` names the log in error messages."""
    out: list[Recorded] = []
    expected = after
    decode = codec.decode
    # Events appended together share their time and metadata; decode each distinct value once.
    times: dict[str, datetime] = {}
    metadatas: dict[bytes, Mapping[str, str]] = {}
    for row in rows:
        *values, stored_checksum = row
        position = values[0]
        if stored_checksum != checksum(values):
            raise StoreCorrupted(
                f"{location}: the event at position {position} fails its checksum: "
                "its stored bytes were altered or damaged"
            )
        if expected is not None:
            expected += 1
            if position != expected:
                raise StoreCorrupted(f"{location}: the event at position {expected} is missing")
        _, stream, version, event_id, type_name, schema, data, metadata, recorded_at = values
        try:
            event = decode(type_name, schema, data)
        except CodecError as e:
            raise CodecError(f"{location}: the event at position {position}: {e}") from e
        if (at := times.get(recorded_at)) is None:
            at = times[recorded_at] = datetime.fromisoformat(recorded_at)
        if (meta := metadatas.get(metadata)) is None:
            meta = metadatas[metadata] = MappingProxyType(orjson.loads(metadata))
        out.append(Recorded(position, stream, version, event_id, event, at, meta))
    return out


def checksum(values: Sequence[Any]) -> int:
    """CRC-32 over every column of an event row, so a changed byte anywhere is noticed."""
    position, stream, version, event_id, type_name, schema, data, metadata, recorded_at = values
    crc = zlib.crc32(
        f"{position}\x1f{stream}\x1f{version}\x1f{event_id}\x1f{type_name}\x1f{schema}"
        f"\x1f{recorded_at}".encode()
    )
    crc = zlib.crc32(data if isinstance(data, bytes) else str(data).encode(), crc)
    return zlib.crc32(metadata if isinstance(metadata, bytes) else str(metadata).encode(), crc)


def stream_number(stream: str) -> int | None:
    """The N of a stream named 'prefix-N', if it ends in a number."""
    _, _, suffix = stream.rpartition("-")
    return int(suffix) if suffix.isdigit() and len(suffix) < 19 else None
