"""Partial aggregates: combining the partials of any split equals computing over the whole."""

from __future__ import annotations

import json
import math

import pytest
from dfm_adapter_builtin.aggregates import (
    KINDS,
    AggregateError,
    combine,
    empty,
    finalize,
    group_key,
    merge,
    partial,
)
from hypothesis import given
from hypothesis import strategies as st

EDGES = [-50, -10, 0, 10, 25, 50]
ints = st.one_of(st.none(), st.integers(min_value=-60, max_value=60))
floats = st.one_of(st.none(), st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
cohorts = st.sampled_from(["a", "b", "c", 1, None, True])


def splits(values):
    """A strategy for ``values`` cut into consecutive (possibly empty) parts."""
    n = len(values)
    cuts = st.lists(st.integers(min_value=0, max_value=n), max_size=6).map(sorted)
    return cuts.map(lambda c: [values[a:b] for a, b in zip([0, *c], [*c, n], strict=True)])


def direct(kind, values):
    """What each kind means, computed naively over the whole."""
    present = [v for v in values if v is not None]
    if kind == "count":
        return len(present)
    if kind == "sum":
        return sum(present)
    if kind == "mean":
        return sum(present) / len(present) if present else None
    if kind == "min":
        return min(present) if present else None
    if kind == "max":
        return max(present) if present else None
    counts = [0] * (len(EDGES) - 1)
    outside = 0
    for v in present:
        for i in range(len(EDGES) - 1):
            if EDGES[i] <= v < EDGES[i + 1] or (i == len(EDGES) - 2 and v == EDGES[-1]):
                counts[i] += 1
                break
        else:
            outside += 1
    return {"edges": EDGES, "counts": counts, "outside": outside}


def part(kind, values, **kwargs):
    return partial(kind, values, edges=EDGES if kind == "histogram" else None, **kwargs)


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data())
def test_combining_any_split_equals_the_whole_for_integers(kind, data):
    values = data.draw(st.lists(ints, max_size=40))
    parts = data.draw(splits(values))
    assert sum(map(len, parts)) == len(values)
    whole = finalize(part(kind, values))
    assert whole == direct(kind, values)
    assert combine([part(kind, p) for p in parts]) == whole
    assert combine([part(kind, p) for p in reversed(parts)]) == whole  # order does not matter


@pytest.mark.parametrize("kind", ["sum", "mean", "min", "max"])
@given(data=st.data())
def test_combining_any_split_of_floats_is_close_to_the_whole(kind, data):
    values = data.draw(st.lists(floats, max_size=40))
    parts = data.draw(splits(values))
    whole = finalize(part(kind, values))
    combined = combine([part(kind, p) for p in parts])
    if whole is None:
        assert combined is None
    else:
        assert math.isclose(combined, whole, rel_tol=1e-9, abs_tol=1e-3)


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data())
def test_grouped_partials_combine_per_group(kind, data):
    rows = data.draw(st.lists(st.fixed_dictionaries({"g": cohorts, "x": ints}), max_size=30))
    parts = data.draw(splits(rows))
    combined = combine([part(kind, p, field="x", by="g") for p in parts])
    expected = {}
    for key in sorted({group_key(r["g"]) for r in rows}):
        expected[key] = direct(kind, [r["x"] for r in rows if group_key(r["g"]) == key])
    assert combined == expected
    assert json.loads(json.dumps(part(kind, rows, field="x", by="g"))) == part(kind, rows, field="x", by="g")


@given(st.lists(st.lists(ints, max_size=10), min_size=3, max_size=3))
def test_merge_is_associative_and_commutative(chunks):
    a, b, c = (part("mean", chunk) for chunk in chunks)
    assert merge(merge(a, b), c) == merge(a, merge(b, c))
    assert merge(a, b) == merge(b, a)


def test_partials_are_json_compatible_and_documented_shapes():
    rows = [{"age": 30, "sex": "F"}, {"age": 70, "sex": "M"}, {"age": None, "sex": "F"}]
    assert partial("count", rows) == {"kind": "count", "count": 3}
    assert partial("mean", rows, field="age") == {"kind": "mean", "sum": 100, "count": 2}
    assert partial("min", rows, field="sex") == {"kind": "min", "min": "F"}
    assert partial("count", rows, by="sex") == {
        "kind": "count",
        "by": "sex",
        "groups": {"F": {"kind": "count", "count": 2}, "M": {"kind": "count", "count": 1}},
    }
    assert finalize(partial("mean", [])) is None
    assert finalize(partial("max", [])) is None
    assert empty("histogram", [0, 1]) == {"kind": "histogram", "edges": [0, 1], "counts": [0], "outside": 0}
    hist = finalize(partial("histogram", [0, 1, 1.5, 2, 3, -1], edges=[0, 1, 2]))
    assert hist == {"edges": [0, 1, 2], "counts": [1, 3], "outside": 2}


def test_group_keys():
    assert [group_key(v) for v in ("x", 1, 2.5, None, True)] == ["x", "1", "2.5", "null", "true"]


def test_misuse_is_reported():
    with pytest.raises(AggregateError, match="unknown aggregate kind 'median'"):
        partial("median", [1])
    with pytest.raises(AggregateError, match="grouping by 'g' needs field"):
        partial("mean", [{"g": 1}], by="g")
    with pytest.raises(AggregateError, match="data must be a list of rows or values, got str"):
        partial("count", "abc")
    with pytest.raises(AggregateError, match="min needs all numbers or all strings, got int, str"):
        partial("min", [1, "a"])
    with pytest.raises(AggregateError, match="different edges"):
        merge(partial("histogram", [1], edges=[0, 2]), partial("histogram", [1], edges=[0, 3]))
    with pytest.raises(AggregateError, match="cannot merge a partial grouped by 'g' with one ungrouped"):
        merge(partial("count", [{"g": 1}], by="g"), partial("count", [1]))
    with pytest.raises(AggregateError, match="a mean partial lacks count"):
        finalize({"kind": "mean", "sum": 3})
    with pytest.raises(AggregateError, match="a histogram needs at least two edges"):
        partial("histogram", [1], edges=[0])
