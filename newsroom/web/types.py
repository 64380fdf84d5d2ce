"""Type aliases for the web layer, in one place."""

from __future__ import annotations

from typing import Any, TypeAlias

from graphql import GraphQLResolveInfo

Info: TypeAlias = GraphQLResolveInfo[dict[str, Any]]
"""What every resolver receives: the query's details and our context dict."""
