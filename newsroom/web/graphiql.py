"""GET /graphql in a browser: GraphiQL, with subscriptions over this server's WebSocket.

The page is Ariadne's GraphiQL explorer, which loads GraphiQL's scripts from a CDN (esm.sh);
serving them from the package instead, so the page works offline, is still to do.
"""

from __future__ import annotations

from aiohttp import web
from ariadne.explorer import ExplorerGraphiQL

DEFAULT_QUERY = """# newsroom: try the seed's query, then a subscription in another tab:
#   subscription { articleEvents(after: 0) { position type stream } }
{
  articles(count: 10) {
    id
    title
    category
    author_name
    status
  }
}
"""


def graphiql_page(request: web.Request) -> web.Response:
    """The GraphiQL page, pointed at this server for queries and subscriptions."""
    scheme = "wss" if request.secure else "ws"
    explorer = ExplorerGraphiQL(
        title="newsroom GraphiQL",
        default_query=DEFAULT_QUERY,
        subscription_url=f"{scheme}://{request.host}/graphql",
    )
    html = explorer.html(None) or ""
    return web.Response(text=html, content_type="text/html")
