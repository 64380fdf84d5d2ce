"""GET /graphql in a browser: GraphiQL (placeholder until the packaged assets land)."""

from __future__ import annotations

from aiohttp import web


def graphiql_page(request: web.Request) -> web.Response:
    """A page that says how to reach the API."""
    return web.Response(text="POST GraphQL to /graphql\n", content_type="text/plain")
