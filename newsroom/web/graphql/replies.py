"""What a client sees of GraphQL errors: ours by message and code, anything else hidden behind a
generic error (and logged); and whether a reply says the server could not do its part now (HTTP
answers 503 then)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ariadne import format_error
from graphql import GraphQLError

from newsroom.errors import Busy, NewsroomError, StoreCorrupted, StoreError
from newsroom.logs import FAILURE_LINES

log = logging.getLogger(__name__)
Errors = list[GraphQLError]
Reply = dict[str, Any]
"""A GraphQL response as JSON-ready data: `data`, and `errors` if any."""
UNAVAILABLE = frozenset((StoreError.code, StoreCorrupted.code, Busy.code))


def store_failed(reply: Reply) -> bool:
    """Whether the reply reports that the server could not do its part now (the event store
    failed, or the work was at its limit), so HTTP answers 503 and a client retries later."""
    return any(
        error.get("extensions", {}).get("code") in UNAVAILABLE for error in reply.get("errors", ())
    )


@dataclass(slots=True)
class Tally:
    count: int = 0


INTERNAL_ERRORS = Tally()
"""GraphQL errors that were no newsroom error (a bug met), each answered as "internal error":
in a 200 reply, which no HTTP status in the metrics counts, so they are counted here."""


def formatted(errors: Errors) -> list[dict[str, Any]]:
    """Errors as clients see them: our own errors' messages; anything unexpected hidden behind
    a generic one (and logged)."""
    return [_format(error) for error in errors]


def _format(error: GraphQLError) -> dict[str, Any]:
    original = error.original_error
    if original is None or isinstance(original, NewsroomError | GraphQLError):
        shown: dict[str, Any] = format_error(error, debug=False)
        if isinstance(original, NewsroomError):
            shown["extensions"] = {"code": original.code}
        if isinstance(original, StoreError):  # its message names files: for the server only
            shown["message"] = original.public  # (a failed append is logged where it failed)
        return shown
    INTERNAL_ERRORS.count += 1
    if (more := FAILURE_LINES.take(type(original).__qualname__)) is not None:
        log.error("unexpected error in a resolver at %s%s", error.path, more, exc_info=original)
    return {"message": "internal error", "path": error.path, "extensions": {"code": "INTERNAL"}}
