"""sql.Aggregate: aggregates computed in the database, as partials in dfm-adapter-builtin's format."""

from __future__ import annotations

import pytest
from dfm_adapter_sql.adapters import Aggregate, SqlError

from dfm.kernel.testing import check_adapter_class

from .conftest import count_patients


def test_contract():
    check_adapter_class(Aggregate, args=["query", "kind", "column", "by", "database", "min_age"])


@pytest.mark.parametrize(
    ("kind", "column", "expected"),
    [
        ("count", None, {"kind": "count", "count": 5}),
        ("count", "systolic_bp", {"kind": "count", "count": 4}),  # NULL skipped
        ("sum", "systolic_bp", {"kind": "sum", "sum": 535}),
        ("mean", "systolic_bp", {"kind": "mean", "sum": 535, "count": 4}),
        ("min", "age", {"kind": "min", "min": 36}),
        ("max", "name", {"kind": "max", "max": "Grace"}),
    ],
)
def test_ungrouped(site, kind, column, expected):
    assert Aggregate(site, None).body(query="patients", kind=kind, column=column) == expected


def test_grouped_and_parameterized(site):
    got = Aggregate(site, None).body(
        query="older_than", kind="mean", column="systolic_bp", by="cohort", min_age=50
    )
    assert got == {
        "kind": "mean",
        "by": "cohort",
        "groups": {
            "control": {"kind": "mean", "sum": 127, "count": 1},
            "treated": {"kind": "mean", "sum": 290, "count": 2},
        },
    }
    by_age = Aggregate(site, None).body(query="patients", kind="count", by="age")
    assert list(by_age["groups"]) == ["36", "41", "58", "72", "85"]  # non-strings as JSON, sorted


def test_empty_results(site):
    assert Aggregate(site, None).body(query="older_than", kind="sum", column="age", min_age=200) == {
        "kind": "sum",
        "sum": 0,
    }
    assert Aggregate(site, None).body(query="older_than", kind="min", column="age", min_age=200) == {
        "kind": "min",
        "min": None,
    }
    grouped = Aggregate(site, None).body(query="older_than", kind="count", by="cohort", min_age=200)
    assert grouped == {"kind": "count", "by": "cohort", "groups": {}}


def test_identifiers_must_be_columns_of_the_query(site, database):
    aggregate = Aggregate(site, None)
    with pytest.raises(
        SqlError, match=r"column 'sistolic_bp' is not a column of query 'patients'; did you mean"
    ):
        aggregate.body(query="patients", kind="mean", column="sistolic_bp")
    evil = 'age") FROM patients; DROP TABLE patients; --'
    with pytest.raises(SqlError, match="is not a column of query 'patients'"):
        aggregate.body(query="patients", kind="max", column=evil)
    with pytest.raises(SqlError, match="by 'x' is not a column"):
        aggregate.body(query="patients", kind="count", by="x")
    assert count_patients(database) == 5


def test_bad_kind_and_missing_column(site):
    with pytest.raises(SqlError, match=r"^sql.Aggregate at site 'clinic-a': unknown aggregate kind 'median'"):
        Aggregate(site, None).body(query="patients", kind="median", column="age")
    with pytest.raises(SqlError, match="mean needs column"):
        Aggregate(site, None).body(query="patients", kind="mean")
