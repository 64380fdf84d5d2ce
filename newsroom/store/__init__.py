"""The event store: the port (`EventStore`, `Recorded`) here; adapters beside it (`sqlite.py`)."""

from newsroom.store.base import AppendResult, EventStore, Recorded

__all__ = ["AppendResult", "EventStore", "Recorded"]
