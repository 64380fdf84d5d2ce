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
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, NamedTuple

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
    would drop because of a damaged frame before them; only reads, one frame at a time."""
    wal = path.with_name(path.name + "-wal")
    try:
        f = wal.open("rb")
    except FileNotFoundError:
        return
    with f:
        header = f.read(HEADER)
        if len(header) < HEADER:
            return  # no frame was ever written after this header
        magic, _, page_size, _, salt1, salt2, sum1, sum2 = struct.unpack(">8I", header)
        order = _MAGIC.get(magic)
        if order is None or page_size < 512 or page_size & (page_size - 1):
            return  # not a WAL SQLite would use either: it ignores it, and so it held nothing
        header_intact = _checksum(order, header[:24], (0, 0)) == (sum1, sum2)
        if not header_intact and len(first := f.read(FRAME_HEADER)) == FRAME_HEADER:
            # A damaged header makes SQLite ignore the whole WAL; which frames belong to its
            # generation is then told by the first frame's salts, not the header's.
            salt1, salt2 = struct.unpack(">2I", first[8:16])
            f.seek(HEADER)
        frames = _frames(f, order, page_size, (salt1, salt2), (sum1, sum2))
        damaged, damaged_is_commit = 0, False  # 0: the header (SQLite drops every frame)
        if header_intact:
            for frame in frames:
                if not (frame.salted and frame.intact):
                    damaged, damaged_is_commit = frame.number, frame.commit and frame.salted
                    break
            else:
                return  # every frame intact
        # The same generator goes on after the damaged frame: the commits SQLite would drop.
        later_commits = sum(1 for f in frames if f.salted and f.intact and f.commit)
    # A damaged frame that is not itself a commit belongs to the transaction the next commit
    # ends: that one was never whole, so it is not counted as lost.
    lost = later_commits - (0 if damaged_is_commit or not header_intact else 1)
    if lost >= 1:
        where = f"frame {damaged}" if header_intact else "its header"
        raise StoreCorrupted(
            f"{path}: the write-ahead log {wal.name} is damaged at {where}, and {lost:,} "
            f"committed transaction(s) after it would be lost if the log were opened. Nothing "
            f"was changed. Keep both files; restore them from a backup, or, to accept losing "
            f"those writes, move {wal.name} aside and start again"
        )


def _frames(
    f: BinaryIO,
    order: str,
    page_size: int,
    salts: tuple[int, int],
    previous: tuple[int, int],
) -> Iterator[_Frame]:
    """The WAL's frames read from `f` (just past the header), each checked against the running
    checksum its predecessor wrote."""
    size = FRAME_HEADER + page_size
    number = 0
    while len(frame := f.read(size)) == size:
        number += 1
        _, db_size, salt1, salt2, sum1, sum2 = struct.unpack(">6I", frame[:FRAME_HEADER])
        intact = _checksum(order, frame[:8] + frame[FRAME_HEADER:], previous) == (sum1, sum2)
        yield _Frame(number, db_size != 0, (salt1, salt2) == salts, intact)
        previous = (sum1, sum2)  # the running checksum as written: resynchronise on it


def _checksum(order: str, chunk: bytes, seed: tuple[int, int]) -> tuple[int, int]:
    """SQLite's WAL checksum of `chunk` (a multiple of 8 bytes), continued from `seed`."""
    words = struct.unpack(f"{order}{len(chunk) // 4}I", chunk)
    s0, s1 = seed
    for i in range(0, len(words), 2):
        s0 = (s0 + words[i] + s1) & _MASK
        s1 = (s1 + words[i + 1] + s0) & _MASK
    return s0, s1
