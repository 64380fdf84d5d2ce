"""Rendered documents (feeds, sitemaps, the stylesheet, GET /graphql replies): bytes with
validators, served with HTTP caching.

A feed or sitemap is rendered when it is first asked for after it changed, never per event: its
`version` (from the projection that knows when it last changed) decides whether the cached bytes
still hold. Each render keeps the plain and the gzipped bytes, an ETag (a digest of the media
type and the bytes) and a Last-Modified (the time of the last event that changed it). `respond`
answers conditional requests with 304 and picks gzip when the client accepts it (RFC 9110
sections 13 and 12.5.3). A GraphQL query's reply is made per request, with no Last-Modified.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
from collections.abc import Callable, Hashable
from datetime import UTC, datetime

from aiohttp import hdrs, web
from multidict import CIMultiDict, CIMultiDictProxy

from newsroom.web.http import POSITION_HEADER

MAX_AGE = 60  # seconds readers and proxies may reuse a document without asking again
_GZIP_SUFFIX = "-gzip"  # the gzipped bytes are another representation: they get their own ETag


class Rendered:
    """One rendered document: its bytes, its validators, and the headers it goes out with (built
    once here, as they only change with the bytes). The gzipped copy is made when first asked."""

    __slots__ = ("_gzipped", "_headers", "body", "etag", "last_modified")

    def __init__(
        self,
        body: bytes,
        content_type: str,
        last_modified: datetime | None,
        vary: str = "Accept-Encoding",
        cache_control: str = f"public, max-age={MAX_AGE}",
    ) -> None:
        self.body = body
        digest = hashlib.blake2b(content_type.encode(), digest_size=12)
        digest.update(body)  # the same bytes as another media type are another representation
        self.etag = digest.hexdigest()
        """The opaque tag without quotes; the gzipped bytes carry it with a suffix."""
        self.last_modified = (
            last_modified.astimezone(UTC).replace(microsecond=0) if last_modified else None
        )
        self._gzipped: bytes | None = None
        common = {"Cache-Control": cache_control, "Vary": vary}
        if self.last_modified is not None:
            common["Last-Modified"] = self.last_modified.strftime("%a, %d %b %Y %H:%M:%S GMT")
        plain = {**common, "ETag": f'"{self.etag}"'}
        zipped = {**common, "ETag": f'"{self.etag}{_GZIP_SUFFIX}"'}
        media = {"Content-Type": f"{content_type}; charset=utf-8"}
        # (gzipped?, full response?) -> headers, read-only and shared by every response: aiohttp
        # copies them, and copying a multidict is cheaper than building one from a dict
        self._headers = {
            (False, False): _frozen(plain),
            (True, False): _frozen(zipped),
            (False, True): _frozen({**plain, **media}),
            (True, True): _frozen({**zipped, **media, "Content-Encoding": "gzip"}),
        }

    @property
    def gzipped(self) -> bytes:
        if self._gzipped is None:
            self._gzipped = gzip.compress(self.body, compresslevel=6, mtime=0)
        return self._gzipped

    def headers(self, gzipped: bool, full: bool) -> CIMultiDictProxy[str]:
        """The headers of a 200 (`full`) or a 304, for the plain or the gzipped bytes."""
        return self._headers[gzipped, full]


def _frozen(headers: dict[str, str]) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict(headers))


class DocumentCache:
    """The latest rendering of each document, by name; counts its renders (tests read it)."""

    def __init__(self) -> None:
        self._entries: dict[Hashable, tuple[Hashable, Rendered]] = {}
        self.renders = 0

    def get(
        self,
        name: Hashable,
        version: Hashable,
        modified: datetime,
        content_type: str,
        render: Callable[[], bytes],
    ) -> Rendered:
        """The cached document `name` if it is at `version`; else render, cache and return it."""
        entry = self._entries.get(name)
        if entry is not None and entry[0] == version:
            return entry[1]
        rendered = Rendered(render(), content_type, modified)
        self.renders += 1
        self._entries[name] = (version, rendered)
        return rendered


def respond(
    request: web.Request, document: Rendered, position: int | None, compress: bool = True
) -> web.Response:
    """The document, or 304 if the client's copy is current; gzipped if the client accepts it
    (and `compress`). Either way with the log position the document reflects
    (`Newsroom-Position`), if it reflects the log at all (a packaged file does not)."""
    gzipped = compress and _accepts_gzip(request.headers.get(hdrs.ACCEPT_ENCODING, ""))
    etag = document.etag + _GZIP_SUFFIX if gzipped else document.etag
    if _not_modified(request, etag, document.last_modified):
        response = web.Response(status=304, headers=document.headers(gzipped, full=False))
    else:
        body = document.gzipped if gzipped else document.body
        response = web.Response(body=body, headers=document.headers(gzipped, full=True))
    if position is not None:
        response.headers[POSITION_HEADER] = str(position)
    return response


def _not_modified(request: web.Request, etag: str, last_modified: datetime | None) -> bool:
    """RFC 9110 section 13.2.2: If-None-Match decides when present (compared with the tag of
    the representation being sent, weakly), else If-Modified-Since (if the document has a
    Last-Modified)."""
    headers = request.headers
    if hdrs.IF_NONE_MATCH not in headers and hdrs.IF_MODIFIED_SINCE not in headers:
        return False  # the usual case, without parsing anything
    if request.if_none_match is not None:
        return any(tag.value in ("*", etag) for tag in request.if_none_match)
    since = request.if_modified_since
    return since is not None and last_modified is not None and last_modified <= since


@functools.lru_cache(maxsize=256)  # clients send a handful of distinct values
def _accepts_gzip(accept_encoding: str) -> bool:
    """Whether Accept-Encoding allows gzip (RFC 9110 section 12.5.3): listed by name, or as *
    when gzip is not listed, with a quality above 0."""
    qualities: dict[str, float] = {}
    for part in accept_encoding.lower().split(","):
        coding, *params = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        qualities[coding] = quality
    quality = qualities.get("gzip", qualities.get("x-gzip", qualities.get("*", 0.0)))
    return quality > 0


RENDERED = web.AppKey("rendered documents", DocumentCache)
