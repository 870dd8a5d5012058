"""sql.Query against a real SQLite database: named queries, bound parameters, errors."""

from __future__ import annotations

import datetime
import decimal
import os
import uuid
from pathlib import Path

import pytest
from dfm_adapter_sql.adapters import Query, SqlError
from dfm_adapter_sql.connections import jsonable

from dfm.kernel.errors import DfmError
from dfm.kernel.testing import check_adapter_class

from .conftest import QUERIES, FakeProvider, FakeSite, count_patients

INJECTION = "x'; DROP TABLE patients; --"


def test_contract():
    check_adapter_class(Query, args=["query", "database", "min_age"])
    check_adapter_class(Query, args=["query", "params", "dsn", "limit"])


def test_rows_are_a_table(site):
    rows = Query(site, None).body(query="patients")
    assert rows[0] == {"id": 1, "name": "Ada", "age": 36, "cohort": "control", "systolic_bp": 118}
    assert [r["id"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[2]["systolic_bp"] is None


def test_parameters_are_bound_from_keywords_params_and_defaults(site):
    query = Query(site, None)
    assert [r["id"] for r in query.body(query="older_than")] == [1, 2, 3, 4, 5]  # default min_age 0
    assert [r["id"] for r in query.body(query="older_than", min_age=60)] == [2, 4]
    assert [r["id"] for r in query.body(query="older_than", params={"min_age": 70})] == [2, 4]
    assert query.body(query="by_name", name="Grace") == [{"id": 2, "name": "Grace"}]
    assert len(query.body(query="patients", limit=2)) == 2
    assert query.body(query="patients", limit=0) == []


def test_injection_through_a_parameter_is_just_a_value(site, database):
    before = count_patients(database)
    assert Query(site, None).body(query="by_name", name=INJECTION) == []
    assert Query(site, None).body(query="by_name", params={"name": INJECTION}) == []
    assert count_patients(database) == before == 5


def test_sql_text_never_comes_from_the_pipeline(site, database):
    query = Query(site, None)
    with pytest.raises(SqlError, match=r"unknown query 'SELECT \* FROM patients'"):
        query.body(query="SELECT * FROM patients")
    with pytest.raises(SqlError, match=r"unknown query 'x'; DROP TABLE patients; --'"):
        query.body(query=INJECTION)
    # an extra keyword is a bound parameter, never SQL
    assert query.body(query="by_name", name="Ada", sql="DROP TABLE patients") == [{"id": 1, "name": "Ada"}]
    assert count_patients(database) == 5


def test_connections_are_read_only(site, database):
    with pytest.raises(SqlError, match=r"query 'drop' failed: OperationalError: .*readonly"):
        Query(site, None).body(query="drop")
    assert count_patients(database) == 5


def test_unknown_query_suggests_the_nearest_name(site):
    with pytest.raises(
        SqlError,
        match=r"^sql.Query at site 'clinic-a': unknown query 'patient'; did you mean 'patients'\? "
        r"\(queries: broken, by_name, drop, older_than, patients\)$",
    ):
        Query(site, None).body(query="patient")


def test_missing_database_file_names_site_and_adapter(tmp_path):
    site = FakeSite(name="clinic-b", config={"database": str(tmp_path / "nope.sqlite"), "queries": QUERIES})
    with pytest.raises(SqlError) as caught:
        Query(site, None).body(query="patients")
    message = str(caught.value)
    assert message.startswith("sql.Query at site 'clinic-b': database file '")
    assert message.endswith("nope.sqlite' does not exist")
    assert isinstance(caught.value, DfmError)


def test_query_error_names_site_adapter_and_query(site):
    with pytest.raises(
        SqlError,
        match=r"^sql.Query at site 'clinic-a': query 'broken' failed: OperationalError: no such column",
    ):
        Query(site, None).body(query="broken")


def test_bad_values_and_configs(site, database):
    with pytest.raises(
        SqlError, match="parameter 'name' must be a string, number, boolean or null, got list"
    ):
        Query(site, None).body(query="by_name", name=["a"])
    with pytest.raises(SqlError, match="limit must be a non-negative integer"):
        Query(site, None).body(query="patients", limit=-1)
    with pytest.raises(SqlError, match="the site configures no queries"):
        Query(FakeSite(config={"database": str(database)}), None).body(query="patients")
    with pytest.raises(SqlError, match="config key 'queries' must map query names to SQL, got list"):
        Query(FakeSite(config={"queries": ["SELECT 1"]}), None)
    with pytest.raises(SqlError, match="no database: bind 'database'"):
        Query(FakeSite(config={"queries": QUERIES}), None).body(query="patients")


def test_database_binding_wins_over_the_site_config(site, tmp_path):
    with pytest.raises(SqlError, match=r"other\.sqlite' does not exist"):
        Query(site, None).body(query="patients", database=str(tmp_path / "other.sqlite"))


def test_provider_queries_override_the_site(site):
    provider = FakeProvider("research", {"queries": {"patients": "SELECT id FROM patients WHERE id = 1"}})
    assert Query(site, provider).body(query="patients") == [{"id": 1}]
    assert Query(site, provider).body(query="by_name", name="Alan") == [{"id": 3, "name": "Alan"}]


def test_relative_database_paths(database, monkeypatch):
    relative = FakeSite(config={"database": database.name, "queries": QUERIES})
    monkeypatch.chdir(database.parent)
    assert len(Query(relative, None).body(query="patients")) == 5  # against the working directory

    @__import__("attrs").frozen
    class SiteWithBase:
        name: str
        config: dict
        base_dir: Path

    monkeypatch.chdir(Path(os.sep))
    with_base = SiteWithBase("clinic-a", relative.config, database.parent)
    assert len(Query(with_base, None).body(query="patients")) == 5  # against the config's folder
    with pytest.raises(SqlError, match=r"database file 'clinic.sqlite' \(resolved to .*\) does not exist"):
        Query(relative, None).body(query="patients")


def test_postgres_without_psycopg_explains_the_extra(site, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "psycopg", None)  # import fails
    with pytest.raises(SqlError, match=r"pip install 'dfm-adapter-sql\[postgres\]'"):
        Query(site, None).body(query="patients", dsn="postgresql://u:p@localhost/db")


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://dfm_user:hunter2-s3cret@127.0.0.1:1/clinic?connect_timeout=2",
        "host=127.0.0.1 port=1 user=dfm_user password=hunter2-s3cret dbname=clinic connect_timeout=2",
        "not a dsn hunter2-s3cret",
    ],
)
def test_bad_dsn_message_holds_no_secret(site, dsn):
    pytest.importorskip("psycopg")
    with pytest.raises(SqlError) as caught:
        Query(site, None).body(query="patients", dsn=dsn)
    message = str(caught.value)
    assert message.startswith("sql.Query at site 'clinic-a': cannot connect to PostgreSQL (")
    for secret in ("hunter2", "dfm_user", "127.0.0.1", dsn):
        assert secret not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_driver_values_become_json_compatible():
    assert jsonable(decimal.Decimal("12")) == 12 and isinstance(jsonable(decimal.Decimal("12")), int)
    assert jsonable(decimal.Decimal("2.5")) == 2.5
    assert jsonable(datetime.date(2024, 2, 29)) == "2024-02-29"
    assert jsonable(datetime.datetime(2024, 2, 29, 12, 30)) == "2024-02-29T12:30:00"
    assert jsonable(datetime.timedelta(minutes=2)) == 120.0
    assert jsonable(uuid.UUID(int=1)) == "00000000-0000-0000-0000-000000000001"
    assert jsonable(memoryview(b"ab")) == b"ab"
    assert jsonable("x") == "x"
