"""A site's named queries (SQL only ever comes from the site's configuration) and their parameters."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from typing import Any

from dfm_adapter_sql.errors import SqlError

__all__ = ["load_queries", "named_query", "parameters", "quote_identifier"]

_SCALARS = (str, int, float, bool, type(None))


def quote_identifier(name: str) -> str:
    """``name`` as a double-quoted SQL identifier (standard SQL; SQLite and PostgreSQL)."""
    return '"' + name.replace('"', '""') + '"'


def load_queries(
    configs: list[Mapping[str, Any]], error: Callable[[str], SqlError]
) -> dict[str, tuple[str, dict[str, Any]]]:
    """Named queries from ``configs`` (the provider's first, which wins): name -> (SQL, defaults)."""
    queries: dict[str, tuple[str, dict[str, Any]]] = {}
    for config in reversed(configs):  # the site's, then the provider's on top
        raw = config.get("queries")
        if raw is None:
            continue
        if not isinstance(raw, Mapping):
            raise error(f"config key 'queries' must map query names to SQL, got {type(raw).__name__}")
        for query_name, spec in raw.items():
            if isinstance(spec, str):
                queries[str(query_name)] = (spec, {})
            elif isinstance(spec, Mapping) and isinstance(spec.get("sql"), str):
                defaults = spec.get("defaults") or {}
                if not isinstance(defaults, Mapping):
                    raise error(f"query '{query_name}': defaults must be a mapping")
                queries[str(query_name)] = (spec["sql"], dict(defaults))
            else:
                raise error(f"query '{query_name}' must be SQL text or a mapping with 'sql' (and 'defaults')")
    return queries


def named_query(
    queries: Mapping[str, tuple[str, dict[str, Any]]], query: Any, error: Callable[[str], SqlError]
) -> tuple[str, dict[str, Any]]:
    """The SQL and defaults of the query named ``query``, or an error with a did-you-mean."""
    if not isinstance(query, str):
        raise error(f"query must be the name of one of the site's queries, got {type(query).__name__}")
    try:
        return queries[query]
    except KeyError:
        pass
    if not queries:
        raise error(f"unknown query '{query}': the site configures no queries (config key 'queries')")
    hint = difflib.get_close_matches(query, sorted(queries), n=1)
    raise error(
        f"unknown query '{query}'"
        + (f"; did you mean '{hint[0]}'?" if hint else "")
        + f" (queries: {', '.join(sorted(queries))})"
    )


def parameters(
    query: str,
    defaults: Mapping[str, Any],
    params: Any,
    named: Mapping[str, Any],
    error: Callable[[str], SqlError],
) -> dict[str, Any]:
    """The bound parameters of one run: defaults, then ``params``, then named arguments; scalars only."""
    values = dict(defaults)
    if params is not None:
        if not isinstance(params, Mapping):
            raise error(f"query '{query}': params must be a mapping, got {type(params).__name__}")
        values.update(params)
    values.update(named)
    for key, value in values.items():
        if not isinstance(key, str) or not key.isidentifier():
            raise error(f"query '{query}': parameter names must be identifiers, got {key!r}")
        if not isinstance(value, _SCALARS):
            raise error(
                f"query '{query}': parameter '{key}' must be a string, number, boolean or null, "
                f"got {type(value).__name__}"
            )
    return values
