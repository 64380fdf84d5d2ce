"""What every resolver gets as `info.context`, and the decorator that hands it checked arguments."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple, TypeAlias, TypeVar

from aiohttp import web
from graphql import GraphQLResolveInfo

from newsroom.commands import CommandHandler
from newsroom.config import Settings
from newsroom.history import History
from newsroom.projections.views import Views
from newsroom.web.graphql.arguments import Checked
from newsroom.web.graphql.reply_size import ReplyBudget


class Context(NamedTuple):
    """One operation's context: what resolvers may use, and their checked arguments.

    Built for every operation, so it is a plain tuple: reading a part costs no call."""

    request: web.Request
    settings: Settings
    views: Views
    """The read models; each property checks the view is healthy before handing it out."""
    commands: CommandHandler
    """The write side's door: mutations hand their commands to it."""
    history: History
    """The log, read-only: time travel, `history`, `events` and subscriptions read it."""
    checked: Checked
    """The root fields' arguments as `arguments.RULES` converted them."""
    budget: ReplyBudget | None
    """The text the reply may still carry (None for a subscription: each event is one reply)."""

    @classmethod
    def of(cls, request: web.Request, checked: Checked, capped: bool = True) -> Context:
        """The context of one operation; `capped`: its one reply is held to `max_reply_bytes`."""
        settings, views, commands, history = request.app[RESOLVERS_USE]
        budget = ReplyBudget(settings.max_reply_bytes) if capped else None
        return cls(request, settings, views, commands, history, checked, budget)


RESOLVERS_USE: web.AppKey[tuple[Settings, Views, CommandHandler, History]] = web.AppKey(
    "what resolvers use"
)
"""The parts of the running newsroom that resolvers use, put together once at start."""


Info: TypeAlias = GraphQLResolveInfo[Context]
"""What every resolver receives: the query's details and the `Context`."""

Resolver = TypeVar("Resolver", bound=Callable[..., Any])


def checked_arguments(resolver: Resolver) -> Resolver:
    """`resolver`, called with its arguments as the pipeline checked and converted them (an id
    as an int, a cursor as its key, search text as terms) in place of the raw values."""

    @functools.wraps(resolver)
    def with_checked(parent: Any, info: Info, **arguments: Any) -> Any:
        arguments.update(info.context.checked[id(info.field_nodes[0])])
        return resolver(parent, info, **arguments)

    return with_checked  # type: ignore[return-value]
