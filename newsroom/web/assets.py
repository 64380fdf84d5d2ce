"""The site's stylesheet (`static/site.css`), served by newsroom itself under a name that carries
a digest of its bytes: `/static/site.<digest>.css`.

A new stylesheet is a new URL, so browsers and proxies may keep each one for a year without
asking again (`immutable`, RFC 8246); the pages link `STYLESHEET`, the current one. It is read
once at import and answered like a feed (web/documents.py): ETag, 304, gzip. Any other name under
/static/ is a 404 that does not repeat it.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from aiohttp import web

from newsroom.errors import NotFound
from newsroom.web.documents import Rendered, respond

YEAR = 365 * 24 * 3600  # seconds; the longest max-age caches honour in practice
_FILE = Path(str(resources.files("newsroom.web").joinpath("static", "site.css")))
_CSS = Rendered(
    _FILE.read_bytes(),
    "text/css",
    datetime.fromtimestamp(_FILE.stat().st_mtime, UTC),
    cache_control=f"public, max-age={YEAR}, immutable",
)
DIGEST = hashlib.blake2b(_CSS.body, digest_size=6).hexdigest()
STYLESHEET = f"/static/site.{DIGEST}.css"
"""The path of the current stylesheet, which every reader page links."""

routes = web.RouteTableDef()
"""The stylesheet's route."""


@routes.get("/static/{name}")
async def stylesheet(request: web.Request) -> web.Response:
    """GET /static/site.<digest>.css: the stylesheet, cached for a year; 404 for any other name
    (an older digest included: its pages are gone with it)."""
    if request.match_info["name"] != f"site.{DIGEST}.css":
        raise NotFound("there is no such file; pages link the current stylesheet")
    return respond(request, _CSS, None)
