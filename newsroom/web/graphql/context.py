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
from newsroom.web.http import COMMANDS, HISTORY, SETTINGS, VIEWS


class Context(NamedTuple):
    """One operation's context: what resolvers may use, and their checked arguments.

    Built for every operation, so it is a tuple holding the request, and each part is looked up
    on the application only when a resolver asks for it."""

    request: web.Request
    checked: Checked
    """The root fields' arguments as `arguments.RULES` converted them."""

    @property
    def settings(self) -> Settings:
        return self.request.app[SETTINGS]

    @property
    def views(self) -> Views:
        """The read models; each property checks the view is healthy before handing it out."""
        return self.request.app[VIEWS]

    @property
    def commands(self) -> CommandHandler:
        """The write side's door: mutations hand their commands to it."""
        return self.request.app[COMMANDS]

    @property
    def history(self) -> History:
        """The log, read-only: time travel, `history`, `events` and subscriptions read it."""
        return self.request.app[HISTORY]


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
