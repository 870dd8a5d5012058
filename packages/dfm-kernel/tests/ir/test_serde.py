"""JSON round trips of the pipeline IR (recorded through the public API) and the net IR, and digests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dfm.api import Else, ForEach, If, Node, Pipeline, PlaceParam, Yield, load_federation
from dfm.api.federation import FederationHandle
from dfm.kernel.config.models import Parameter
from dfm.kernel.ir import net
from dfm.kernel.ir import pipeline as irp
from dfm.kernel.ir.serde import canonical_json, digest, from_data, ir_converter, to_data


def untyped(handle: FederationHandle) -> FederationHandle:
    """``handle`` with ``users.GreetMe(name)`` taking any literal: these tests are about how
    literals are stored, not about the parameter's declared type (checked in test_federation)."""
    config = handle.config
    greet = attrs.evolve(config.operations["users.GreetMe"], parameters={"name": Parameter()})
    return FederationHandle(
        attrs.evolve(config, operations={**config.operations, "users.GreetMe": greet}), handle.path
    )


@pytest.fixture(scope="module")
def fed(examplefed_path: Path) -> FederationHandle:
    return untyped(load_federation(examplefed_path))


SITES = [None, "concierge", "server", "reception"]
OPS = ["==", "!=", "<", "<=", ">", ">="]

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)
# Tuples are accepted and stored as JSON lists.
LITERALS = JSON | st.tuples(st.integers(), st.text(max_size=2))
PARAMS = st.sampled_from(["a", "b", "c", "items"])


def round_trip(p: Pipeline) -> None:
    again = Pipeline.from_json(p.to_json())
    assert again.ir == p.ir
    assert again.name == p.name
    assert from_data(json.loads(json.dumps(to_data(p.ir))), irp.PipelineIR) == p.ir
    assert digest(again.ir) == digest(p.ir)


# -- random pipelines recorded through the public API -----------------------------------------


class Recorder:
    def __init__(self, data: st.DataObject, fed: FederationHandle):
        self.data = data
        self.fed = fed
        self.places = 0

    def draw(self, strategy: st.SearchStrategy[Any]) -> Any:
        return self.data.draw(strategy)

    def operand(self, visible: list[Node]) -> Node | PlaceParam:
        if visible and self.draw(st.booleans()):
            return self.draw(st.sampled_from(visible))
        return PlaceParam(self.draw(PARAMS))

    def value(self, visible: list[Node]) -> Any:
        if self.draw(st.integers(0, 2)) == 0:
            return self.draw(LITERALS)
        return self.operand(visible)

    def condition(self, visible: list[Node], depth: int = 0) -> Any:
        kind = self.draw(
            st.sampled_from(["cmp", "truthy", "not", "and", "or"] if depth < 2 else ["cmp", "truthy"])
        )
        if kind == "cmp":
            left, op, right = self.operand(visible), self.draw(st.sampled_from(OPS)), self.value(visible)
            return {
                "==": lambda: left == right,
                "!=": lambda: left != right,
                "<": lambda: left < right,
                "<=": lambda: left <= right,
                ">": lambda: left > right,
                ">=": lambda: left >= right,
            }[op]()
        if kind == "truthy":
            return self.operand(visible)
        if kind == "not":
            return ~self.condition(visible, depth + 1)
        left = self.condition(visible, depth + 1)
        right = self.condition(visible, depth + 1)
        if kind == "and":
            return left & right if not isinstance(left, (Node, PlaceParam)) else (left == 1) & right
        return left | right if not isinstance(left, (Node, PlaceParam)) else (left == 1) | right

    def block(self, visible: list[Node], depth: int) -> None:
        visible = list(visible)
        kinds = ["call", "yield", "multi"] + (["foreach", "if"] if depth < 3 else [])
        for _ in range(self.draw(st.integers(0, 4))):
            kind = self.draw(st.sampled_from(kinds))
            if kind == "call":
                site = self.draw(st.sampled_from(SITES))
                args = {"name": self.value(visible)}
                if site == "concierge" and self.draw(st.booleans()):
                    args["greeting"] = self.value(visible)
                visible.append(self.fed.api.users.GreetMe(site=site, **args))
            elif kind == "yield":
                self.places += 1
                Yield(self.operand(visible), place=f"out{self.places}")
            elif kind == "multi":
                Yield(self.operand(visible), place="multi", multiuse=True)
            elif kind == "foreach":
                with ForEach(self.operand(visible)) as item:
                    self.block([*visible, item], depth + 1)
            else:
                with If(self.condition(visible)):
                    self.block(visible, depth + 1)
                if self.draw(st.booleans()):
                    with Else():
                        self.block(visible, depth + 1)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.text(min_size=1, max_size=8))
def test_random_pipelines_round_trip(fed, data, name):
    with Pipeline(name) as p:
        Recorder(data, fed).block([], 0)
    round_trip(p)
    ids = [int(s.id[1:]) for s, _, _ in p.ir.walk()]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_fixed_pipeline_round_trip_and_wire_format(fed):
    with Pipeline() as p:
        n = fed.api.users.GreetMe(name=PlaceParam("x"), site="concierge", greeting=[1, {"a": None}])
        with ForEach(n) as item, If((item > 1) | ~PlaceParam("x")):
            Yield(item, place="i")
    round_trip(p)
    data = to_data(p.ir)
    assert data["statements"][0] == {
        "kind": "Call",
        "id": "n1",
        "operation": "users.GreetMe",
        "args": {
            "name": {"kind": "Param", "name": "x"},
            "greeting": {"kind": "Lit", "value": [1, {"a": None}]},
        },
        "site": "concierge",
        "provider": None,
    }
    assert data["statements"][1]["body"][0]["cond"]["kind"] == "BoolOp"
    assert data["params"] == ["x"]


def test_from_data_rejects_unknown_kind():
    data = to_data(irp.PipelineIR((irp.Yield("n1", irp.Param("x"), "p"),)))
    data["statements"][0]["kind"] = "Nope"
    with pytest.raises(Exception):  # noqa: B017 - cattrs' own error type
        from_data(data, irp.PipelineIR)


# -- hand-built net IR -----------------------------------------------------------------------

IDS = st.text("abcn0123:", min_size=1, max_size=5)
SCOPE = st.lists(
    st.builds(net.LoopScope, IDS) | st.builds(net.BranchScope, IDS, st.booleans()), max_size=3
).map(tuple)
INPUT = st.builds(net.FromPlace, IDS) | st.builds(net.Constant, JSON)
CONDC = st.recursive(
    st.builds(net.CompareC, st.sampled_from(OPS), INPUT, INPUT) | st.builds(net.TruthyC, INPUT),
    lambda inner: (
        st.builds(net.NotC, inner)
        | st.builds(net.BoolOpC, st.sampled_from(["and", "or"]), st.lists(inner, max_size=3).map(tuple))
    ),
    max_leaves=5,
)
NAMES = st.lists(IDS, max_size=3).map(tuple)
TRANSITION = st.one_of(
    st.builds(
        net.CallT,
        IDS,
        SCOPE,
        IDS,
        IDS,
        st.none() | IDS,
        st.dictionaries(IDS, INPUT, max_size=3),
        IDS,
    ),
    st.builds(net.SendT, IDS, SCOPE, IDS, IDS, IDS),
    st.builds(net.YieldT, IDS, SCOPE, IDS, IDS),
    st.builds(net.ScatterT, IDS, SCOPE, IDS, IDS, IDS, NAMES),
    st.builds(net.BranchT, IDS, SCOPE, IDS, CONDC, NAMES),
)
PLACE = st.builds(net.Place, IDS, st.integers(1, 4), st.sampled_from(["value", "received", "param", "item"]))
SITE_NET = st.builds(
    net.SiteNet,
    IDS,
    st.lists(PLACE, max_size=4).map(tuple),
    st.lists(TRANSITION, max_size=5).map(tuple),
    NAMES,
    NAMES,
)
SMALL_IR = irp.PipelineIR(
    (
        irp.Call("n1", "users.GreetMe", {"name": irp.Param("x")}, "server", "p"),
        irp.If("n2", irp.Compare("<", irp.Ref("n1"), irp.Lit(2)), (), (irp.Yield("n3", irp.Ref("n1"), "y"),)),
    ),
    ("x",),
)
PREPARED = st.builds(
    net.PreparedPipeline,
    IDS,
    IDS,
    st.just(SMALL_IR),
    st.dictionaries(IDS, IDS, max_size=3),
    st.dictionaries(IDS, SITE_NET, max_size=2),
    st.text(max_size=5),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text("0123456789abcdef", max_size=8),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(PREPARED)
def test_prepared_pipeline_round_trip(prepared):
    text = json.dumps(to_data(prepared))
    again = from_data(json.loads(text), net.PreparedPipeline)
    assert again == prepared
    assert digest(again) == digest(prepared)
    assert canonical_json(again) == canonical_json(prepared)


@settings(max_examples=30, deadline=None)
@given(TRANSITION)
def test_transition_union_round_trip(transition):
    data = ir_converter.unstructure(transition, net.Transition)
    assert data["kind"] == type(transition).__name__
    assert from_data(json.loads(json.dumps(data)), net.Transition) == transition


# -- digests ---------------------------------------------------------------------------------


def test_digest_is_stable_and_distinguishes(fed):
    def build(limit: int) -> irp.PipelineIR:
        with Pipeline() as p:
            n = fed.api.users.GreetMe(name={"b": 1, "a": [limit]})
            with If(n < limit):
                Yield(n, place="y")
        return p.ir

    first, second = build(3), build(3)
    assert first is not second
    assert digest(first) == digest(second)
    assert len(digest(first)) == 64
    assert digest(first) != digest(build(4))
    assert digest(first) != digest(irp.PipelineIR(first.statements, first.params, "other"))
    reordered = irp.Call("n1", "op", {"b": irp.Lit(1), "a": irp.Lit(2)})
    assert digest(reordered) == digest(irp.Call("n1", "op", {"a": irp.Lit(2), "b": irp.Lit(1)}))
    assert digest(net.Place("v:n1", 1)) != digest(net.Place("v:n1", 2))
    assert digest(net.Place("v:n1", 1)) == digest(net.Place("v:n1", 1, "value"))
