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

SQLite named queries use ``:name`` placeholders; PostgreSQL ones ``%(name)s``
(and ``%%`` for a literal ``%``).
"""

from __future__ import annotations

import contextlib
import datetime
import decimal
import difflib
import json
import os
import sqlite3
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from dfm.kernel.errors import DfmError

__all__ = ["AGGREGATE_KINDS", "Aggregate", "Query", "SqlError", "base_dir", "jsonable", "quote_identifier"]

AGGREGATE_KINDS = ("count", "sum", "mean", "min", "max")
_SCALARS = (str, int, float, bool, type(None))
_CONNECT_TIMEOUT = 10  # seconds, PostgreSQL


class SqlError(DfmError):
    """A SQL adapter failed; the message names the adapter and the site, and holds no secret."""


def quote_identifier(name: str) -> str:
    """``name`` as a double-quoted SQL identifier (standard SQL; SQLite and PostgreSQL)."""
    return '"' + name.replace('"', '""') + '"'


def jsonable(value: Any) -> Any:
    """A driver value as a JSON-compatible one (bytes stay bytes: the safe codec carries them)."""
    if isinstance(value, decimal.Decimal):
        if value.is_finite() and value == value.to_integral_value():
            return int(value)
        return float(value)
    if isinstance(value, (datetime.date, datetime.time)):  # datetime is a date
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, memoryview):
        return value.tobytes()
    return value


def base_dir(site: Any) -> Path:
    """Where a site's relative paths start: its config file's folder when the runner says, else cwd."""
    for attribute in ("base_dir", "config_dir"):
        folder = getattr(site, attribute, None)
        if folder:
            return Path(folder)
    return Path.cwd()


class _Connection:
    """One connection, the same small interface for both drivers."""

    def __init__(self, raw: Any, driver: str) -> None:
        self.raw = raw
        self.driver = driver

    def run(
        self, sql: str, params: Mapping[str, Any], limit: int | None = None
    ) -> tuple[list[str], list[Any]]:
        cursor = self.raw.cursor()
        try:
            # Always a mapping, even empty: psycopg then always reads %(name)s and %% the same way.
            cursor.execute(sql, dict(params))
            if cursor.description is None:
                return [], []
            columns = [getattr(d, "name", None) or d[0] for d in cursor.description]
            if limit is None:
                return columns, cursor.fetchall()
            # fetchmany(0) means "the default batch size" to some drivers
            return columns, cursor.fetchmany(limit) if limit else []
        finally:
            cursor.close()


class _SqlAdapter:
    """What both adapters share: named queries, parameters, connections and error messages."""

    name = "sql.?"

    def __init__(self, site: Any, provider: Any) -> None:
        self.site = site
        self.provider = provider
        self.queries = self._load_queries()

    # -- configuration ---------------------------------------------------------------------

    def _where(self) -> str:
        return f"{self.name} at site '{getattr(self.site, 'name', '?')}'"

    def error(self, message: str) -> SqlError:
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

    def _load_queries(self) -> dict[str, tuple[str, dict[str, Any]]]:
        queries: dict[str, tuple[str, dict[str, Any]]] = {}
        for config in reversed(self._configs()):  # the site's, then the provider's on top
            raw = config.get("queries")
            if raw is None:
                continue
            if not isinstance(raw, Mapping):
                raise self.error(
                    f"config key 'queries' must map query names to SQL, got {type(raw).__name__}"
                )
            for query_name, spec in raw.items():
                if isinstance(spec, str):
                    queries[str(query_name)] = (spec, {})
                elif isinstance(spec, Mapping) and isinstance(spec.get("sql"), str):
                    defaults = spec.get("defaults") or {}
                    if not isinstance(defaults, Mapping):
                        raise self.error(f"query '{query_name}': defaults must be a mapping")
                    queries[str(query_name)] = (spec["sql"], dict(defaults))
                else:
                    raise self.error(
                        f"query '{query_name}' must be SQL text or a mapping with 'sql' (and 'defaults')"
                    )
        return queries

    def named_query(self, query: Any) -> tuple[str, dict[str, Any]]:
        if not isinstance(query, str):
            raise self.error(
                f"query must be the name of one of the site's queries, got {type(query).__name__}"
            )
        try:
            return self.queries[query]
        except KeyError:
            pass
        if not self.queries:
            raise self.error(
                f"unknown query '{query}': the site configures no queries (config key 'queries')"
            )
        hint = difflib.get_close_matches(query, sorted(self.queries), n=1)
        raise self.error(
            f"unknown query '{query}'"
            + (f"; did you mean '{hint[0]}'?" if hint else "")
            + f" (queries: {', '.join(sorted(self.queries))})"
        )

    def parameters(
        self, query: str, defaults: Mapping[str, Any], params: Any, named: Mapping[str, Any]
    ) -> dict[str, Any]:
        values = dict(defaults)
        if params is not None:
            if not isinstance(params, Mapping):
                raise self.error(f"query '{query}': params must be a mapping, got {type(params).__name__}")
            values.update(params)
        values.update(named)
        for key, value in values.items():
            if not isinstance(key, str) or not key.isidentifier():
                raise self.error(f"query '{query}': parameter names must be identifiers, got {key!r}")
            if not isinstance(value, _SCALARS):
                raise self.error(
                    f"query '{query}': parameter '{key}' must be a string, number, boolean or null, "
                    f"got {type(value).__name__}"
                )
        return values

    # -- connections -----------------------------------------------------------------------

    @contextlib.contextmanager
    def connect(self, database: Any, dsn: Any) -> Iterator[_Connection]:
        if dsn is not None:
            with self._postgres(dsn) as connection:
                yield connection
            return
        if database is None:
            database = self._setting("database")
        if database is None:
            raise self.error(
                "no database: bind 'database' (a SQLite file, e.g. from-site) "
                "or 'dsn' (PostgreSQL, from-secrets)"
            )
        with self._sqlite(database) as connection:
            yield connection

    @contextlib.contextmanager
    def _sqlite(self, database: Any) -> Iterator[_Connection]:
        if not isinstance(database, (str, os.PathLike)) or not str(database):
            raise self.error(f"database must be a file path, got {type(database).__name__}")
        path = Path(database)
        if not path.is_absolute():
            path = base_dir(self.site) / path
        if not path.is_file():
            shown = f"'{database}'" + ("" if Path(database).is_absolute() else f" (resolved to {path})")
            raise self.error(f"database file {shown} does not exist")
        try:
            raw = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
        except sqlite3.Error as exc:
            raise self.error(f"cannot open database file '{database}': {exc}") from None
        try:
            yield _Connection(raw, "sqlite")
        finally:
            raw.close()

    @contextlib.contextmanager
    def _postgres(self, dsn: Any) -> Iterator[_Connection]:
        if not isinstance(dsn, str) or not dsn.strip():
            raise self.error("dsn must be a non-empty connection string (from the site's secrets)")
        try:
            import psycopg
        except ImportError:
            raise self.error(
                "PostgreSQL needs psycopg, which is not installed: pip install 'dfm-adapter-sql[postgres]'"
            ) from None
        try:
            raw = psycopg.connect(dsn, connect_timeout=_CONNECT_TIMEOUT)
        except Exception as exc:
            # The driver's message may quote the DSN (host, user, even a malformed password): drop it.
            raise self.error(
                f"cannot connect to PostgreSQL ({type(exc).__name__}); the driver's message is withheld "
                "because it may contain the DSN: check the site's 'dsn' secret and the server"
            ) from None
        try:
            raw.read_only = True
            yield _Connection(raw, "postgres")
        finally:
            raw.close()

    def run(
        self,
        connection: _Connection,
        query: str,
        sql: str,
        params: Mapping[str, Any],
        dsn: Any,
        limit: int | None = None,
    ) -> tuple[list[str], list[Any]]:
        try:
            return connection.run(sql, params, limit)
        except Exception as exc:
            driver_error = (
                isinstance(exc, sqlite3.Error)
                if connection.driver == "sqlite"
                else type(exc).__module__.startswith("psycopg")
            )
            if not driver_error:
                raise
            text = str(exc)
            if isinstance(dsn, str) and dsn:
                text = text.replace(dsn, "***")
            raise self.error(f"query '{query}' failed: {type(exc).__name__}: {text}") from None


class Query(_SqlAdapter):
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


class Aggregate(_SqlAdapter):
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
