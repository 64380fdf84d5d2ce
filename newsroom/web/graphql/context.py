"""What every resolver gets as `info.context`, and the decorator that hands it checked arguments."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar

from aiohttp import web
from graphql import GraphQLResolveInfo

from newsroom.app import Newsroom
from newsroom.config import Settings
from newsroom.web.graphql.arguments import Checked
from newsroom.web.http import NEWSROOM, SETTINGS


@dataclass(frozen=True, slots=True)
class Context:
    """One operation's context: the request, the settings, the newsroom, checked arguments."""

    request: web.Request
    settings: Settings
    newsroom: Newsroom
    checked: Checked
    """The root fields' arguments as `arguments.RULES` converted them."""

    @classmethod
    def of(cls, request: web.Request, checked: Checked) -> Context:
        app = request.app
        return cls(request, app[SETTINGS], app[NEWSROOM], checked)


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
