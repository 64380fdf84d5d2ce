"""The executable GraphQL schema, its documents (parsed, limited and validated once), and how a
checked operation runs.

Shared by GraphQL over HTTP (graphql.py) and over WebSocket (graphql_ws.py).
"""

from __future__ import annotations

import inspect
import logging
from collections import OrderedDict
from importlib import resources
from typing import Any, NamedTuple

from aiohttp import web
from ariadne import format_error, make_executable_schema
from ariadne.validation import cost_validator
from graphql import (
    DocumentNode,
    ExecutionResult,
    Executor,
    FragmentDefinitionNode,
    GraphQLError,
    OperationDefinitionNode,
    default_field_resolver,
    default_type_resolver,
    get_operation_ast,
    parse,
    validate,
)
from graphql.execution.collect_fields import FragmentDetails
from graphql.execution.values import VariableValues, get_variable_values

from newsroom.config import GraphQLLimits
from newsroom.errors import NewsroomError
from newsroom.web.graphql_arguments import argument_errors
from newsroom.web.graphql_limits import COST_MAP, check_shape, fragments_of, sizes_from_variables
from newsroom.web.http import NEWSROOM, SETTINGS
from newsroom.web.mutations import mutation
from newsroom.web.resolvers import article_type, datetime_scalar, json_scalar, query
from newsroom.web.search import search_query
from newsroom.web.subscriptions import subscription

log = logging.getLogger(__name__)
CACHE_SIZE = 500  # distinct documents kept parsed and validated
Errors = list[GraphQLError]


class Parsed(NamedTuple):
    """A document that parsed, passed the shape limits and validated; with its fragments."""

    document: DocumentNode
    fragments: dict[str, FragmentDefinitionNode]
    fragment_details: dict[str, FragmentDetails]  # the same, as graphql-core's executor takes them


class Prepared(NamedTuple):
    """An operation that passed every check, with its variables as execution will see them."""

    parsed: Parsed
    operation: OperationDefinitionNode
    variables: VariableValues


schema = make_executable_schema(
    resources.files("newsroom.web").joinpath("schema.graphql").read_text(encoding="utf-8"),
    query,
    search_query,
    mutation,
    subscription,
    article_type,
    datetime_scalar,
    json_scalar,
)


class Documents:
    """Parsed, shape-checked and validated documents, by query text (least recently used out)."""

    def __init__(self, limits: GraphQLLimits, size: int = CACHE_SIZE) -> None:
        self.limits = limits
        self._size = size
        self._cache: OrderedDict[str, Parsed | list[GraphQLError]] = OrderedDict()
        # documents whose cost does not depend on variables: their cost errors, computed once
        self._static_costs: dict[int, list[GraphQLError]] = {}

    def get(self, text: str) -> Parsed | list[GraphQLError]:
        """The document for `text`, or the errors that make it unusable."""
        found = self._cache.get(text)
        if found is None:
            found = self._cache[text] = self._prepare(text)
            if len(self._cache) > self._size:
                _, dropped = self._cache.popitem(last=False)
                self._static_costs.pop(id(dropped), None)
        else:
            self._cache.move_to_end(text)
        return found

    def _prepare(self, text: str) -> Parsed | list[GraphQLError]:
        try:
            document = parse(text, max_tokens=self.limits.max_tokens)
            if shape_error := check_shape(document, self.limits):
                return [shape_error]
        except GraphQLError as e:
            return [e]
        except RecursionError:  # the parser recurses per level of nesting
            return [GraphQLError(f"the query nests deeper than {self.limits.max_depth} levels")]
        if errors := validate(schema, document):
            return errors
        fragments = fragments_of(document)
        details = {name: FragmentDetails(fragment) for name, fragment in fragments.items()}
        return Parsed(document, fragments, details)

    def operation(
        self, text: str, name: str | None, variables: dict[str, Any]
    ) -> Prepared | Errors:
        """The operation to run from a request's document, or every reason it may not run.

        In order: the cached document (parsed, shape-checked, validated), the operation named,
        the variables as execution will see them (types coerced, defaults applied), the cost
        with those variables, and the root fields' argument rules.
        """
        parsed = self.get(text)
        if isinstance(parsed, list):
            return parsed
        operation = get_operation_ast(parsed.document, name)
        if operation is None:
            return [GraphQLError("name the operation to run in 'operationName'")]
        given = get_variable_values(schema, operation.variable_definitions or (), variables)
        if isinstance(given, list):
            return given
        return (
            self.cost_errors(parsed.document, given.coerced)
            or argument_errors(operation, parsed.fragments, given.coerced)
            or Prepared(parsed, operation, given)
        )

    def cost_errors(self, document: DocumentNode, variables: dict[str, Any]) -> list[GraphQLError]:
        """Errors if running `document` with `variables` would cost more than the limit."""
        if (known := self._static_costs.get(id(document))) is not None:
            return known
        rule = cost_validator(
            self.limits.max_cost, default_cost=1, variables=variables, cost_map=COST_MAP
        )
        errors = validate(schema, document, [rule])
        if not sizes_from_variables(document):
            self._static_costs[id(document)] = errors
        return errors


DOCUMENTS = web.AppKey("graphql documents", Documents)


async def execute_prepared(prepared: Prepared, context: dict[str, Any]) -> ExecutionResult:
    """Run a query or mutation that passed `Documents.operation`.

    graphql-core's `execute` would coerce the variables a second time (the checks above needed
    them coerced already) and set up incremental delivery (@defer, @stream), which this schema
    does not offer. Its plain `Executor`, given what the checks prepared, runs the operation
    alone (docs/benchmarks.md, §4).
    """
    parsed = prepared.parsed
    executor: Executor[Any] = Executor(
        schema,
        fragment_definitions=parsed.fragments,
        fragments=parsed.fragment_details,
        root_value=None,
        context_value=context,
        operation=prepared.operation,
        variable_values=prepared.variables,
        field_resolver=default_field_resolver,
        type_resolver=default_type_resolver,
        subscribe_field_resolver=default_field_resolver,
    )
    try:
        result = executor.execute_operation()
        if inspect.isawaitable(result):
            result = await result
        assert isinstance(result, ExecutionResult)  # never incremental: no @defer, no @stream
        return result
    finally:
        # The executor hands resolvers helpers that are its own bound methods: a reference
        # cycle. Until the cyclic GC came by, it kept alive everything the request had built
        # (the context, so the aiohttp request too, and the collected fields): a young
        # collection every few hundred requests, each scanning all of that. Broken here,
        # reference counting frees it as soon as the operation is done (an error's traceback
        # still makes a cycle of its own, left to the GC). Work that graphql-core settles in the
        # background after a failed field still needs the helpers; then they stay.
        if not executor.background_futures:
            del executor.async_helpers


def context_for(request: web.Request) -> dict[str, Any]:
    """What every resolver gets as `info.context`."""
    return {
        "newsroom": request.app[NEWSROOM],
        "settings": request.app[SETTINGS],
        "request": request,
    }


def response_payload(result: ExecutionResult) -> dict[str, Any]:
    """An execution result as the GraphQL response shape (errors formatted for clients)."""
    reply: dict[str, Any] = {"data": result.data}
    if result.errors:
        reply["errors"] = [format_graphql_error(e) for e in result.errors]
    return reply


def format_graphql_error(error: GraphQLError) -> dict[str, Any]:
    """Show our own errors' messages; hide anything unexpected behind a generic one."""
    original = error.original_error
    if original is None or isinstance(original, NewsroomError | GraphQLError):
        formatted: dict[str, Any] = format_error(error, debug=False)
        if isinstance(original, NewsroomError):
            formatted["extensions"] = {"code": original.code}
        return formatted
    log.error("unexpected error in a resolver at %s", error.path, exc_info=original)
    return {"message": "internal error", "path": error.path, "extensions": {"code": "INTERNAL"}}
