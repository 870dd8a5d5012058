"""NVIDIA DFM's pipeline forms (COMPAT.md section 2) as recorded IR."""

from __future__ import annotations

import attrs
import pytest

from dfm.api import (
    Advise,
    And,
    BestOf,
    Equal,
    ForEach,
    GreaterThan,
    If,
    Not,
    Or,
    PickledObject,
    Pipeline,
    PlaceParam,
    Yield,
    load_federation,
    well_known_id,
)
from dfm.kernel.errors import PipelineError
from dfm.kernel.ir import pipeline as ir
from dfm.kernel.ir.serde import from_data, to_data


@pytest.fixture(scope="module")
def fed(examplefed_path):
    return load_federation(examplefed_path)


def test_keyword_forms_record_the_same_ir(fed):
    with Pipeline() as ours, ForEach(fed.api.users.GreetMe(name=PlaceParam("n"))) as item:  # noqa: SIM117 (written as users write it)
        with If((item > 1) & ~(item == 3)):
            Yield(item, place="out", multiuse=True)
    with Pipeline(name=None, mode="execute") as theirs:  # noqa: SIM117
        with ForEach(seq=fed.api.users.GreetMe(name=PlaceParam(place="n"))) as item:
            with If(cond=And(left=GreaterThan(left=item, right=1), right=Not(Equal(left=item, right=3)))):
                Yield(value=item, place="out", multiuse=True)
    assert ours.ir == theirs.ir


def test_or_and_several_operands(fed):
    with Pipeline() as p:
        x = PlaceParam("x")
        with If(Or(Equal(x, 1), Equal(x, 2), And(x, Not(x)))):
            Yield(x, place="x")
    cond = p.ir.statements[0].cond
    assert isinstance(cond, ir.BoolOp) and cond.op == "or" and len(cond.items) == 3


def test_fieldref_bestof_after_ids_round_trip(fed):
    greet = fed.api.users.GreetMe
    with Pipeline() as p:
        a = greet(name="a", dfm_node_id=well_known_id("first"))
        b = greet(name=a.fieldref("text").fieldref(0), site=BestOf(sites=["concierge"]), dfm_after=[a])
        Yield(b.fieldref("x"), place="out", dfm_node_id=well_known_id(7))
    first, second, out = p.ir.statements
    assert first.id == "first" and out.id == "7"
    assert second.args["name"] == ir.Select("first", ("text", 0))
    assert second.among == ("concierge",) and second.after == ("first",)
    assert from_data(to_data(p.ir), ir.PipelineIR) == p.ir


def test_old_wire_format_is_unchanged_without_the_new_fields(fed):
    with Pipeline() as p:
        Yield(fed.api.users.GreetMe(name="a"), place="out")
    data = to_data(p.ir)
    assert "mode" not in data and not {"among", "after", "advise_site"} & set(data["statements"][0])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: well_known_id("n3"), "automatic ids"),
        (lambda: well_known_id("has space"), "node id"),
        (lambda: well_known_id(True), "int or a str"),
        (lambda: BestOf(sites=[]), "no site"),
        (lambda: Pipeline(mode="dry-run"), "'execute' or 'discovery'"),
        (lambda: PickledObject(lambda: 1), "cannot be pickled"),
    ],
)
def test_bad_forms_are_refused_where_written(make, message):
    with pytest.raises(PipelineError, match=message):
        make()


def test_duplicate_well_known_id_and_bad_selector(fed):
    with pytest.raises(PipelineError, match="used twice"), Pipeline():
        fed.api.users.GreetMe(name="a", dfm_node_id=well_known_id("x"))
        fed.api.users.GreetMe(name="b", dfm_node_id=well_known_id("x"))
    with pytest.raises(PipelineError, match="fieldref"), Pipeline():
        fed.api.users.GreetMe(name="a").fieldref(1.5)  # type: ignore[arg-type]


def test_mode_advise_and_pickled_literals_are_recorded(fed):
    with Pipeline(mode="discovery") as p:
        Yield(fed.api.users.GreetMe(name=Advise(), site=Advise()), place="out")
    call = p.ir.statements[0]
    assert p.ir.mode == "discovery" and call.advise_site and call.args["name"] == ir.Advise()
    with Pipeline() as q:
        Yield(fed.api.users.GreetMe(name=PickledObject({1, 2})), place="out")
    assert isinstance(q.ir.statements[0].args["name"], ir.PickledLit)
    assert Pipeline.from_json(q.to_json()).ir == q.ir


@attrs.frozen
class _Point:
    x: int
    y: int

    def method(self) -> str:
        return "called"


def test_select_safe_set():
    assert ir.select({"a": [1, {"b": 2}]}, ("a", 1, "b")) == 2
    assert ir.select([1, 2, 3], (-1,)) == 3
    assert ir.select(_Point(1, 2), ("y",)) == 2
    for value, path in [
        (_Point(1, 2), ("method",)),
        (_Point(1, 2), ("__class__",)),
        (_Point(1, 2), (0,)),
        ({"a": 1}, ("b",)),
        ([1], (5,)),
        (object(), ("__dict__",)),
        ("text", ("upper",)),
    ]:
        with pytest.raises(ir.SelectError):
            ir.select(value, path)
