"""The GraphQL schema as clients see it (introspection) stays what it was: a restructuring of the
code behind it must not change a type, field, argument, default or description.

`snapshots/introspection.json` was taken from the code before the GraphQL package was split
(commit fb66410). A deliberate schema change updates it in the same commit, with the changelog.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from graphql import get_introspection_query

from tests.web.conftest import Query

SNAPSHOT = Path(__file__).parent / "snapshots" / "introspection.json"
INTROSPECTION = get_introspection_query(
    descriptions=True,
    specified_by_url=True,
    directive_is_repeatable=True,
    schema_description=True,
    input_value_deprecation=True,
)


async def test_introspection_equals_the_snapshot(gql: Query) -> None:
    """Every type, field, argument, default value and description is as in the snapshot."""
    body = await gql(INTROSPECTION)
    expected: dict[str, Any] = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert body["data"] == expected


async def test_the_snapshot_would_notice_a_change(gql: Query) -> None:
    """The comparison is not vacuous: the snapshot lists the seed's fields on Article."""
    expected = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    article = next(t for t in expected["__schema"]["types"] if t["name"] == "Article")
    names = {field["name"] for field in article["fields"]}
    assert {"id", "title", "body", "category", "author_id", "author_name", "status"} <= names
