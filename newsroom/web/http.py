"""Shared HTTP pieces: the typed application keys, JSON replies, and strict JSON request bodies.

Route handlers reach each part of the running newsroom through its own key: the views (each
checked for health as it is handed out), the command handler, the history of the log, the
health report and the settings."""

from __future__ import annotations

import asyncio
import hmac
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from aiohttp import web
from multidict import istr

from newsroom.commands import CommandHandler
from newsroom.config import Settings
from newsroom.errors import (
    Busy,
    NewsroomError,
    NotFound,
    ProjectionFailed,
    ValidationError,
    ViewTimeout,
)
from newsroom.health import Health
from newsroom.history import History
from newsroom.projections.views import Views
from newsroom.web.rates import RequestRate

SETTINGS = web.AppKey("settings", Settings)
VIEWS = web.AppKey("views", Views)
COMMANDS = web.AppKey("commands", CommandHandler)
HISTORY = web.AppKey("history", History)
HEALTH = web.AppKey("health", Health)
CLOCK: web.AppKey[Callable[[], datetime]] = web.AppKey("clock")
"""The time now, as the server sees it (injected: tests fix it)."""
REQUEST_RATE = web.AppKey("request rate", RequestRate)
"""Each client address's request rate, which the error boundary checks before every route."""
# Header names as multidict's case-insensitive strings, folded once here rather than per lookup.
POSITION_HEADER = istr("Newsroom-Position")
MIN_POSITION_HEADER = istr("Newsroom-Min-Position")
REQUEST_ID_HEADER = istr("X-Request-Id")  # the guard's (guard.py) and a WebSocket handshake's
NUMBER_TOO_LONG = f"a number in it has more than {sys.get_int_max_str_digits():,} digits"
"""What JSON with an integer longer than Python reads gets told (Python's own message names a
function of Python's, which is nothing a client can use)."""
UTF_8 = frozenset(("utf-8", "utf8"))  # the charset a JSON body may name (RFC 8259 section 8.1)


async def wait_for_min_position(request: web.Request) -> int:
    """Wait (bounded) until the views reached the request's `Newsroom-Min-Position`; return the
    position they are at. A malformed header is a ValidationError (400)."""
    views = request.app[VIEWS]
    text = request.headers.get(MIN_POSITION_HEADER)
    if text is None:
        return views.position
    text = text.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise ValidationError(f"{MIN_POSITION_HEADER} must be a log position (a whole number)")
    if minimum := int(text):
        await views.wait_for(minimum, request.app[SETTINGS].view_wait)
    return views.position


JSON = "application/json"


def lone_surrogate(value: Any) -> bool:
    """Whether parsed JSON holds a string with a lone surrogate (`"\\ud800"`): valid JSON
    syntax, but not text, so no reply could quote it back (graphql-core quotes bad values in its
    messages). Requests carrying one are refused with a 400 where they are read."""
    try:
        orjson.dumps(value)
    except TypeError as e:
        return "surrogates" in str(e)
    return False


LONE_SURROGATE = "the JSON holds a lone surrogate escape (\\ud800-\\udfff), which is not text"


def json_response(data: Any, status: int = 200, media: str = JSON) -> web.Response:
    """A JSON reply (orjson: fast, and strict about what it serialises), as `media`: JSON
    itself, or a type built on it such as application/graphql-response+json."""
    # Always UTF-8 (RFC 8259 section 8.1), said for the GraphQL-over-HTTP spec's sake
    return web.Response(body=orjson.dumps(data), status=status, content_type=media, charset="utf-8")


def positioned_json(
    data: dict[str, Any], position: int, status: int = 200, media: str = JSON
) -> web.Response:
    """A JSON reply that states the log position the data reflects (header and extensions)."""
    data.setdefault("extensions", {})["position"] = position
    response = json_response(data, status, media)
    response.headers[POSITION_HEADER] = str(position)
    return response


def unauthorized(request: web.Request, what: str, media: str = JSON) -> web.Response | None:
    """A 401 unless the request carries the configured bearer token (compared in constant time).

    With no token configured, everything is open (start-up refuses that on a public address).
    `what` names what needs the token, for the message; `media` is the reply's JSON type."""
    token = request.app[SETTINGS].token
    if not token:
        return None
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    offered = given.strip().encode("utf-8", "surrogateescape")
    if scheme.lower() == "bearer" and hmac.compare_digest(offered, token.encode()):
        return None
    return json_error(
        401,
        f"{what} need 'Authorization: Bearer <token>' with this server's token",
        media,
        **{"WWW-Authenticate": 'Bearer realm="newsroom"'},
    )


# Pages for people are built from our own markup alone: no script of their own, no inline
# style, nothing framed. CSP Level 3: https://www.w3.org/TR/CSP3/
PAGE_POLICY = (
    "default-src 'none'; img-src 'self'; style-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def html_response(
    text: str, status: int = 200, policy: str = PAGE_POLICY, position: int | None = None
) -> web.Response:
    """An HTML page with the headers every page carries: a Content-Security-Policy, no MIME
    sniffing, no framing (CSP's frame-ancestors, and X-Frame-Options for older browsers), and
    a Referrer-Policy that sends other sites only our origin."""
    response = web.Response(text=text, status=status, content_type="text/html")
    headers = response.headers
    headers["Content-Security-Policy"] = policy
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
    if position is not None:
        headers[POSITION_HEADER] = str(position)
    return response


@dataclass(frozen=True, slots=True)
class Refusal:
    """How a route answers a newsroom error the client can act on: status, message, headers."""

    status: int
    message: str
    headers: dict[str, str]


def refusal(error: NewsroomError) -> Refusal | None:
    """The reply to a client's bad request or to a passing shortage (the one mapping every
    route uses, in JSON or HTML); None for a fault, which the error boundary logs."""
    match error:
        case ValidationError():
            return Refusal(400, str(error), {})
        case NotFound():
            return Refusal(404, str(error), {})
        case Busy():
            return Refusal(503, str(error), {"Retry-After": str(error.retry_after)})
        case ProjectionFailed() | ViewTimeout():
            return Refusal(503, str(error), {"Retry-After": "1"})
    return None


def json_error(status: int, message: str, media: str = JSON, **headers: str) -> web.Response:
    """A JSON error reply in the GraphQL error shape, so every client can read it."""
    response = json_response({"errors": [{"message": message}]}, status, media)
    response.headers.update(headers)
    return response


async def read_json_object(
    request: web.Request, timeout: float, media: str = JSON
) -> dict[str, Any]:
    """The request body as a JSON object; a clear 4xx (its body as `media`) for every other
    kind of body.

    Only application/json in UTF-8 is read: a browser form cannot send it without a CORS
    preflight, so this also stops form-based CSRF. A body that trickles in slower than
    `timeout` is a 408.
    """
    if request.content_type != JSON or (request.charset or "utf-8").lower() not in UTF_8:
        raise web.HTTPUnsupportedMediaType(
            text=_error_text("send the body as application/json, in UTF-8"), content_type=media
        )
    try:
        if request.content.is_eof():  # the whole body came with the headers: no wait to bound
            raw = await request.read()  # aiohttp: 413 past the size cap
        else:
            raw = await asyncio.wait_for(request.read(), timeout)
    except web.RequestPayloadError:  # its Content-Encoding does not decode, or it was cut short
        raise _bad_request(
            media, "the body could not be read as its headers describe it (Content-Encoding, "
            "Content-Length)",
        ) from None  # fmt: skip
    except TimeoutError:
        raise web.HTTPRequestTimeout(
            text=_error_text(f"the request body did not arrive within {timeout:g} s"),
            content_type=media,
        ) from None
    try:
        body = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise _bad_request(media, f"the body is not valid UTF-8 (byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise _bad_request(
            media, f"the body is not valid JSON: {e.msg} at line {e.lineno}"
        ) from None
    except ValueError:
        raise _bad_request(media, f"the body is not usable JSON: {NUMBER_TOO_LONG}") from None
    except RecursionError:  # the stdlib parser recurses once per level of nesting
        raise _bad_request(
            media, "the body's JSON nests too deeply to be a GraphQL request"
        ) from None
    if lone_surrogate(body):
        raise _bad_request(media, f"the body is not usable: {LONE_SURROGATE}")
    if not isinstance(body, dict):
        raise _bad_request(
            media, "the body must be one JSON object (batched arrays are not accepted)"
        )
    return body


def _bad_request(media: str, message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=_error_text(message), content_type=media)


def _error_text(message: str) -> str:
    return json.dumps({"errors": [{"message": message}]})
