"""Compile errors: clear messages naming the node, its operation and the sites considered."""

from __future__ import annotations

import re
from pathlib import Path

import attrs
import pytest

from dfm.api import ForEach, Pipeline, PlaceParam, Yield
from dfm.api.federation import FederationHandle
from dfm.compiler import compile_pipeline
from dfm.kernel.config.models import Operation
from dfm.kernel.errors import CompileError, DfmError, UnknownPluginError
from dfm.kernel.ir import pipeline as ir


def compile_ir(fed, *statements, params=(), manager=None):
    return compile_pipeline(fed, ir.PipelineIR(tuple(statements), tuple(params), "p"), manager=manager)


def raises(match: str):
    return pytest.raises(CompileError, match=re.escape(match))


@pytest.fixture
def api(synthfed):
    return FederationHandle(synthfed, Path("synthfed.dfm.yaml")).api


def test_compile_error_is_a_dfm_error():
    assert issubclass(CompileError, DfmError)


def test_operation_offered_by_no_site(synthfed, manager):
    fed = attrs.evolve(synthfed, operations={**synthfed.operations, "ghost.Op": Operation()})
    with raises(
        "cannot place n1 (ghost.Op): no site offers operation 'ghost.Op' "
        "(sites considered: home, cloud, hospital, lab)"
    ):
        compile_ir(fed, ir.Call("n1", "ghost.Op"), manager=manager)


def test_unknown_operation_suggests_the_nearest(examplefed, manager):
    with raises("node n1 calls unknown operation 'users.GretMe'; did you mean 'users.GreetMe'?"):
        compile_ir(examplefed, ir.Call("n1", "users.GretMe"), manager=manager)


def test_pin_to_a_site_lacking_the_operation(api, synthfed, manager):
    with Pipeline() as p:
        api.records.Query(cohort="x", site="cloud")
    with raises(
        "n1 (records.Query) is pinned to site 'cloud', which does not offer 'records.Query' "
        "(sites offering it: hospital)"
    ):
        compile_pipeline(synthfed, p, manager=manager)


def test_pin_to_an_unknown_site_suggests_the_nearest(synthfed, manager):
    with raises("n1 (util.Echo) is pinned to unknown site 'clod'; did you mean 'cloud'? (sites: home, cloud"):
        compile_ir(synthfed, ir.Call("n1", "util.Echo", site="clod"), manager=manager)


def test_provider_pin_not_offered(api, synthfed, manager):
    with Pipeline() as p:
        api.ml.Train(data=[], provider="gpux")
    with raises(
        "n1 (ml.Train) is pinned to provider 'gpux', which does not offer 'ml.Train' at any site; "
        "did you mean 'gpu'? (sites considered: cloud, lab; providers offering it: gpu, spot)"
    ):
        compile_pipeline(synthfed, p, manager=manager)


def test_provider_pin_at_a_site_without_that_provider(api, synthfed, manager):
    with Pipeline() as p:
        api.ml.Train(data=[], provider="gpu", site="cloud")
    with raises("pinned to provider 'gpu', which does not offer 'ml.Train' at site 'cloud'"):
        compile_pipeline(synthfed, p, manager=manager)


def test_resident_output_cannot_be_yielded(api, synthfed, manager):
    with Pipeline() as p:
        Yield(api.records.Query(cohort=PlaceParam("cohort")), place="rows")
    with pytest.raises(CompileError) as info:
        compile_pipeline(synthfed, p, manager=manager)
    assert str(info.value) == (
        "cannot place n1 (records.Query): no site satisfies the data residency policies "
        "(sites considered: hospital)\n"
        "  - hospital: the output of n1 (records.Query) must stay at hospital "
        "(residency policy of site hospital), but its consumer n2 (Yield 'rows') cannot run at hospital"
    )


def test_resident_output_through_a_pinned_consumer(api, synthfed, manager):
    with Pipeline() as p:
        rows = api.records.Query(cohort="c")
        api.stats.Summarize(data=rows, site="lab")
    with pytest.raises(
        CompileError, match=r"cannot place n1 \(records.Query\).*sites considered: hospital"
    ) as info:
        compile_pipeline(synthfed, p, manager=manager)
    assert "its consumer n2 (stats.Summarize) cannot run at hospital" in str(info.value)


def test_residency_pulls_consumers_to_the_data(api, synthfed, manager):
    with Pipeline() as p:
        rows = api.records.Query(cohort="c")
        Yield(api.util.Echo(value=rows), place="echo")
        with ForEach(rows) as row:
            Yield(api.stats.Summarize(data=row), place="each", multiuse=True)
    for strategy in ("optimal", "greedy", "auto"):
        prepared = compile_pipeline(synthfed, p, strategy, manager=manager)
        # Echo could run anywhere, Summarize at three sites: both must read the rows at the hospital
        assert prepared.placement["n2"] == "hospital"
        assert prepared.placement["n6"] == "hospital"  # reads a loop item: resident like its collection


def test_reference_out_of_a_loop_is_rejected(synthfed, manager):
    with raises(
        "n5 (util.Echo) uses n4 (util.Echo), which is produced inside ForEach n2 "
        "and cannot be used outside it"
    ):
        compile_ir(
            synthfed,
            ir.Call("n1", "util.Echo", {"value": ir.Lit([1, 2])}),
            ir.ForEach("n2", ir.Ref("n1"), "n3", (ir.Call("n4", "util.Echo", {"value": ir.Ref("n3")}),)),
            ir.Call("n5", "util.Echo", {"value": ir.Ref("n4")}),
            manager=manager,
        )


def test_reference_into_the_other_branch_is_rejected(synthfed, manager):
    with raises("n4 (util.Echo) uses n3 (util.Echo), which is produced inside the then branch of If n2"):
        compile_ir(
            synthfed,
            ir.Call("n1", "util.Check", {"value": ir.Lit(1)}),
            ir.If(
                "n2",
                ir.Truthy(ir.Ref("n1")),
                (ir.Call("n3", "util.Echo", {"value": ir.Lit(1)}),),
                (ir.Call("n4", "util.Echo", {"value": ir.Ref("n3")}),),
            ),
            manager=manager,
        )


def test_loop_item_used_after_the_loop_is_rejected(synthfed, manager):
    with raises("n4 (Yield 'x') uses n3 (item of ForEach n2), which is produced inside ForEach n2"):
        compile_ir(
            synthfed,
            ir.Call("n1", "util.Echo", {"value": ir.Lit([1])}),
            ir.ForEach("n2", ir.Ref("n1"), "n3", ()),
            ir.Yield("n4", ir.Ref("n3"), "x"),
            manager=manager,
        )


@pytest.mark.parametrize(
    ("statements", "params", "message"),
    [
        (
            (ir.Call("n1", "util.Echo", {"value": ir.Ref("n2")}), ir.Call("n2", "util.Echo")),
            (),
            "n1 (util.Echo) references n2 (util.Echo), which is not defined before it",
        ),
        (
            (ir.Call("n1", "util.Echo"), ir.Call("n2", "util.Echo", {"value": ir.Ref("n11")})),
            (),
            "n2 (util.Echo) references unknown node 'n11'; did you mean 'n1'?",
        ),
        (
            (
                ir.Call("n1", "util.Echo"),
                ir.Yield("n2", ir.Ref("n1"), "a"),
                ir.Yield("n3", ir.Ref("n2"), "b"),
            ),
            (),
            "n3 (Yield 'b') references n2 (Yield 'a'), which produces no value",
        ),
        (
            (ir.Call("n1", "util.Echo"), ir.Call("n1", "util.Echo")),
            (),
            "node id 'n1' is used twice",
        ),
        (
            (ir.Call("n1", "util.Echo", {"value": ir.Param("x")}),),
            ("y",),
            "n1 (util.Echo) reads parameter 'x', which the pipeline does not declare (declared: y)",
        ),
        (
            (ir.Yield("n1", ir.Lit(3), "three"),),
            (),
            "n1 (Yield 'three') yields a literal",
        ),
        (
            (ir.ForEach("n1", ir.Lit([1, 2]), "n2", ()),),
            (),
            "n1 (ForEach) iterates over a literal",
        ),
    ],
)
def test_malformed_ir_from_json(synthfed, manager, statements, params, message):
    with raises(message):
        compile_ir(synthfed, *statements, params=params, manager=manager)


def test_unknown_strategy_suggests_the_nearest(examplefed, manager):
    message = "unknown placement strategy 'optimial'; did you mean 'optimal'? (known: auto, greedy, optimal)"
    with pytest.raises(UnknownPluginError, match=re.escape(message)):
        compile_pipeline(examplefed, ir.PipelineIR(), "optimial", manager=manager)


def test_invalid_placement_from_a_plugin_strategy(examplefed, manager):
    def lazy(problem):
        return {node: "nowhere" for node in problem.nodes}

    pipeline = ir.PipelineIR((ir.Call("n1", "users.GreetMe", {"name": ir.Lit("a")}),))
    with raises(
        "placement strategy 'lazy' returned an invalid placement:\n"
        "  n1 (users.GreetMe) is placed at 'nowhere', "
        "not one of its candidates (concierge, reception, server)"
    ):
        compile_pipeline(examplefed, pipeline, lazy, manager=manager)
