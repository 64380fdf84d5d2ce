"""GET /graphql in a browser: GraphiQL, served from packaged assets (no CDN), with subscriptions.

The scripts in `static/graphiql/` (GraphiQL, React, the graphql-ws client; see SOURCES.md there)
are served by this app, so the page works offline. Queries and mutations go to POST /graphql;
subscriptions to the WebSocket of the address the page was opened at, through the graphql-ws
client. The page itself decides which is which from the operation's text: GraphiQL's own choice
reads a parse of the editor that lags 100 ms behind typing, and a subscription run sooner went
out as a POST (seen in a headless-browser check).
"""

from __future__ import annotations

import base64
import hashlib
import json
from importlib import resources
from pathlib import Path

from aiohttp import web
from lxml import etree
from lxml.html import builder as E

from newsroom.errors import NotFound
from newsroom.web.http import html_response

ASSETS = "/static/graphiql"
DEFAULT_QUERY = """# newsroom: the seed's query. Try a subscription in another tab:
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
_START = """
const socket = graphqlWs.createClient({
  url: location.origin.replace(/^http/, "ws") + "/graphql", lazy: true
});
const overHttp = GraphiQL.createFetcher({ url: "/graphql" });
function isSubscription(params) {
  const text = params.query.replace(/#[^\\n]*/g, "");
  const name = params.operationName;
  return name ? new RegExp("\\\\bsubscription\\\\s+" + name + "\\\\b").test(text)
              : /^\\s*subscription\\b/.test(text);
}
const fetcher = (params, options) =>
  isSubscription(params) ? socket.iterate(params) : overHttp(params, options);
ReactDOM.createRoot(document.getElementById("graphiql")).render(
  React.createElement(GraphiQL, { fetcher: fetcher, defaultQuery: %(query)s })
);
"""


def _script_string(text: str) -> str:
    """A JavaScript string literal that cannot end the <script> element it sits in."""
    return json.dumps(text).replace("<", "\\u003c")


def _inline_source(text: str) -> str:
    """A CSP source that allows exactly this inline script or style (its SHA-256)."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


_STYLE = "body { margin: 0; } #graphiql { height: 100vh; }"
_START_SCRIPT = _START % {"query": _script_string(DEFAULT_QUERY)}
# What GraphiQL needs, and nothing more (checked in headless Chromium: the page renders with no
# CSP violation, and dropping any source below makes one): its packaged scripts and our one
# inline script, by hash; its stylesheet and our one inline style, by hash; the fonts its
# stylesheet embeds as data: URIs; and the API on this origin (fetch, and the WebSocket).
POLICY = (
    f"default-src 'none'; script-src 'self' {_inline_source(_START_SCRIPT)}; "
    f"style-src 'self' {_inline_source(_STYLE)}; img-src 'self'; font-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def graphiql_page(request: web.Request) -> web.Response:
    """The GraphiQL page: queries over HTTP, subscriptions over the WebSocket of this server."""
    scripts = ["react.production.min.js", "react-dom.production.min.js", "graphql-ws.min.js"]
    page = E.HTML(
        E.HEAD(
            E.META(charset="utf-8"),
            E.TITLE("newsroom GraphiQL"),
            E.LINK(rel="stylesheet", href=f"{ASSETS}/graphiql.min.css"),
            E.STYLE(_STYLE),
        ),
        E.BODY(
            E.DIV(id="graphiql"),
            *[E.SCRIPT(src=f"{ASSETS}/{name}") for name in [*scripts, "graphiql.min.js"]],
            E.SCRIPT(_START_SCRIPT),
        ),
    )
    html = etree.tostring(page, method="html", encoding="unicode", doctype="<!DOCTYPE html>")
    return html_response(html, policy=POLICY)


routes = web.RouteTableDef()
"""The packaged GraphiQL assets."""
_FOLDER = Path(str(resources.files("newsroom.web").joinpath("static", "graphiql")))
_ASSET_FILES = {path.name: path for path in _FOLDER.iterdir() if path.is_file()}


@routes.get(ASSETS + "/{name}")
async def asset(request: web.Request) -> web.FileResponse:
    """GET /static/graphiql/{name}: a packaged file, found by its exact name, or a 404 (the
    name never reaches the file system)."""
    path = _ASSET_FILES.get(request.match_info["name"])
    if path is None:
        raise NotFound("there is no such GraphiQL asset")
    return web.FileResponse(path)
