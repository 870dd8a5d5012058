"""Placement with NVIDIA DFM's compute_cost / send_cost: the time model."""

from __future__ import annotations

import itertools
import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dfm.compiler import build_graph, check_placement, compile_with_details
from dfm.compiler.costs import UNKNOWN_SEND_BANDWIDTH, UNKNOWN_SEND_FIXED_TIME
from dfm.compiler.placement import PlacementProblem, auto, greedy, optimal
from dfm.kernel.config import load_config_text
from dfm.kernel.config.models import (
    ComputeCost,
    Federation,
    Info,
    InterfaceEntry,
    LinkCost,
    Links,
    Operation,
    SendCost,
    Site,
)
from dfm.kernel.ir import pipeline as ir

STRATEGIES = {"optimal": optimal, "greedy": greedy, "auto": auto}

# The store holds the data but computes slowly; the gpu site computes fast and is one
# fast link away. Moving 100 MB to the gpu (1.5 s) and processing there (0.1 s) beats
# processing at the store (100 s): NVIDIA DFM places Process on the gpu.
CHEAP_GPU = """
dfm: 1.0.0
info: {api-version: 1.0.0, code-package: costfed}
homesite: home
operations:
  data.Load: {estimated-size: 100}
  data.Process:
    parameters: {data: {type: any}}
    estimated-size: 100
sites:
  home: {}
  store:
    interface:
      "#/operations/data.Load":
        adapter: costfed.Load
        compute_cost: {fixed_time: 1, fixed_size: 100000000}
      "#/operations/data.Process":
        adapter: costfed.Process
        compute_cost: {compute_throughput: 1000000, fixed_size: 1000}
    send_cost:
      gpu: {fixed_time: 0.5, bandwidth: 100000000}
      home: {fixed_time: 1, bandwidth: 1000000}
  gpu:
    interface:
      "#/operations/data.Process":
        adapter: costfed.Process
        compute_cost: {fixed_time: 0, compute_throughput: 1000000000, fixed_size: 1000}
    send_cost:
      home: {fixed_time: 1, bandwidth: 1000000}
      store: {fixed_time: 0.5, bandwidth: 100000000}
"""


def load_then_process() -> ir.PipelineIR:
    return ir.PipelineIR(
        (
            ir.Call("load", "data.Load", {}),
            ir.Call("process", "data.Process", {"data": ir.Ref("load")}),
            ir.Yield("out", ir.Ref("process"), "result"),
        ),
        (),
        "load-then-process",
    )


def fed_of(text: str) -> Federation:
    return load_config_text(text, "costfed.dfm.yaml")


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_the_cheap_site_wins_as_in_the_reference(strategy, manager):
    fed = fed_of(CHEAP_GPU)
    details = compile_with_details(fed, load_then_process(), strategy, manager=manager)
    assert details.placement == {"load": "store", "process": "gpu", "out": "home"}
    # Load 1 s; 100 MB store -> gpu: 0.5 + 1 s; Process at the gpu: 0.1 s;
    # 1000 B gpu -> home: 1 + 0.001 s
    assert details.prepared.cost == pytest.approx(1 + 1.5 + 0.1 + 1.001)
    assert details.diagnostics == ()
    assert details.graph.graph["model"] == "time"


def test_without_costs_bytes_decide_and_the_data_stays():
    fed = fed_of(_strip_costs(CHEAP_GPU))
    assert all(not site.send_cost for site in fed.sites.values())
    problem = PlacementProblem.from_graph(build_graph(fed, load_then_process()), fed)
    assert problem.model == "bytes" and not problem.timed
    assert optimal(problem) == {"load": "store", "process": "store", "out": "home"}
    assert problem.cost(optimal(problem)) == 100.0  # estimated-size x default link cost


def _strip_costs(text: str) -> str:
    out = []
    skipping = False
    for line in text.splitlines():
        if line.strip().startswith(("compute_cost", "send_cost")):
            skipping = line.strip().startswith("send_cost")
            continue
        if skipping and line.startswith("      "):
            continue
        skipping = False
        out.append(line)
    return "\n".join(out) + "\n"


def test_sizes_flow_down_the_pipeline():
    fed = fed_of(CHEAP_GPU)
    graph = build_graph(fed, load_then_process())
    assert graph.nodes["load"]["size"] == 100_000_000  # fixed_size
    assert graph.nodes["process"]["size"] == 1000
    assert graph.edges["load", "process"]["bytes"] == 100_000_000
    assert graph.nodes["process"]["compute"] == {"store": 100.0, "gpu": 0.1}


def test_output_factor_scales_with_the_input_and_disagreeing_sites_give_the_largest():
    text = CHEAP_GPU.replace(
        "compute_cost: {compute_throughput: 1000000, fixed_size: 1000}",
        "compute_cost: {compute_throughput: 1000000, fixed_size: 10, output_factor: 0.5}",
    )
    graph = build_graph(fed_of(text), load_then_process())
    assert graph.nodes["process"]["size"] == 50_000_010  # the store's estimate > the gpu's 1000


def test_link_costs_weight_transfer_times():
    # a link cost of 100 between store and gpu makes the 1.5 s transfer count 150 s
    fed = fed_of(CHEAP_GPU + "links:\n  costs:\n    - {sites: [store, gpu], cost: 100}\n")
    problem = PlacementProblem.from_graph(build_graph(fed, load_then_process()), fed)
    for strategy in STRATEGIES.values():
        assert strategy(problem)["process"] == "store"


def test_an_unknown_pair_gets_the_punitive_default_and_one_warning(manager, caplog):
    text = CHEAP_GPU.replace("      home: {fixed_time: 1, bandwidth: 1000000}\n      store:", "      store:")
    fed = fed_of(text)
    assert "home" not in fed.sites["gpu"].send_cost
    with caplog.at_level(logging.WARNING, logger="dfm.compiler"):
        details = compile_with_details(fed, load_then_process(), manager=manager)
    (message,) = details.diagnostics
    assert "no send_cost from site 'gpu' to site 'home'" in message
    assert "sites.gpu.send_cost.home" in message
    assert [r.getMessage() for r in caplog.records] == [f"pipeline 'load-then-process': {message}"]
    # gpu -> home now costs 60 s + 1000 B at 100 kB/s, still less than processing at the store
    problem = details.problem
    assert problem.transfer_cost("gpu", "home") == UNKNOWN_SEND_FIXED_TIME
    assert problem.link_cost("gpu", "home") == 1 / UNKNOWN_SEND_BANDWIDTH
    assert details.placement["process"] == "gpu"
    assert details.prepared.cost == pytest.approx(
        1 + 1.5 + 0.1 + UNKNOWN_SEND_FIXED_TIME + 1000 / UNKNOWN_SEND_BANDWIDTH
    )
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="dfm.compiler"):
        compile_with_details(fed, load_then_process(), manager=manager)
    assert len(caplog.records) == 1  # once per compilation


def test_send_cost_is_directional():
    fed = fed_of(CHEAP_GPU)
    problem = PlacementProblem.from_graph(build_graph(fed, load_then_process()), fed)
    assert problem.transfer_cost("store", "home") == 1.0
    assert problem.transfer_cost("home", "store") == UNKNOWN_SEND_FIXED_TIME  # home declares none
    assert problem.transfer_cost("gpu", "gpu") == 0.0
    # no edge can go from home to store: no warning about it
    assert problem.diagnostics == ()


# -- never worse than the reference's rule -------------------------------------------


def reference_greedy(problem: PlacementProblem) -> dict[str, str]:
    """NVIDIA DFM's rule as COMPAT.md states it, written here independently.

    Each node, in pipeline order, goes to the candidate site minimising its own compute
    time plus the time to bring its inputs there from where they were placed.
    """
    placed: dict[str, str] = {}
    for node in problem.nodes:
        best: tuple[float, str] | None = None
        for site in problem.candidates[node]:
            seconds = problem.compute_costs.get(node, {}).get(site, 0.0)
            for u, v, nbytes in problem.edges:
                if v == node and placed[u] != site:
                    seconds += nbytes * problem.link_cost(placed[u], site)
                    seconds += problem.transfer_cost(placed[u], site)
            if best is None or seconds < best[0]:
                best = (seconds, site)
        assert best is not None
        placed[node] = best[1]
    return placed


def estimated_seconds(fed: Federation, problem: PlacementProblem, placement: dict[str, str]) -> float:
    """The model from the federation itself (not through PlacementProblem.cost)."""
    total = 0.0
    for node in problem.nodes:
        total += problem.compute_costs.get(node, {}).get(placement[node], 0.0)
    for u, v, nbytes in problem.edges:
        a, b = placement[u], placement[v]
        if a == b:
            continue
        send = fed.sites[a].send_cost.get(b)
        fixed, bandwidth = (
            (send.fixed_time, send.bandwidth) if send else (UNKNOWN_SEND_FIXED_TIME, UNKNOWN_SEND_BANDWIDTH)
        )
        total += fed.link_cost(a, b) * (fixed + (nbytes / bandwidth if bandwidth else 0.0))
    return total


@st.composite
def costed_scenarios(draw: st.DrawFn) -> tuple[Federation, ir.PipelineIR]:
    """2-4 sites with random compute_cost / send_cost, 2-6 operations in a random DAG."""
    n_sites = draw(st.integers(2, 4))
    sites = [f"s{i}" for i in range(n_sites)]
    n_ops = draw(st.integers(2, 6))
    seconds = st.sampled_from([0, 0.5, 1, 2, 5, 10])
    rates = st.one_of(st.none(), st.sampled_from([1e3, 1e4, 1e5, 1e6]))
    ops = {f"op.O{i}": Operation(estimated_size=draw(st.integers(0, 10_000))) for i in range(n_ops)}
    offered = [draw(st.sets(st.sampled_from(sites), min_size=1)) for _ in range(n_ops)]

    def compute_cost() -> ComputeCost | None:
        if draw(st.integers(0, 4)) == 0:
            return None
        return ComputeCost(
            fixed_time=draw(seconds),
            compute_throughput=draw(rates),
            fixed_size=draw(st.one_of(st.none(), st.integers(0, 100_000).map(float))),
            output_factor=draw(st.one_of(st.none(), st.sampled_from([0.0, 0.1, 1.0, 2.0]))),
        )

    spec = {}
    for site in sites:
        interface = {
            f"#/operations/op.O{i}": InterfaceEntry(adapter="prop.Adapter", compute_cost=compute_cost())
            for i in range(n_ops)
            if site in offered[i]
        }
        send = {
            other: SendCost(fixed_time=draw(seconds), bandwidth=draw(rates))
            for other in sites
            # some pairs stay unknown; s0 -> s1 is always declared (the time model applies)
            if other != site and ((site, other) == ("s0", "s1") or draw(st.integers(0, 5)) > 0)
        }
        spec[site] = Site(interface=interface, send_cost=send)
    pairs = list(itertools.combinations(sites, 2))
    weights = st.sampled_from([0.0, 1.0, 2.0])
    links = [LinkCost([a, b], draw(weights)) for a, b in pairs if draw(st.booleans())]
    fed = Federation(
        dfm="1.0.0",
        info=Info(api_version="1.0.0", code_package="prop"),
        operations=ops,
        sites=spec,
        homesite=draw(st.sampled_from(sites)),
        links=Links(costs=links),
    )
    statements: list[ir.Statement] = []
    for i in range(n_ops):
        earlier = [f"c{j}" for j in range(i)]
        refs = draw(st.lists(st.sampled_from(earlier), max_size=2, unique=True)) if i else []
        pin = draw(st.sampled_from(sorted(offered[i]))) if draw(st.integers(0, 5)) == 0 else None
        args: dict[str, ir.Value] = {f"a{k}": ir.Ref(r) for k, r in enumerate(refs)}
        statements.append(ir.Call(f"c{i}", f"op.O{i}", args, site=pin))
    for k in range(draw(st.integers(0, 2))):
        statements.append(ir.Yield(f"y{k}", ir.Ref(f"c{draw(st.integers(0, n_ops - 1))}"), f"out{k}"))
    return fed, ir.PipelineIR(tuple(statements), (), "random")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(costed_scenarios())
def test_never_worse_than_the_reference_rule(scenario):
    fed, pipeline = scenario
    problem = PlacementProblem.from_graph(build_graph(fed, pipeline), fed)
    assert problem.model == "time"
    theirs = reference_greedy(problem)
    their_cost = estimated_seconds(fed, problem, theirs)
    assert problem.cost(theirs) == pytest.approx(their_cost)
    for name, strategy in STRATEGIES.items():
        ours = check_placement(problem, strategy(problem), name)
        our_cost = estimated_seconds(fed, problem, ours)
        assert our_cost == pytest.approx(problem.cost(ours))
        assert our_cost <= their_cost + 1e-9 * max(1.0, their_cost), name


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(costed_scenarios())
def test_optimal_is_exact_for_the_time_model(scenario):
    fed, pipeline = scenario
    problem = PlacementProblem.from_graph(build_graph(fed, pipeline), fed)
    rank = {s: i for i, s in enumerate(problem.sites)}
    best = min(
        (problem.cost(p), tuple(rank[p[n]] for n in problem.nodes))
        for combo in itertools.product(*(problem.candidates[n] for n in problem.nodes))
        if (p := dict(zip(problem.nodes, combo, strict=True)))
    )
    got = optimal(problem)
    assert problem.cost(got) == pytest.approx(best[0])
    assert problem.cost(auto(problem)) == pytest.approx(best[0])
    assert problem.cost(greedy(problem)) >= best[0] - 1e-9 * max(1.0, best[0])


def test_the_text_view_shows_transfer_times(manager):
    from dfm.compiler import compile_pipeline
    from dfm.compiler.emitters.text import emit

    fed = fed_of(CHEAP_GPU)
    text = emit(compile_pipeline(fed, load_then_process(), manager=manager), fed)
    assert "  load     process  store -> gpu  100000000  1e-08      1.5" in text
    assert "  process  out      gpu -> home   1000       1e-06      1.001" in text
    assert "estimated cost: 3.601" in text
