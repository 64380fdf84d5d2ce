"""Moving a log between stores: `python -m newsroom export` writes every event and idempotency
record to an NDJSON file (`ndjson.py`), `python -m newsroom import` fills an empty store from one.

The file keeps each row exactly as stored, so positions, versions, ids, times and checksums are
the same in the new store; both commands check every row they move. The stores' own reading and
writing is in their adapters (`store/sqlite_transfer.py`, `store/postgres_transfer.py`).
"""
