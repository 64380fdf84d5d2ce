"""Operations routes: liveness (/healthz) and readiness (/readyz), as JSON."""

from __future__ import annotations

from aiohttp import web

from newsroom.web.http import HEALTH, json_response, unauthorized

routes = web.RouteTableDef()
"""The health routes."""


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """200 while every projection runs; 503 naming the one that stopped and where.

    `?fingerprint` adds a digest of each view, to compare with a fresh replay. Computing one
    reads the whole view on the event loop (about a second each at 100,000 articles), so with
    a token configured it needs the token, as writes do."""
    fingerprints = "fingerprint" in request.query
    if fingerprints and (denied := unauthorized(request, "view fingerprints")):
        return denied
    report = await request.app[HEALTH].report(fingerprints=fingerprints)
    return json_response(report, 200 if report["status"] == "ok" else 503)


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    """200 once every projection reached the log head seen at start (and none failed)."""
    health = request.app[HEALTH]
    report = await health.report()
    ready = health.ready()
    report["status"] = "ready" if ready else "not ready"
    return json_response(report, 200 if ready else 503)
