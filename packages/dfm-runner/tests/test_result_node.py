"""``Result.node`` (the Yield of a shared place) is optional on the wire and checked when present."""

from __future__ import annotations

import pytest

from dfm.runner.messages import BadMessage, Result, from_wire, to_wire


def test_a_result_without_a_node_keeps_its_wire_form():
    wire = to_wire(Result("j", "out", (0,), 1))
    assert wire == {"job": "j", "place": "out", "frame": [0], "value": 1, "m": "Result"}
    assert from_wire(dict(wire)) == Result("j", "out", (0,), 1)


def test_a_result_naming_its_yield_round_trips():
    wire = to_wire(Result("j", "out", (0, 2), 1, "sq"))
    assert wire["node"] == "sq"
    assert from_wire(dict(wire)) == Result("j", "out", (0, 2), 1, "sq")


@pytest.mark.parametrize("node", [3, ["sq"], {"a": 1}])
def test_a_node_that_is_not_a_string_is_refused(node):
    with pytest.raises(BadMessage, match=r"^Result\.node must be a string$"):
        from_wire({"job": "j", "place": "out", "frame": [0], "value": 1, "node": node, "m": "Result"})


def test_other_fields_stay_required():
    with pytest.raises(BadMessage, match="Result with fields"):
        from_wire({"job": "j", "place": "out", "frame": [0], "m": "Result"})
