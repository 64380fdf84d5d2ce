"""A small log with a bit of everything a log can hold, written through the store API, for the
tests that move or verify whole logs."""

from __future__ import annotations

from newsroom.app import open_store
from newsroom.store import EventStore
from tests.factories import article_created, draft_created, published, retracted, updated

EVENTS, STREAMS, KEYS = 8, 4, 3  # what write_varied_log writes


async def write_varied_log(store: EventStore) -> None:
    """Every kind of event, text in many scripts, metadata, idempotency keys, one append of two
    events, and a stream that is no article's."""
    title = 'Zoë’s 🦊 report — «ünïcödé», 中文, עברית, \u2028 and a \\ and a "'
    await store.append("article-1", [article_created(1, title=title)], 0,
                       idempotency_key="create-1", fingerprint="f-1",
                       metadata={"actor": "Zoë 🦊", "request": "r-1"})  # fmt: skip
    await store.append("article-12", [draft_created(12, body="Línea 1\n\tTab")], 0)
    await store.append("article-1", [updated(1, body="Corrected: 100 %")], 1,
                       idempotency_key="ключ-2", fingerprint="f-2")  # fmt: skip
    await store.append("article-12", [published(12)], 1)
    await store.append("article-1", [retracted(1, reason="Wrong «facts»")], 2)
    await store.append("article-30", [draft_created(30), published(30)], 0,
                       idempotency_key="two at once", fingerprint="f-3")  # fmt: skip
    await store.append("log-notes", [article_created(99)], 0)


async def written(url: str) -> str:
    """Write the varied log into the (new) store at `url`; return the URL."""
    store = await open_store(url)
    try:
        await write_varied_log(store)
    finally:
        await store.close()
    return url
