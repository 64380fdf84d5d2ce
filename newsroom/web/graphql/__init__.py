"""The GraphQL API, one module per concern:

- `pipeline.py`: the path of every operation (parse, limits, validate, variables, cost,
  argument rules, execute or subscribe); the only module that drives graphql-core.
- `limits.py`: query limits (depth, fields, fragment cycles, cost per field).
- `arguments.py`: the table of argument rules for root fields (ids, counts, cursors, search).
- `queries.py`, `mutations.py`, `subscriptions.py`: the resolvers, by what they serve;
  `objects.py`: the `Article` and `LogEvent` shapes and the scalars; `schema.graphql` and
  `schema.py`: the schema they are bound to; `context.py`: what every resolver receives.
- `http.py` and `websocket.py`: the two transports; `graphiql.py`: the in-browser IDE.
"""
