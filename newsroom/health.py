"""Health: whether the store and each view are running, and whether the views caught up with the
log seen at start; what `/healthz` and `/readyz` report. Readiness does not wait for the search
index's build after the replay (search answers 503 meanwhile); `/healthz` shows its progress."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from newsroom.commands import WriteFault
from newsroom.errors import StoreError
from newsroom.projections.search_build import SearchBuild
from newsroom.projections.views import Views
from newsroom.store import EventStore, SharedEventStore


class Health:
    """Reports on the store (open, and taking writes) and the views."""

    def __init__(
        self, store: EventStore, views: Views, writes: WriteFault, search_build: SearchBuild
    ) -> None:
        self._store = store
        self._views = views
        self._writes = writes
        self._search_build = search_build
        self.started_at_head = 0
        """The log head when the replay began; the views are ready once each reached it."""
        self.checkpoint: Callable[[], dict[str, Any]] = lambda: {"enabled": False}
        """What the view checkpoints did: used at start or not, and the last one written."""

    def ready(self) -> bool:
        """True once every view reached the head seen at start, none has failed, and the store
        takes writes."""
        return self._store_state() == "running" and all(
            p.failure is None and p.position >= self.started_at_head for p in self._views.projectors
        )

    async def report(self, fingerprints: bool = False) -> dict[str, Any]:
        """The state of the store and each view; with `fingerprints`, a digest of each view."""
        reports: dict[str, Any] = {}
        for p in self._views.projectors:
            view: dict[str, Any] = {"position": p.position, "status": "running"}
            if p.failure is not None:
                view.update(status="failed", failed_at=p.failure.position, error=p.failure.error)
            if p is self._views.search_projector:
                view["index"] = self._search_build.report()
            if fingerprints and view.get("index", {}).get("caught_up", True):
                view["fingerprint"] = p.projection.fingerprint()  # not while it is being built
            reports[p.name] = view
        store = self._store_state()
        healthy = store == "running" and all(p.failure is None for p in self._views.projectors)
        return {
            "status": "ok" if healthy else "failing",
            "store": store,
            "head": await self.head(),
            "projections": reports,
            "checkpoint": self.checkpoint(),
        }

    async def head(self) -> int | None:
        """The log's head, or None when the store cannot say (its database is unreachable)."""
        try:
            return await self._store.head()
        except StoreError:
            return None

    def _store_state(self) -> str:
        """running, stopped, unreachable (a database server, until it reconnects), or "writes
        failing" (its last append failed; the log says why)."""
        if isinstance(self._store, SharedEventStore) and not self._store.connected:
            return "unreachable"
        if not self._store.alive:
            return "stopped"
        return "running" if self._writes.since is None else "writes failing"
