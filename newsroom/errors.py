"""The small hierarchy of errors newsroom raises; the web layer maps them to replies, once."""

from __future__ import annotations


class NewsroomError(Exception):
    """Raised for every failure newsroom itself detects; the message is meant for a person."""

    code = "ERROR"


class ValidationError(NewsroomError):
    """Raised when a command has a field that breaks a rule (blank, too long, bad characters)."""

    code = "VALIDATION_FAILED"


class NotFound(NewsroomError):
    """Raised when a command or query names an article that does not exist."""

    code = "NOT_FOUND"


class AlreadyExists(NewsroomError):
    """Raised when a create command names an article id that is already taken."""

    code = "ALREADY_EXISTS"


class InvalidTransition(NewsroomError):
    """Raised when a command does not fit the article's status (e.g. editing a retraction)."""

    code = "INVALID_TRANSITION"


class ConcurrencyError(NewsroomError):
    """Raised when an append's expected version is not the stream's current version."""

    code = "VERSION_CONFLICT"


class IdempotencyKeyReused(NewsroomError):
    """Raised when an idempotency key comes back with a different command than its first use."""

    code = "IDEMPOTENCY_KEY_REUSED"


class StoreError(NewsroomError):
    """Raised when the event store cannot do its work (disk, driver, closed store)."""

    code = "STORE_UNAVAILABLE"
    public = "the event store cannot do this right now; try again shortly (the server logs why)"
    """What a client is told: the message itself names files and driver errors, for the log."""


class StoreCorrupted(StoreError):
    """Raised when the event store file is damaged, truncated or belongs to another program."""

    code = "STORE_CORRUPTED"


class StoreUnrecognised(StoreCorrupted):
    """Raised when a store file is not a newsroom log this version can read (empty, not SQLite,
    another program's database, a newer schema): there is nothing to verify in it."""


class CodecError(NewsroomError):
    """Raised when a stored event cannot be decoded (unknown schema version, wrong fields)."""

    code = "UNREADABLE_EVENT"


class ProjectionFailed(NewsroomError):
    """Raised when a query needs a read model that stopped after an event it could not apply."""

    code = "VIEW_FAILED"


class ViewTimeout(NewsroomError):
    """Raised when a read model did not reach a requested log position in time."""

    code = "VIEW_TIMEOUT"


class ReplyTooLarge(NewsroomError):
    """Raised when a query asks for more text than one reply may carry (`max_reply_bytes`)."""

    code = "REPLY_TOO_LARGE"


class Busy(NewsroomError):
    """Raised when expensive work is at its concurrency or rate limit; the client retries later."""

    code = "BUSY"

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        """Seconds after which a retry has a fair chance (HTTP `Retry-After`)."""


class ConfigError(NewsroomError):
    """Raised when a setting (flag or NEWSROOM_* variable) has a value newsroom cannot use."""

    code = "BAD_CONFIG"
