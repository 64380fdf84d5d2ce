"""Operations routes: liveness (/healthz) and readiness (/readyz), as JSON."""

from __future__ import annotations

from aiohttp import web

from newsroom.web.http import NEWSROOM, json_response

routes = web.RouteTableDef()
"""The health routes."""


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """200 while every projection runs; 503 naming the one that stopped and where."""
    report = await request.app[NEWSROOM].health(fingerprints="fingerprint" in request.query)
    return json_response(report, 200 if report["status"] == "ok" else 503)


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    """200 once every projection reached the log head seen at start (and none failed)."""
    newsroom = request.app[NEWSROOM]
    report = await newsroom.health()
    ready = newsroom.ready()
    report["status"] = "ready" if ready else "not ready"
    return json_response(report, 200 if ready else 503)
