"""The event store: the port (`EventStore`, `Recorded`) here; adapters beside it.

`sqlite.py` is the durable log of one process; `postgres.py` is a log several processes share;
`memory.py` keeps the same promises in memory, for tests and examples. Only the composition root
(and tests) import an adapter, so none is exported here.
"""

from newsroom.store.base import Anchor, AppendResult, EventStore, Recorded, SharedEventStore

__all__ = ["Anchor", "AppendResult", "EventStore", "Recorded", "SharedEventStore"]
