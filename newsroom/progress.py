"""Progress of a long command (`verify`, `export`, `import`) on one terminal line of stderr."""

from __future__ import annotations

import time
from typing import TextIO

PROGRESS_EVERY = 1.0  # seconds between progress lines on a terminal


class Ticker:
    """Shows how far a command got on one terminal line, at most once per `PROGRESS_EVERY`:
    call it with a stage and the events done of a total (0: unknown), as `Progress` is called."""

    def __init__(self, out: TextIO, doing: str) -> None:
        self._out = out
        self._doing = doing
        self._started = self._shown = time.monotonic()

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self._shown < PROGRESS_EVERY:
            return
        self._shown = now
        part = f" {done:,} of {total:,} ({done / total:.0%})" if total else ""
        self._out.write(f"\r\033[K{self._doing}: {stage}{part}, {now - self._started:.0f} s")
        self._out.flush()

    def clear(self) -> None:
        """Erase the progress line, so what follows starts on a clean one."""
        self._out.write("\r\033[K")
        self._out.flush()
