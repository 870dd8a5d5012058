"""Discovery advice: the decorator, the advisors' order, and the JSON-compatible form."""

from __future__ import annotations

import json

import pytest

from dfm.api import (
    AdvisedDateRange,
    AdvisedDict,
    AdvisedError,
    AdvisedLiteral,
    AdvisedOneOf,
    AdvisedSubsetOf,
    Okay,
    field_advisor,
)
from dfm.kernel.advice import AdviceError, advice_from_data, advice_to_data, advisors, decided

EVERY = [
    Okay(),
    AdvisedOneOf([1, "a", None]),
    AdvisedSubsetOf(("x", "y")),
    AdvisedLiteral({"k": [1, 2.5]}),
    AdvisedDict(
        {"a": AdvisedOneOf([1]), "b": AdvisedDict({"c": AdvisedDateRange("2024-01-01", "2024-02-01")})}
    ),
    AdvisedDateRange("2020-01-01", "2020-12-31"),
    AdvisedError("no"),
]


@pytest.mark.parametrize("advice", EVERY, ids=lambda a: type(a).__name__)
def test_every_advice_type_round_trips_through_json(advice):
    data = json.loads(json.dumps(advice_to_data(advice)))
    assert advice_from_data(data) == advice


def test_advisors_run_by_order_then_name():
    class Adapter:
        @field_advisor("b", order=2)
        def second(self, value, context):
            return Okay()

        @field_advisor("a", order=1)
        def first(self, value, context):
            return Okay()

        @field_advisor("c")
        def zeroth(self, value, context):
            return Okay()

        def body(self):  # not an advisor
            return None

    assert [field for field, _ in advisors(Adapter())] == ["c", "a", "b"]
    assert advisors(object()) == []


def test_decorator_checks_its_arguments():
    with pytest.raises(TypeError):
        field_advisor("")
    with pytest.raises(TypeError):
        field_advisor("x", order="1")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bad",
    [
        "okay",
        {"kind": "nope"},
        {"kind": "one_of"},
        {"kind": "one_of", "values": "abc"},
        {"kind": "okay", "extra": 1},
        {"kind": "dict", "fields": {"a": {"kind": "error", "message": 3}}},
        {"kind": "date_range", "start": 1, "end": "x"},
        {"kind": "literal", "value": {1: 2}},
    ],
)
def test_malformed_advice_data_is_refused(bad):
    with pytest.raises(AdviceError):
        advice_from_data(bad)


def test_advice_must_be_json_compatible_and_bounded():
    with pytest.raises(AdviceError, match="not one of"):
        advice_to_data("free text")
    with pytest.raises(AdviceError, match="not JSON-compatible"):
        advice_to_data(AdvisedOneOf([object()]))
    with pytest.raises(AdviceError, match="non-finite"):
        advice_to_data(AdvisedLiteral(float("nan")))
    deep: list = []
    for _ in range(60):
        deep = [deep]
    with pytest.raises(AdviceError, match="deeper"):
        advice_to_data(AdvisedLiteral(deep))


def test_decided():
    assert decided(AdvisedLiteral(3)) == (True, 3)
    assert decided(AdvisedOneOf(["only"])) == (True, "only")
    assert decided(AdvisedOneOf([1, 2]))[0] is False
    assert decided(Okay())[0] is False
