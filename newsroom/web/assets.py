"""The site's stylesheet (`static/site.css`) and icon (`static/icon.svg`), served by newsroom
itself under names that carry a digest of their bytes: `/static/site.<digest>.css`,
`/static/icon.<digest>.svg`.

A new file is a new URL, so browsers and proxies may keep each one for a year without asking
again (`immutable`, RFC 8246); the pages link `STYLESHEET` and `ICON`, the current ones. They are
read once at import and answered like a feed (web/documents.py): ETag, 304, gzip. Any other name
under /static/ is a 404 that does not repeat it. `/favicon.ico`, which feed readers and browsers
ask for without reading a page, answers the icon too (cached for a day: its name never changes).
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
DAY = 24 * 3600


def _packaged(name: str, content_type: str, cache_control: str) -> Rendered:
    file = Path(str(resources.files("newsroom.web").joinpath("static", name)))
    modified = datetime.fromtimestamp(file.stat().st_mtime, UTC)
    return Rendered(file.read_bytes(), content_type, modified, cache_control=cache_control)


def _named(stem: str, suffix: str, file: Rendered) -> str:
    return f"{stem}.{hashlib.blake2b(file.body, digest_size=6).hexdigest()}.{suffix}"


_CSS = _packaged("site.css", "text/css", f"public, max-age={YEAR}, immutable")
_SVG = _packaged("icon.svg", "image/svg+xml", f"public, max-age={YEAR}, immutable")
_FAVICON = _packaged("icon.svg", "image/svg+xml", f"public, max-age={DAY}")
_FILES = {_named("site", "css", _CSS): _CSS, _named("icon", "svg", _SVG): _SVG}
STYLESHEET = f"/static/{_named('site', 'css', _CSS)}"
"""The path of the current stylesheet, which every reader page links."""
ICON = f"/static/{_named('icon', 'svg', _SVG)}"
"""The path of the current icon, which every reader page links."""

routes = web.RouteTableDef()
"""The routes of the packaged files."""


@routes.get("/static/{name}")
async def packaged(request: web.Request) -> web.Response:
    """GET /static/site.<digest>.css or /static/icon.<digest>.svg, cached for a year; 404 for
    any other name (an older digest included: its pages are gone with it)."""
    file = _FILES.get(request.match_info["name"])
    if file is None:
        raise NotFound("there is no such file; pages link the current stylesheet and icon")
    return respond(request, file, None)


@routes.get("/favicon.ico")
async def favicon(request: web.Request) -> web.Response:
    """The site's icon where clients look for it without a page (an SVG: browsers take it)."""
    return respond(request, _FAVICON, None)
