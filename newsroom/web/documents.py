"""Rendered documents (feeds, sitemaps): cached bytes with validators, served with HTTP caching.

A document is rendered when it is first asked for after it changed, never per event: its
`version` (from the projection that knows when it last changed) decides whether the cached bytes
still hold. Each render keeps the plain and the gzipped bytes, an ETag (a digest of the bytes)
and a Last-Modified (the time of the last event that changed it). `respond` answers conditional
requests with 304 and picks gzip when the client accepts it (RFC 9110 sections 13 and 12.5.3).
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web

MAX_AGE = 60  # seconds readers and proxies may reuse a document without asking again
_GZIP_SUFFIX = "-gzip"  # the gzipped bytes are another representation: they get their own ETag


@dataclass(frozen=True, slots=True)
class Rendered:
    """One rendered document: its bytes (plain and gzipped), media type and validators."""

    body: bytes
    gzipped: bytes
    content_type: str
    etag: str
    """The opaque tag without quotes; the gzipped bytes carry it with a suffix."""
    last_modified: datetime

    @property
    def http_date(self) -> str:
        """Last-Modified as an HTTP date (RFC 9110 section 5.6.7)."""
        return self.last_modified.strftime("%a, %d %b %Y %H:%M:%S GMT")


class DocumentCache:
    """The latest rendering of each document, by name; counts its renders (tests read it)."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[Hashable, Rendered]] = {}
        self.renders = 0

    def get(
        self,
        name: str,
        version: Hashable,
        modified: datetime,
        content_type: str,
        render: Callable[[], bytes],
    ) -> Rendered:
        """The cached document `name` if it is at `version`; else render, cache and return it."""
        entry = self._entries.get(name)
        if entry is not None and entry[0] == version:
            return entry[1]
        body = render()
        self.renders += 1
        rendered = Rendered(
            body=body,
            gzipped=gzip.compress(body, compresslevel=6, mtime=0),
            content_type=content_type,
            etag=hashlib.blake2b(body, digest_size=12).hexdigest(),
            last_modified=modified.astimezone(UTC).replace(microsecond=0),
        )
        self._entries[name] = (version, rendered)
        return rendered


def respond(request: web.Request, document: Rendered) -> web.Response:
    """The document, or 304 if the client's copy is current; gzipped if the client accepts it."""
    gzipped = _accepts_gzip(request.headers.get("Accept-Encoding", ""))
    etag = document.etag + _GZIP_SUFFIX if gzipped else document.etag
    headers = {
        "ETag": f'"{etag}"',
        "Last-Modified": document.http_date,
        "Cache-Control": f"public, max-age={MAX_AGE}",
        "Vary": "Accept-Encoding",
    }
    if _not_modified(request, etag, document.last_modified):
        return web.Response(status=304, headers=headers)
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    body = document.gzipped if gzipped else document.body
    return web.Response(
        body=body, headers=headers, content_type=document.content_type, charset="utf-8"
    )


def _not_modified(request: web.Request, etag: str, last_modified: datetime) -> bool:
    """RFC 9110 section 13.2.2: If-None-Match decides when present (compared with the tag of
    the representation being sent, weakly), else If-Modified-Since."""
    if request.if_none_match is not None:
        return any(tag.value in ("*", etag) for tag in request.if_none_match)
    since = request.if_modified_since
    return since is not None and last_modified <= since


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


DOCUMENTS = web.AppKey("documents", DocumentCache)
