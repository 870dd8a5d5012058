"""dfm-adapter-sql's hook implementations (entry point ``dfm-adapter-sql``).

Only records with lazy targets: nothing here imports sqlite3 or psycopg.
"""

from __future__ import annotations

from collections.abc import Iterator

from dfm.kernel import AdapterEntry, hookimpl


# docs-start: records
@hookimpl
def dfm_adapters() -> Iterator[AdapterEntry]:
    """The adapters ``sql.Query`` and ``sql.Aggregate``."""
    yield AdapterEntry(
        "sql.Query",
        "dfm_adapter_sql.adapters:Query",
        summary="Runs one of the site's named SQL queries with bound parameters; returns rows.",
    )
    yield AdapterEntry(
        "sql.Aggregate",
        "dfm_adapter_sql.adapters:Aggregate",
        summary="Count, sum, mean, min or max of a named query's column, as a partial aggregate.",
    )


# docs-end: records
