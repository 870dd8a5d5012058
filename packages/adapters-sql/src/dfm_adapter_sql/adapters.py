"""``sql.Query`` and ``sql.Aggregate``: a site's *named* SQL queries, run with bound parameters.

Security model:

- The SQL text only ever comes from the site's own configuration
  (``config: {queries: {name: SQL}}``, or a provider's config). A pipeline
  passes the query's *name* and parameter values, so it cannot run arbitrary
  SQL at a site.
- Parameter values are always passed to the driver as bound parameters,
  never formatted into SQL. ``sql.Aggregate`` adds identifiers (a column, a
  grouping column) to a wrapping ``SELECT``; they must be columns of the named
  query's result and are quoted.
- SQLite databases are opened read-only. PostgreSQL sessions are read-only.
- Error messages name the adapter, the site and the query, never the DSN:
  connection failures do not repeat the driver's message (it may quote the
  DSN's host, user or worse).

Connections are in :mod:`dfm_adapter_sql.connections`, named queries and their
parameters in :mod:`dfm_adapter_sql.queries`.

SQLite named queries use ``:name`` placeholders; PostgreSQL ones ``%(name)s``
(and ``%%`` for a literal ``%``).
"""

from __future__ import annotations

import contextlib
import difflib
import json
from collections.abc import Iterator, Mapping
from typing import Any

from dfm.kernel.context import site_base_dir
from dfm_adapter_sql.connections import (
    Connection,
    jsonable,
    postgres_connection,
    run_query,
    sqlite_connection,
)
from dfm_adapter_sql.errors import SqlError
from dfm_adapter_sql.queries import load_queries, named_query, parameters, quote_identifier

__all__ = ["AGGREGATE_KINDS", "Aggregate", "Query", "SqlAdapter", "SqlError"]

AGGREGATE_KINDS = ("count", "sum", "mean", "min", "max")


class SqlAdapter:
    """What both adapters share: named queries, parameters, connections and error messages."""

    name = "sql.?"

    def __init__(self, site: Any, provider: Any) -> None:
        self.site = site
        self.provider = provider
        self.queries = load_queries(self._configs(), self.error)

    # -- configuration ---------------------------------------------------------------------

    def _where(self) -> str:
        return f"{self.name} at site '{getattr(self.site, 'name', '?')}'"

    def error(self, message: str) -> SqlError:
        """An error naming this adapter and its site."""
        return SqlError(f"{self._where()}: {message}")

    def _configs(self) -> list[Mapping[str, Any]]:
        """Provider config first (it wins), then the site's."""
        found = []
        provider_config = getattr(self.provider, "config", None)
        if isinstance(provider_config, Mapping):
            found.append(provider_config)
        site_config = getattr(self.site, "config", None)
        if isinstance(site_config, Mapping):
            found.append(site_config)
        return found

    def _setting(self, key: str) -> Any:
        for config in self._configs():
            if key in config:
                return config[key]
        return None

    def named_query(self, query: Any) -> tuple[str, dict[str, Any]]:
        """The SQL and defaults of one of the site's queries."""
        return named_query(self.queries, query, self.error)

    def parameters(
        self, query: str, defaults: Mapping[str, Any], params: Any, named: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The checked parameters of one run."""
        return parameters(query, defaults, params, named, self.error)

    # -- connections -----------------------------------------------------------------------

    @contextlib.contextmanager
    def connect(self, database: Any, dsn: Any) -> Iterator[Connection]:
        """A connection to ``dsn`` (PostgreSQL) if given, else to the SQLite ``database``."""
        if dsn is not None:
            with postgres_connection(dsn, self.error) as connection:
                yield connection
            return
        if database is None:
            database = self._setting("database")
        if database is None:
            raise self.error(
                "no database: bind 'database' (a SQLite file, e.g. from-site) "
                "or 'dsn' (PostgreSQL, from-secrets)"
            )
        with sqlite_connection(database, site_base_dir(self.site), self.error) as connection:
            yield connection

    def run(
        self,
        connection: Connection,
        query: str,
        sql: str,
        params: Mapping[str, Any],
        dsn: Any,
        limit: int | None = None,
    ) -> tuple[list[str], list[Any]]:
        """Run a named query's SQL on ``connection``."""
        return run_query(connection, query, sql, params, dsn, self.error, limit)


class Query(SqlAdapter):
    """``sql.Query``: rows of one of the site's named queries, as a table (a list of dicts).

    ``query`` names a query of the site's config; parameters come from the
    query's ``defaults``, then ``params`` (a mapping), then any other keyword
    argument (what the interface entry binds, e.g. ``min_age: {from-param: min_age}``).
    ``database`` is a SQLite file (default: the ``database`` key of the site's
    config; relative paths start at the config file's folder when the runner
    provides it, else the working directory); ``dsn`` selects PostgreSQL.
    ``limit`` caps the number of rows.
    """

    name = "sql.Query"

    def body(
        self,
        query: str,
        params: Mapping[str, Any] | None = None,
        database: str | None = None,
        dsn: str | None = None,
        limit: int | None = None,
        **named: Any,
    ) -> list[dict[str, Any]]:
        """Return the rows of the named ``query`` as dicts of JSON-compatible values; raises ``SqlError``
        on a bad argument or a failing query.
        """
        sql, defaults = self.named_query(query)
        values = self.parameters(query, defaults, params, named)
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
            raise self.error(f"limit must be a non-negative integer, got {limit!r}")
        with self.connect(database, dsn) as connection:
            columns, rows = self.run(connection, query, sql, values, dsn, limit)
        return [{column: jsonable(value) for column, value in zip(columns, row, strict=True)} for row in rows]


class Aggregate(SqlAdapter):
    """``sql.Aggregate``: an aggregate of a named query's column, computed in the database.

    Returns a partial aggregate in the format of ``dfm-adapter-builtin``
    (``{"kind": "mean", "sum": ..., "count": ...}``; grouped with ``by``:
    ``{"kind": ..., "by": ..., "groups": {key: partial}}``), so that partials
    from many sites merge with ``builtin.Merge`` / ``builtin.Combine``.
    ``kind`` is one of count, sum, mean, min, max; ``column`` (required except
    for count) and ``by`` must be columns of the query's result. Other
    arguments as for ``sql.Query``.
    """

    name = "sql.Aggregate"

    def body(
        self,
        query: str,
        kind: str = "count",
        column: str | None = None,
        by: str | None = None,
        params: Mapping[str, Any] | None = None,
        database: str | None = None,
        dsn: str | None = None,
        **named: Any,
    ) -> dict[str, Any]:
        """Return the partial aggregate ``kind`` of ``column`` over the named ``query`` (per ``by`` group
        if given); raises ``SqlError`` on a bad argument or a failing query.
        """
        if kind not in AGGREGATE_KINDS:
            raise self.error(f"unknown aggregate kind {kind!r} (known: {', '.join(AGGREGATE_KINDS)})")
        if column is None and kind != "count":
            raise self.error(f"{kind} needs column: the column to aggregate")
        sql, defaults = self.named_query(query)
        values = self.parameters(query, defaults, params, named)
        inner = sql.strip().rstrip(";").strip()
        with self.connect(database, dsn) as connection:
            columns, _ = self.run(connection, query, f"SELECT * FROM ({inner}) AS dfm_q LIMIT 0", values, dsn)
            for role, name in (("column", column), ("by", by)):
                if name is not None and name not in columns:
                    hint = difflib.get_close_matches(str(name), columns, n=1)
                    raise self.error(
                        f"{role} {name!r} is not a column of query '{query}'"
                        + (f"; did you mean '{hint[0]}'?" if hint else "")
                        + f" (columns: {', '.join(columns)})"
                    )
            target = "*" if column is None else quote_identifier(column)
            measures = {
                "count": [f"COUNT({target})"],
                "sum": [f"SUM({target})"],
                "mean": [f"SUM({target})", f"COUNT({target})"],
                "min": [f"MIN({target})"],
                "max": [f"MAX({target})"],
            }[kind]
            if by is None:
                outer = f"SELECT {', '.join(measures)} FROM ({inner}) AS dfm_q"
            else:
                key = quote_identifier(by)
                outer = f"SELECT {key}, {', '.join(measures)} FROM ({inner}) AS dfm_q GROUP BY {key}"
            _, rows = self.run(connection, query, outer, values, dsn)
        if by is None:
            return _partial(kind, [jsonable(v) for v in rows[0]])
        groups = {
            _group_key(jsonable(row[0])): _partial(kind, [jsonable(v) for v in row[1:]]) for row in rows
        }
        return {"kind": kind, "by": by, "groups": {key: groups[key] for key in sorted(groups)}}


def _partial(kind: str, measures: list[Any]) -> dict[str, Any]:
    if kind == "count":
        return {"kind": "count", "count": measures[0]}
    if kind == "sum":
        return {"kind": "sum", "sum": measures[0] if measures[0] is not None else 0}
    if kind == "mean":
        return {"kind": "mean", "sum": measures[0] if measures[0] is not None else 0, "count": measures[1]}
    return {"kind": kind, kind: measures[0]}


def _group_key(value: Any) -> str:
    """Group keys as dfm-adapter-builtin writes them: strings as they are, other values as JSON."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        return repr(value)
