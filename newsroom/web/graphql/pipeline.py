"""The path of every GraphQL operation, in one place: parse -> limits -> validate -> coerce
variables -> cost -> argument rules -> execute (or subscribe).

Both transports (HTTP in `http.py`, WebSocket in `websocket.py`) hand an operation's text,
name, variables and the kinds of operation they run to `Operations.prepare`, and run what it
returns with `execute` or `subscribe`; they get JSON-ready replies back. This is the only module
that drives graphql-core beyond its public `parse` and `validate`. Parsing and validating are
most of a small request's time, so a document seen before skips both (a cache bounded in bytes,
cache.py); a new document is bounded in what it may cost (limits.py) and waits for its turn.
Variables are coerced once, and execution reuses them.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from aiohttp import web
from ariadne.validation import cost_validator
from graphql import (
    DocumentNode,
    ExecutionResult,
    Executor,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSyntaxError,
    OperationDefinitionNode,
    OperationType,
    default_field_resolver,
    default_type_resolver,
    get_operation_ast,
    subscribe,
    validate,
)
from graphql.execution.collect_fields import FragmentDetails
from graphql.execution.values import VariableValues, get_variable_values
from graphql.language import Lexer, Source, Token
from graphql.language.parser import Parser

from newsroom.config import GraphQLLimits
from newsroom.errors import ReplyTooLarge
from newsroom.gates import Gate
from newsroom.web.graphql.arguments import Checked, check_arguments
from newsroom.web.graphql.cache import (
    DocumentCache,
    compact,
    document_footprint,
    errors_footprint,
)
from newsroom.web.graphql.context import Context
from newsroom.web.graphql.limits import COST_MAP, check_shape, fragments_of, lexical_refusal
from newsroom.web.graphql.replies import Errors, Reply, formatted
from newsroom.web.graphql.schema import schema

CACHE_SIZE = 500  # documents kept at most (GraphQLLimits.cache_bytes bounds their memory)


@dataclass(slots=True)
class Parsed:
    """A document that parsed, passed the shape limits and validated; with its fragments."""

    document: DocumentNode
    fragments: dict[str, FragmentDefinitionNode]
    fragment_details: dict[str, FragmentDetails]  # the same, as graphql-core's executor takes them
    sized_by_variables: bool  # so its cost depends on the variables
    tokens: int  # lexical tokens and comments: what it weighs in the cache
    costs: dict[str | None, Errors] = field(default_factory=dict)
    """By operation name: why it costs too much (empty if it does not), once a request costed
    it, unless that depends on the variables. (Costing needs a request's variables, even when
    the verdict does not depend on them.)"""


@dataclass(slots=True)
class _Parsing:
    """A new document on its way through the parser, and whether other requests wait for it."""

    done: asyncio.Future[Parsed | Errors]
    shared: bool = False


class Prepared(NamedTuple):
    """An operation that passed every check: its variables as execution will see them, and its
    root fields' arguments as the resolvers get them."""

    parsed: Parsed
    operation: OperationDefinitionNode
    variables: VariableValues
    checked: Checked
    given: dict[str, Any]
    """The variables as the client sent them (a subscription coerces them itself)."""

    @property
    def kind(self) -> OperationType:
        """Query, mutation or subscription."""
        return self.operation.operation


class Refused(NamedTuple):
    """An operation of a kind the transport does not run (a mutation sent by GET, a query sent
    to the subscriptions' WebSocket): chosen from its document, and checked no further."""

    kind: OperationType


EVERY_KIND = frozenset(OperationType)
Outcome = Prepared | Errors | Refused
"""What `Operations.prepare` makes of a request: an operation to run, the reasons it may not
run, or the refusal of its kind."""


class Operations:
    """Prepares operations; keeps parsed, limited and validated documents by text (LRU, bounded
    in bytes), and has new documents take turns."""

    def __init__(self, limits: GraphQLLimits, size: int = CACHE_SIZE) -> None:
        self.limits = limits
        self.cache: DocumentCache[Parsed | Errors] = DocumentCache(limits.cache_bytes, size)
        self.turns = Gate("new GraphQL documents", capacity=1, wait=limits.new_documents_wait)
        self._parsing: dict[str, _Parsing] = {}  # new documents being parsed, by text

    async def prepare(
        self,
        text: str,
        name: str | None,
        variables: dict[str, Any],
        kinds: frozenset[OperationType] = EVERY_KIND,
    ) -> Outcome:
        """The operation to run from a request's document, or every reason it may not run, or
        `Refused` if it is not of one of the `kinds` the caller runs.

        A cached document is prepared at once. A new one is counted, parsed and validated by a
        worker thread, so the event loop goes on serving meanwhile (runtime.share_the_interpreter
        keeps the loop's waits for Python's interpreter lock short); new documents take turns,
        one at a time, so however many clients send them, they hold one thread's worth of CPU
        and the loop only hands them over. `Busy` (503) if no turn came within
        `new_documents_wait` seconds.
        """
        if (found := self.cache.get(text)) is not None:
            return self.operation(found, name, variables, kinds)
        if (parsing := self._parsing.get(text)) is not None:  # the same text, already on its way
            parsing.shared = True
            await asyncio.wait({parsing.done})
            if not parsing.done.cancelled():
                return self.operation(parsing.done.result(), name, variables, kinds)
        return await self._parse_new(text, name, variables, kinds)

    async def _parse_new(
        self,
        text: str,
        name: str | None,
        variables: dict[str, Any],
        kinds: frozenset[OperationType],
    ) -> Outcome:
        """Parse a new document when its turn comes; requests with the same text that arrive
        meanwhile wait for this parse instead of a turn of their own (a burst of clients
        starting with the same query gets one parse, not a queue and then 503s)."""
        parsing = self._parsing[text] = _Parsing(asyncio.get_running_loop().create_future())
        try:
            async with self.turns.turn():
                parsed, prepared = await asyncio.to_thread(
                    self._first_time, text, name, variables, kinds
                )
            for _ in range(2 if parsing.shared else 1):  # shared: it came (at least) twice
                self._remember(text, parsed)
            parsing.done.set_result(parsed)
            return prepared
        finally:
            if not parsing.done.done():
                parsing.done.cancel()  # those waiting try for themselves
            del self._parsing[text]

    def _first_time(
        self,
        text: str,
        name: str | None,
        variables: dict[str, Any],
        kinds: frozenset[OperationType],
    ) -> tuple[Parsed | Errors, Outcome]:
        """Parse a new document and prepare its operation (on a worker thread: what it builds
        is shared with nothing until it is returned); one far past the token limit, or with a
        number too long to read, is refused by a quick look at its tokens first."""
        if len(text) <= self.limits.max_length and (refusal := lexical_refusal(text, self.limits)):
            return [refusal], [refusal]
        found = self._parse(text)
        return found, self.operation(found, name, variables, kinds)

    def operation(
        self,
        found: Parsed | Errors,
        name: str | None,
        variables: dict[str, Any],
        kinds: frozenset[OperationType] = EVERY_KIND,
    ) -> Outcome:
        """The operation to run from a document (as `document` found it), or every reason it
        may not run.

        In order: the document's own errors (parse, shape, validation), the operation named
        and its kind (before its variables: a mutation sent by GET is refused as such, whatever
        its variables), the variables as execution will see them (types coerced, defaults
        applied), the cost with those variables, and the root fields' argument rules.
        """
        if isinstance(found, list):
            return found
        operation = get_operation_ast(found.document, name)
        if operation is None:
            return [GraphQLError("name the operation to run in 'operationName'")]
        if operation.operation not in kinds:
            return Refused(operation.operation)
        given = get_variable_values(schema, operation.variable_definitions or (), variables)
        if isinstance(given, list):
            return given
        if cost := self._cost(found, operation, given.coerced):
            return cost
        checked = check_arguments(operation, found.fragments, given.coerced)
        if isinstance(checked, list):
            return checked
        return Prepared(found, operation, given, checked, variables)

    def document(self, text: str) -> Parsed | Errors:
        """The document for `text` (parsed, shape-checked, validated), or the errors that make
        it unusable; parsed now, on this thread, if it is new (`prepare` parses elsewhere)."""
        found = self.cache.get(text)
        return found if found is not None else self._remember(text, self._parse(text))

    def _remember(self, text: str, found: Parsed | Errors) -> Parsed | Errors:
        """Offer what parsing `text` found to the cache (which keeps it from its second time)."""
        if isinstance(found, list):
            found = [compact(error) for error in found]
            self.cache.put(text, found, errors_footprint(text, found))
        else:
            self.cache.put(text, found, document_footprint(text, found.tokens))
        return found

    def _parse(self, text: str) -> Parsed | Errors:
        limits = self.limits
        try:
            document, tokens = parse_document(text, limits)
        except GraphQLError as e:
            return [e.with_traceback(None)]  # its frames hold the parser: a cycle for the GC
        shape = check_shape(document, limits)
        if isinstance(shape, GraphQLError):
            return [shape]
        if errors := validate(schema, document, max_errors=limits.max_errors):
            return errors
        fragments = fragments_of(document)
        details = {name: FragmentDetails(fragment) for name, fragment in fragments.items()}
        return Parsed(document, fragments, details, shape.sized_by_variables, tokens)

    def _cost(
        self, parsed: Parsed, operation: OperationDefinitionNode, variables: dict[str, Any]
    ) -> Errors:
        """Errors if running `operation` with `variables` would cost more than the limit. The
        document's other operations are left out: their variables are not given, and they do
        not run."""
        name = operation.name.value if operation.name else None
        if (known := parsed.costs.get(name)) is not None:
            return known
        rule = cost_validator(
            self.limits.max_cost, default_cost=1, variables=variables, cost_map=COST_MAP
        )
        alone = DocumentNode(definitions=(operation, *parsed.fragments.values()))
        cost = validate(schema, alone, [rule])
        if not parsed.sized_by_variables:
            parsed.costs[name] = cost
        return cost


OPERATIONS = web.AppKey("graphql operations", Operations)


def parse_document(text: str, limits: GraphQLLimits) -> tuple[DocumentNode, int]:
    """Parse `text` within the parser's limits, and count its tokens (comments included);
    `GraphQLError` if it breaks a limit or the syntax.

    graphql-core's lexer links its tokens both ways (`prev`, `next`): a chain of cycles, one
    token per word of the document, that only the cyclic garbage collector can free. Under a
    stream of new documents that made the collector's pauses the longest waits of every other
    request (docs/benchmarks.md, section 5). The links are cut once the parser is done; the
    tokens the document's locations use stay, each freed with the document.
    """
    source = Source(text)
    lexer = Lexer(source)
    try:
        parser = Parser(
            source,
            lexer=lexer,
            max_source_length=limits.max_length,
            max_lexical_tokens=limits.max_tokens,
            max_comments=limits.max_comments,
        )
        try:
            document: DocumentNode | None = parser.parse_document()
        except RecursionError:  # graphql-core's own nesting guard
            document = None
        if document is None:  # raised outside the handler, so it keeps no recursion's frames
            raise GraphQLSyntaxError(source, lexer.token.start, "the document is nested too deeply")
    finally:
        tokens = _unlink(lexer.token)
    return document, tokens


def _unlink(token: Token | None) -> int:
    """Cut every `prev` and `next` link of the token chain `token` belongs to; return how many
    tokens it had."""
    count = 0
    ahead = token.next if token is not None else None
    while token is not None:
        token.prev, token.next, token, count = None, None, token.prev, count + 1
    while ahead is not None:
        ahead.prev, ahead.next, ahead, count = None, None, ahead.next, count + 1
    return count


async def execute(prepared: Prepared, request: web.Request) -> Reply:
    """Run a query or mutation that `Operations.prepare` let through.

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
        context_value=Context.of(request, prepared.checked),
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
        return reply(result, wrote=prepared.operation.operation is OperationType.MUTATION)
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


async def results(prepared: Prepared, request: web.Request) -> AsyncIterator[Reply] | Errors:
    """The replies of a subscription that `Operations.prepare` let through, one per event; or
    the errors that stop it before its first event."""
    context = Context.of(request, prepared.checked, capped=False)
    stream = subscribe(
        schema, prepared.parsed.document, None, context, prepared.given,
        prepared.operation.name.value if prepared.operation.name else None,
        executor_class=_EventExecutor,
    )  # fmt: skip
    if inspect.isawaitable(stream):  # graphql-core answers either way, by source kind
        stream = await stream
    if isinstance(stream, ExecutionResult):
        return list(stream.errors or [])
    return _replies(stream)


class _EventExecutor(Executor[Any]):
    """graphql-core's executor for a subscription, with a memo of its own for each event.

    graphql-core 3.3 runs each event on a shallow copy of the subscription's executor, and the
    copies share one memo of collected sub-fields, keyed by the identity of lists that every
    event builds anew: the memo grew by about 1.2 KB an event for as long as the subscription
    lived (24 MB over a replay of 20,000 events; tests/web/test_bounds.py). Each event gets a
    fresh one here; within the event, it memoises as before."""

    def build_per_event_executor(self, payload: Any) -> Executor[Any]:
        executor = super().build_per_event_executor(payload)
        executor._relevant_sub_fields = {}
        return executor


async def _replies(stream: AsyncIterator[ExecutionResult]) -> AsyncIterator[Reply]:
    """Each result as a reply; the source is closed when its consumer stops."""
    try:
        async for result in stream:
            yield reply(result)
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()


def reply(result: ExecutionResult, wrote: bool = False) -> Reply:
    """An execution result as the GraphQL response shape (errors formatted for clients).

    A query's reply that grew past its size cap is only the error that says so: no partial
    data, and not the error repeated for every field that came after the cap. A mutation's
    (`wrote`) keeps its data: its writes are done, and each one's outcome (id, status, position)
    is the client's only record of them; only the articles past the cap are null, each with
    the error."""
    errors = result.errors or []
    if not wrote:
        for error in errors:
            if isinstance(error.original_error, ReplyTooLarge):
                return {"data": None, "errors": formatted([error])}
    body: Reply = {"data": result.data}
    if errors:
        body["errors"] = formatted(errors)
    return body
