"""sql.Query and sql.Aggregate against a real PostgreSQL server.

The server is ``DFM_TEST_POSTGRES_DSN`` when set (a scratch database, e.g. a CI
service container), else a throwaway server this module starts when
PostgreSQL's server programs are installed (:mod:`.postgres_server`); the
tests skip only when neither is possible. Each test creates and drops its
own uniquely named table.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from dfm_adapter_sql.adapters import Aggregate, Query, SqlError

from .conftest import PATIENTS, FakeSite
from .postgres_server import postgres_server


@pytest.fixture(scope="module")
def dsn() -> Iterator[str]:
    pytest.importorskip("psycopg")
    given = os.environ.get("DFM_TEST_POSTGRES_DSN")
    if given:
        yield given
        return
    with postgres_server() as started:
        if started is None:
            pytest.skip("no PostgreSQL: set DFM_TEST_POSTGRES_DSN or install PostgreSQL's server programs")
        yield started


@pytest.fixture
def table(dsn: str) -> Iterator[str]:
    import psycopg

    name = f"dfm_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dsn, autocommit=True) as db:
        db.execute(
            f"CREATE TABLE {name} (id INTEGER PRIMARY KEY, name TEXT, age INTEGER, cohort TEXT, "
            "systolic_bp NUMERIC(5, 1), seen DATE DEFAULT DATE '2024-02-29')"
        )
        with db.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {name} (id, name, age, cohort, systolic_bp) VALUES (%s, %s, %s, %s, %s)",
                PATIENTS,
            )
    try:
        yield name
    finally:
        with psycopg.connect(dsn, autocommit=True) as db:
            db.execute(f"DROP TABLE IF EXISTS {name}")


@pytest.fixture
def site(table: str) -> FakeSite:
    return FakeSite(
        config={
            "queries": {
                "patients": f"SELECT * FROM {table} ORDER BY id",
                "by_name": f"SELECT id, name FROM {table} WHERE name = %(name)s",
                "like": f"SELECT id FROM {table} WHERE name LIKE 'A%%' ORDER BY id",
                "drop": f"DROP TABLE {table}",
            }
        }
    )


def count(dsn: str, table: str) -> int:
    import psycopg

    with psycopg.connect(dsn) as db:
        return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def test_rows_are_json_compatible(site, dsn):
    rows = Query(site, None).body(query="patients", dsn=dsn)
    assert rows[0] == {
        "id": 1,
        "name": "Ada",
        "age": 36,
        "cohort": "control",
        "systolic_bp": 118,  # NUMERIC -> int when integral
        "seen": "2024-02-29",  # DATE -> ISO text
    }
    assert Query(site, None).body(query="like", dsn=dsn) == [{"id": 1}, {"id": 3}]


def test_parameters_are_bound_and_injection_is_inert(site, table, dsn):
    query = Query(site, None)
    assert query.body(query="by_name", name="Grace", dsn=dsn) == [{"id": 2, "name": "Grace"}]
    assert query.body(query="by_name", name=f"x'; DROP TABLE {table}; --", dsn=dsn) == []
    assert count(dsn, table) == 5


def test_sessions_are_read_only(site, table, dsn):
    with pytest.raises(SqlError, match=r"query 'drop' failed: ReadOnlySqlTransaction"):
        Query(site, None).body(query="drop", dsn=dsn)
    assert count(dsn, table) == 5


def test_aggregate_in_postgres(site, dsn):
    got = Aggregate(site, None).body(
        query="patients", kind="mean", column="systolic_bp", by="cohort", dsn=dsn
    )
    assert got == {
        "kind": "mean",
        "by": "cohort",
        "groups": {
            "control": {"kind": "mean", "sum": 245, "count": 2},
            "treated": {"kind": "mean", "sum": 290, "count": 2},
        },
    }


def test_failed_connection_message_holds_no_secret(site, dsn):
    separator = "&" if "?" in dsn else "?"
    wrong = f"{dsn}{separator}user=nobody_dfm&password=hunter2-s3cret&dbname=no_such_db_dfm"
    with pytest.raises(SqlError) as caught:
        Query(site, None).body(query="patients", dsn=wrong)
    message = str(caught.value)
    assert message.startswith("sql.Query at site 'clinic-a': cannot connect to PostgreSQL (OperationalError)")
    for secret in ("hunter2", "nobody_dfm", "no_such_db_dfm", wrong):
        assert secret not in message
