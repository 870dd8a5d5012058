"""The non-aggregate adapters and the adapter wrappers of the aggregates."""

from __future__ import annotations

import pytest
from dfm_adapter_builtin import adapters
from dfm_adapter_builtin.aggregates import AggregateError

from dfm.kernel.errors import DfmError
from dfm.kernel.testing import check_adapter_class

from .conftest import FakeProvider, FakeSite

ROWS = [
    {"id": 1, "age": 34, "cohort": "control", "systolic_bp": 121},
    {"id": 2, "age": 61, "cohort": "treated", "systolic_bp": 142},
    {"id": 3, "age": 47, "cohort": "control", "systolic_bp": None},
]


@pytest.mark.parametrize(
    ("cls", "args"),
    [
        (adapters.Identity, ["value"]),
        (adapters.Const, ["value"]),
        (adapters.Echo, []),
        (adapters.Flatten, ["items"]),
        (adapters.MapFields, ["rows", "fields", "strict"]),
        (adapters.Count, ["data", "field", "by"]),
        (adapters.Mean, ["data", "field"]),
        (adapters.Histogram, ["data", "edges", "field", "by"]),
        (adapters.Merge, ["left", "right"]),
        (adapters.Finalize, ["partial"]),
        (adapters.Combine, ["partials"]),
    ],
)
def test_adapter_contract(cls, args):
    check_adapter_class(cls, args=args)


def test_identity_const_and_echo(site):
    assert adapters.Identity(site, None).body(value=[1, {"a": 2}]) == [1, {"a": 2}]
    assert adapters.Const(site, None).body(value="Hello") == "Hello"
    assert adapters.Const(site, None).body() is None
    echoed = adapters.Echo(FakeSite(name="beta"), FakeProvider("desk")).body(value=3)
    assert echoed == {"site": "beta", "provider": "desk", "value": 3}
    assert adapters.Echo(site, None).body() == {"site": "alpha", "provider": None, "value": None}


def test_flatten(site):
    assert adapters.Flatten(site, None).body(items=[[1, 2], [], [3], 4, (5,)]) == [1, 2, 3, 4, 5]
    with pytest.raises(DfmError, match=r"builtin.Flatten: items must be a list, got dict"):
        adapters.Flatten(site, None).body(items={"a": 1})


def test_map_fields_selects_and_renames(site):
    mapper = adapters.MapFields(site, None)
    assert mapper.body(rows=ROWS[:2], fields=["cohort", "id"]) == [
        {"cohort": "control", "id": 1},
        {"cohort": "treated", "id": 2},
    ]
    assert list(mapper.body(rows=ROWS[:1], fields=["cohort", "id"])[0]) == ["cohort", "id"]
    assert mapper.body(rows=ROWS[:1], fields={"systolic_bp": "sbp"}) == [{"sbp": 121}]


def test_map_fields_missing_field(site):
    mapper = adapters.MapFields(site, None)
    rows = [{"a": 1}, {"b": 2}]
    with pytest.raises(DfmError, match=r"builtin.MapFields: row 1 has no field 'a' \(fields: b\)"):
        mapper.body(rows=rows, fields=["a"])
    assert mapper.body(rows=rows, fields=["a"], strict=False, default=0) == [{"a": 1}, {"a": 0}]
    with pytest.raises(DfmError, match="fields must be a list of names or a mapping"):
        mapper.body(rows=rows, fields="a")
    with pytest.raises(DfmError, match="row 0 is a int, not a mapping"):
        mapper.body(rows=[1], fields=["a"])


def test_aggregate_adapters_produce_partials(site):
    assert adapters.Count(site, None).body(data=ROWS) == {"kind": "count", "count": 3}
    assert adapters.Count(site, None).body(data=ROWS, field="systolic_bp") == {"kind": "count", "count": 2}
    assert adapters.Sum(site, None).body(data=ROWS, field="systolic_bp") == {"kind": "sum", "sum": 263}
    assert adapters.Min(site, None).body(data=ROWS, field="age") == {"kind": "min", "min": 34}
    assert adapters.Max(site, None).body(data=[3, 9, 1]) == {"kind": "max", "max": 9}
    mean = adapters.Mean(site, None).body(data=ROWS, field="systolic_bp", by="cohort")
    assert mean == {
        "kind": "mean",
        "by": "cohort",
        "groups": {
            "control": {"kind": "mean", "sum": 121, "count": 1},
            "treated": {"kind": "mean", "sum": 142, "count": 1},
        },
    }
    hist = adapters.Histogram(site, None).body(data=ROWS, field="age", edges=[0, 40, 65, 120])
    assert hist == {"kind": "histogram", "edges": [0, 40, 65, 120], "counts": [1, 2, 0], "outside": 0}


def test_merge_finalize_combine(site):
    left = adapters.Mean(site, None).body(data=[1, 2, 3])
    right = adapters.Mean(site, None).body(data=[10])
    merged = adapters.Merge(site, None).body(left=left, right=right)
    assert merged == {"kind": "mean", "sum": 16, "count": 4}
    assert adapters.Finalize(site, None).body(partial=merged) == 4.0
    assert adapters.Combine(site, None).body(partials=[left, right]) == 4.0


def test_errors_name_the_adapter(site):
    typo = r"^builtin.Mean: no row has field 'sistolic_bp'; did you mean 'systolic_bp'\?"
    with pytest.raises(AggregateError, match=typo):
        adapters.Mean(site, None).body(data=ROWS, field="sistolic_bp")
    with pytest.raises(AggregateError, match=r"^builtin.Sum: sum needs numbers, got 'x'"):
        adapters.Sum(site, None).body(data=[1, "x"])
    with pytest.raises(AggregateError, match=r"^builtin.Merge: cannot merge a 'mean' partial with a 'count'"):
        adapters.Merge(site, None).body(
            left={"kind": "mean", "sum": 1, "count": 1}, right={"kind": "count", "count": 1}
        )
    with pytest.raises(AggregateError, match=r"^builtin.Combine: needs at least one partial"):
        adapters.Combine(site, None).body(partials=[])
    with pytest.raises(AggregateError, match=r"^builtin.Finalize: expected a partial aggregate"):
        adapters.Finalize(site, None).body(partial={"rows": [1, 2]})
    with pytest.raises(AggregateError, match=r"^builtin.Histogram: edges must be strictly increasing"):
        adapters.Histogram(site, None).body(data=[1], edges=[0, 5, 5])
    assert isinstance(AggregateError("x"), DfmError)
