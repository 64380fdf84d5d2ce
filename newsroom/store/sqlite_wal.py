"""Reading the `-wal` file before SQLite does, so a damaged frame cannot silently drop the
acknowledged transactions written after it.

SQLite recovers a WAL frame by frame and stops at the first frame whose salt or checksum does
not match: it treats everything after it as never written. That is right for the torn tail a
power loss leaves (the last transaction, whose commit was never acknowledged) and wrong for a
damaged byte in the middle: every later commit, acknowledged to its writer, would vanish with
the log reporting "ok". So before opening the log, newsroom walks the frames itself. Each frame
stores the running checksum up to itself, so a frame after a damaged one can still be checked
against its predecessor. If complete, intact commits of the same WAL generation (same salts)
follow the transaction holding the first bad frame, the WAL is damaged and start-up refuses.

Format: https://www.sqlite.org/fileformat2.html#walformat (a 32-byte header, then frames of a
24-byte header and one page; checksums over 32-bit words in the byte order the magic names).
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import NamedTuple

from newsroom.errors import StoreCorrupted

HEADER, FRAME_HEADER = 32, 24
_MAGIC = {0x377F0682: "<", 0x377F0683: ">"}  # little- or big-endian checksums
_MASK = 0xFFFFFFFF


class _Frame(NamedTuple):
    number: int  # 1, 2, ... as SQLite counts them
    commit: bool  # the last frame of a transaction (it carries the database size)
    salted: bool  # its salts are the header's: written in this generation of the WAL
    intact: bool  # its checksum matches, counted on from the previous frame's


def check_wal(path: Path) -> None:
    """Raise `StoreCorrupted` if the WAL beside `path` holds acknowledged commits that SQLite
    would drop because of a damaged frame before them; only reads."""
    wal = path.with_name(path.name + "-wal")
    try:
        data = wal.read_bytes()
    except FileNotFoundError:
        return
    if len(data) < HEADER:
        return  # no frame was ever written after this header
    magic, _, page_size, _, salt1, salt2, sum1, sum2 = struct.unpack(">8I", data[:HEADER])
    order = _MAGIC.get(magic)
    if order is None or page_size < 512 or page_size & (page_size - 1):
        return  # not a WAL SQLite would use either: it ignores it, and so it held nothing
    header_intact = _checksum(order, data[:24], (0, 0)) == (sum1, sum2)
    if not header_intact and len(data) >= HEADER + FRAME_HEADER:
        # A damaged header makes SQLite ignore the whole WAL; which frames belong to its
        # generation is then told by the first frame's salts, not the header's.
        salt1, salt2 = struct.unpack(">2I", data[HEADER + 8 : HEADER + 16])
    frames = _frames(data, order, page_size, (salt1, salt2), (sum1, sum2))
    first_bad = next((f for f in frames if not (f.salted and f.intact)), None)
    if header_intact and first_bad is None:
        return
    start = 0 if not header_intact else first_bad.number if first_bad else 0
    later_commits = [f for f in frames if f.number > start and f.salted and f.intact and f.commit]
    damaged_is_commit = first_bad is not None and first_bad.commit and first_bad.salted
    lost = len(later_commits) - (0 if damaged_is_commit or not header_intact else 1)
    if lost >= 1:
        where = f"frame {start}" if header_intact else "its header"
        raise StoreCorrupted(
            f"{path}: the write-ahead log {wal.name} is damaged at {where}, and {lost:,} "
            f"committed transaction(s) after it would be lost if the log were opened. Nothing "
            f"was changed. Keep both files; restore them from a backup, or, to accept losing "
            f"those writes, move {wal.name} aside and start again"
        )


def _frames(
    data: bytes,
    order: str,
    page_size: int,
    salts: tuple[int, int],
    previous: tuple[int, int],
) -> list[_Frame]:
    frames = []
    size = FRAME_HEADER + page_size
    for number, offset in enumerate(range(HEADER, len(data) - size + 1, size), start=1):
        _, db_size, salt1, salt2, sum1, sum2 = struct.unpack(
            ">6I", data[offset : offset + FRAME_HEADER]
        )
        covered = data[offset : offset + 8] + data[offset + FRAME_HEADER : offset + size]
        intact = _checksum(order, covered, previous) == (sum1, sum2)
        frames.append(_Frame(number, db_size != 0, (salt1, salt2) == salts, intact))
        previous = (sum1, sum2)  # the running checksum as written: resynchronise on it
    return frames


def _checksum(order: str, chunk: bytes, seed: tuple[int, int]) -> tuple[int, int]:
    """SQLite's WAL checksum of `chunk` (a multiple of 8 bytes), continued from `seed`."""
    words = struct.unpack(f"{order}{len(chunk) // 4}I", chunk)
    s0, s1 = seed
    for i in range(0, len(words), 2):
        s0 = (s0 + words[i] + s1) & _MASK
        s1 = (s1 + words[i + 1] + s0) & _MASK
    return s0, s1
