"""What a full check of an event log found (`newsroom verify`, `--verify-on-start`): a `Verdict`
that every adapter's verifier returns, so the command and start-up never see a driver's types.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Progress = Callable[[str, int, int], None]
"""Told now and then how far a check got: its stage, and events done of a total (0 if unknown)."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing found wrong, at the log position it concerns (None: no one event, e.g. a page)."""

    position: int | None
    what: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of verifying a whole log: what was read, and every problem found."""

    location: str
    events: int
    streams: int
    head: int
    seconds: float
    problems: tuple[Problem, ...] = ()

    @property
    def intact(self) -> bool:
        return not self.problems

    @property
    def first_bad_position(self) -> int | None:
        """The lowest log position a problem names, if any does."""
        return min((p.position for p in self.problems if p.position is not None), default=None)

    def summary(self) -> str:
        """One line: what was checked, and whether it is intact or where it is first damaged."""
        counts = (
            f"{self.events:,} events, {self.streams:,} streams, head {self.head:,}, "
            f"in {self.seconds:.1f} s"
        )
        if self.intact:
            return f"{self.location}: intact: {counts}"
        first = self.first_bad_position
        where = f"first bad position {first}" if first is not None else "no event named"
        problems = "; ".join(p.what for p in self.problems)
        return f"{self.location}: DAMAGED ({where}): {problems} (read {counts})"
