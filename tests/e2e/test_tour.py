"""The README tour on a real server: read the demo, write an article, stop, restart, read it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import feedparser
import pytest

pytestmark = pytest.mark.e2e

LIST_QUERY = "{ articles { id title } }"
CREATE = """
mutation Create($article: ArticleCreatedInput!) {
  createArticle(article: $article) { id name error status position version }
}
"""
GET = """
query Get($id: ID!) {
  article(id: $id) { id title body category author_id author_name status version }
}
"""
NEW_ARTICLE = {
    "title": "Tour: the log survives a restart",
    "body": "Written during the end-to-end tour.",
    "category": "science",
    "author_id": "42",
    "author_name": "Ada Tour",
}


def published(server: Any) -> dict[str, str]:
    """The published articles the server lists, as {id: title}, with no id listed twice."""
    result = server.graphql(LIST_QUERY)
    assert "errors" not in result, result
    articles = result["data"]["articles"]
    ids = [a["id"] for a in articles]
    assert len(ids) == len(set(ids)), ids
    return {a["id"]: a["title"] for a in articles}


def feed_titles(server: Any, path: str) -> tuple[list[str], str]:
    """The item titles of a feed (feedparser must read it cleanly) and the page's link."""
    status, body = server.request("GET", path)
    assert status == 200, body
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    return [e.title for e in parsed.entries], parsed.entries[0].link if parsed.entries else ""


def found(server: Any, words: str) -> list[int]:
    """The ids a search for `words` finds."""
    status, body = server.get_json("/search?q=" + words.replace(" ", "+"))
    assert status == 200, body
    return [hit["id"] for hit in body["hits"]]


def test_readme_tour_survives_a_restart(launch: Any, tmp_path: Path) -> None:
    """The demo lists 1,2,3,5; a new article is in its feed, page and search, and all survive
    SIGTERM and a restart; no demo is rewritten."""
    store = tmp_path / "db.sqlite"
    server = launch(store)
    assert set(published(server)) == {"1", "2", "3", "5"}

    reply = server.graphql(CREATE, {"article": NEW_ARTICLE})
    assert "errors" not in reply, reply
    created = reply["data"]["createArticle"]
    assert created["status"] == "ACCEPTED", created
    assert created["error"] is None
    assert created["name"] == "ArticleCreated"
    assert created["version"] == 1
    assert created["position"] == server.head()
    article_id = created["id"]
    assert article_id not in {"1", "2", "3", "4", "5", "6"}

    expected = {
        "id": article_id,
        **NEW_ARTICLE,
        "status": "PUBLISHED",
        "version": 1,
    }
    # Read-your-writes: the mutation replied only once the views showed the write.
    assert server.graphql(GET, {"id": article_id})["data"]["article"] == expected
    assert published(server).get(article_id) == NEW_ARTICLE["title"]
    titles, link = feed_titles(server, "/feed/science")
    assert titles == [NEW_ARTICLE["title"]]
    assert feed_titles(server, "/feed")[0][0] == NEW_ARTICLE["title"]
    page_path = urlsplit(link).path
    assert server.request("GET", page_path)[0] == 200
    assert found(server, "surviving restarts") == [int(article_id)]  # stemmed: survives
    head = server.head()

    assert server.terminate() == 0, server.stderr()

    again = launch(store)
    assert again.head() == head, "the restart appended events (demo written twice?)"
    assert again.graphql(GET, {"id": article_id})["data"]["article"] == expected
    listed = published(again)
    assert set(listed) == {"1", "2", "3", "5", article_id}
    assert len(listed) == 5
    titles_again, link_again = feed_titles(again, "/feed/science")
    assert (titles_again, urlsplit(link_again).path) == (titles, page_path)
    assert again.request("GET", page_path)[0] == 200
    again.wait_for_search()  # built after the replay, while the other views already serve
    assert found(again, "surviving restarts") == [int(article_id)]  # the index rebuilt by replay
    assert again.terminate() == 0, again.stderr()


def test_the_tours_subscription_script_prints_a_write_as_it_happens(
    launch: Any, tmp_path: Path
) -> None:
    """Tour step 8, the script pasted as the README gives it: it prints the event of a write."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    script = readme.split("python - <<'EOF'\n", 1)[1].split("\nEOF\n", 1)[0]
    server = launch(tmp_path / "tour.db")
    script = script.replace("localhost:8080", f"127.0.0.1:{server.port}")
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as follower:
        try:
            assert follower.stdout is not None and follower.stderr is not None
            server.wait_for_subscriptions(1)  # the script connected and subscribed
            written = server.graphql(CREATE, {"article": NEW_ARTICLE})["data"]["createArticle"]
            line = follower.stdout.readline()
            assert line.strip() == (
                f"{{'position': {written['position']}, 'type': 'ArticleCreated', "
                f"'stream': 'article-{written['id']}'}}"
            )
        finally:
            follower.kill()
