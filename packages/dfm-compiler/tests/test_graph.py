"""The dataflow graph: nodes, candidates, edges and their estimated bytes."""

from __future__ import annotations

from pathlib import Path

from dfm.api import ForEach, If, Pipeline, PlaceParam, Yield
from dfm.api.federation import FederationHandle
from dfm.compiler import PlacementProblem, build_graph
from dfm.compiler.graph import CONTROL_BYTES
from dfm.compiler.placement import link_cost_matrix
from dfm.kernel.ir import pipeline as ir
from dfm.kernel.ir.net import BranchScope, LoopScope


def test_graph_nodes_edges_and_candidates(synthfed):
    api = FederationHandle(synthfed, Path("synthfed.dfm.yaml")).api
    with Pipeline("g") as p:
        rows = api.records.Query(cohort=PlaceParam("cohort"))  # n1
        with ForEach(rows) as row:  # n2, item n3
            ok = api.util.Check(value=row)  # n4
            with If(ok):  # n5
                Yield(api.stats.Summarize(data=row, site="cloud"), place="s", multiuse=True)  # n6, n7

    graph = build_graph(synthfed, p)

    assert graph.graph["homesite"] == "home"
    assert graph.graph["sites"] == ("home", "cloud", "hospital", "lab")
    assert graph.graph["order"] == ("n1", "n2", "n3", "n4", "n5", "n6", "n7")
    kinds = {n: d["kind"] for n, d in graph.nodes(data=True)}
    assert kinds == {
        "n1": "call",
        "n2": "scatter",
        "n3": "item",
        "n4": "call",
        "n5": "branch",
        "n6": "call",
        "n7": "yield",
    }
    cands = {n: d["candidates"] for n, d in graph.nodes(data=True)}
    assert cands["n1"] == ("hospital",)
    assert cands["n4"] == ("home", "hospital")
    assert cands["n6"] == ("cloud",)  # pinned
    assert cands["n7"] == ("home",)  # yields run on the homesite
    assert cands["n5"] == graph.graph["sites"]
    assert graph.nodes["n2"]["colocate"] == "n1"
    assert graph.nodes["n3"]["colocate"] == "n2"
    assert graph.nodes["n3"]["resident"] == ("hospital",)  # items of resident data stay resident
    assert graph.nodes["n6"]["scope"] == (LoopScope("n2"), BranchScope("n5", True))
    edges = {(u, v): (d["kind"], d["bytes"]) for u, v, d in graph.edges(data=True)}
    assert edges == {
        ("n1", "n2"): ("data", 1_000_000),
        ("n2", "n3"): ("item", 1_000_000),
        ("n2", "n4"): ("control", CONTROL_BYTES),
        ("n3", "n4"): ("data", 1_000_000),
        ("n2", "n5"): ("control", CONTROL_BYTES),
        ("n4", "n5"): ("data", 8),
        ("n5", "n6"): ("control", CONTROL_BYTES),
        ("n3", "n6"): ("data", 1_000_000),
        ("n5", "n7"): ("control", CONTROL_BYTES),
        ("n6", "n7"): ("data", 2000),
    }


def test_problem_mirrors_the_graph(synthfed):
    api = FederationHandle(synthfed, Path("synthfed.dfm.yaml")).api
    with Pipeline() as p:
        Yield(api.util.Echo(value=PlaceParam("v")), place="e")
    graph = build_graph(synthfed, p)
    problem = PlacementProblem.from_graph(graph, synthfed)
    assert problem.nodes == ("n1", "n2")
    assert problem.edges == (("n1", "n2", 100),)
    assert problem.labels == {"n1": "n1 (util.Echo)", "n2": "n2 (Yield 'e')"}
    assert problem.search_space() == 4
    assert problem.cost({"n1": "hospital", "n2": "home"}) == 500.0


def test_link_cost_matrix_matches_federation(synthfed, examplefed):
    for fed in (synthfed, examplefed):
        sites = tuple(fed.sites)
        matrix = link_cost_matrix(fed, sites)
        for a in sites:
            for b in sites:
                assert matrix[a][b] == fed.link_cost(a, b)


def test_graph_converts_to_networkx(examplefed):
    from dfm.compiler.digraph import DataflowGraph

    pir = ir.PipelineIR(
        name="p",
        statements=(
            ir.Call(id="n1", operation="users.GreetMe", args={"name": ir.Lit("Ada")}),
            ir.Yield(id="n2", value=ir.Ref("n1"), place="out"),
        ),
    )
    graph = build_graph(examplefed, pir)
    assert isinstance(graph, DataflowGraph)
    assert list(graph.nodes) == ["n1", "n2"] and len(graph) == 2
    assert list(graph.successors("n1")) == ["n2"] and list(graph.predecessors("n2")) == ["n1"]
    assert graph.has_edge("n1", "n2") and ("n1", "n2") in graph.edges and not graph.has_edge("n2", "n1")
    nxg = graph.to_networkx()
    assert nxg.graph == graph.graph
    assert list(nxg.nodes(data=True)) == graph.nodes(data=True)
    assert list(nxg.edges(data=True)) == graph.edges(data=True)
