"""Connections to a site's database: SQLite files (read-only) and PostgreSQL sessions (read-only)."""

from __future__ import annotations

import contextlib
import datetime
import decimal
import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from dfm_adapter_sql.errors import SqlError

__all__ = ["Connection", "jsonable", "postgres_connection", "run_query", "sqlite_connection"]

_CONNECT_TIMEOUT = 10  # seconds, PostgreSQL


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


class Connection:
    """One connection, the same small interface for both drivers."""

    def __init__(self, raw: Any, driver: str) -> None:
        self.raw = raw
        self.driver = driver

    def run(
        self, sql: str, params: Mapping[str, Any], limit: int | None = None
    ) -> tuple[list[str], list[Any]]:
        """Column names and rows (at most ``limit``) of one statement."""
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


@contextlib.contextmanager
def sqlite_connection(database: Any, base: Path, error: Callable[[str], SqlError]) -> Iterator[Connection]:
    """A read-only connection to a SQLite file (a relative path starts at ``base``)."""
    if not isinstance(database, (str, os.PathLike)) or not str(database):
        raise error(f"database must be a file path, got {type(database).__name__}")
    path = Path(database)
    if not path.is_absolute():
        path = base / path
    if not path.is_file():
        shown = f"'{database}'" + ("" if Path(database).is_absolute() else f" (resolved to {path})")
        raise error(f"database file {shown} does not exist")
    try:
        raw = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise error(f"cannot open database file '{database}': {exc}") from None
    try:
        yield Connection(raw, "sqlite")
    finally:
        raw.close()


@contextlib.contextmanager
def postgres_connection(dsn: Any, error: Callable[[str], SqlError]) -> Iterator[Connection]:
    """A read-only PostgreSQL session; a failure never repeats the driver's message (it may hold the DSN)."""
    if not isinstance(dsn, str) or not dsn.strip():
        raise error("dsn must be a non-empty connection string (from the site's secrets)")
    try:
        import psycopg
    except ImportError:
        raise error(
            "PostgreSQL needs psycopg, which is not installed: pip install 'dfm-adapter-sql[postgres]'"
        ) from None
    try:
        raw = psycopg.connect(dsn, connect_timeout=_CONNECT_TIMEOUT)
    except Exception as exc:
        # The driver's message may quote the DSN (host, user, even a malformed password): drop it.
        raise error(
            f"cannot connect to PostgreSQL ({type(exc).__name__}); the driver's message is withheld "
            "because it may contain the DSN: check the site's 'dsn' secret and the server"
        ) from None
    try:
        raw.read_only = True
        yield Connection(raw, "postgres")
    finally:
        raw.close()


def run_query(
    connection: Connection,
    query: str,
    sql: str,
    params: Mapping[str, Any],
    dsn: Any,
    error: Callable[[str], SqlError],
    limit: int | None = None,
) -> tuple[list[str], list[Any]]:
    """Run ``sql``; a driver error becomes a :class:`SqlError` naming the query, with the DSN masked."""
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
        raise error(f"query '{query}' failed: {type(exc).__name__}: {text}") from None
