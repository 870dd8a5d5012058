"""Property tests: optimal is exact, greedy is feasible and never better, auto never worse."""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dfm.compiler import build_graph, check_placement
from dfm.compiler.placement import AUTO_LIMIT, PlacementProblem, auto, greedy, optimal
from dfm.kernel.config.models import (
    Federation,
    Info,
    InterfaceEntry,
    LinkCost,
    Links,
    Operation,
    Site,
    SitePolicy,
)
from dfm.kernel.errors import CompileError
from dfm.kernel.ir import pipeline as ir

PROPERTY_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def brute_force(problem: PlacementProblem) -> dict[str, str] | None:
    """The feasible placement with the smallest (cost, site ranks in node order)."""
    rank = {s: i for i, s in enumerate(problem.sites)}
    best: tuple[tuple[float, tuple[int, ...]], dict[str, str]] | None = None
    for combo in itertools.product(*(problem.candidates[n] for n in problem.nodes)):
        placement = dict(zip(problem.nodes, combo, strict=True))
        if any(placement[a] != placement[b] for a, b in problem.colocate.items()):
            continue
        if any(
            placement[u] in problem.resident.get(u, ()) and placement[v] != placement[u]
            for u, v, _ in problem.edges
        ):
            continue
        key = (problem.cost(placement), tuple(rank[s] for s in combo))
        if best is None or key < best[0]:
            best = (key, placement)
    return None if best is None else best[1]


def make_federation(
    sites: list[str],
    home: str,
    offered: list[set[str]],
    sizes: list[int],
    resident: set[tuple[int, str]],
    links: Mapping[tuple[str, str], int],
    default_cost: int,
) -> Federation:
    ops = {f"op.O{i}": Operation(estimated_size=size) for i, size in enumerate(sizes)}
    site_specs = {}
    for site in sites:
        interface = {
            f"#/operations/op.O{i}": InterfaceEntry(adapter="prop.Adapter")
            for i, where in enumerate(offered)
            if site in where
        }
        policy = SitePolicy(resident=[f"op.O{i}" for i, s in sorted(resident) if s == site])
        site_specs[site] = Site(interface=interface, policy=policy)
    return Federation(
        dfm="1.0.0",
        info=Info(api_version="1.0.0", code_package="prop"),
        operations=ops,
        sites=site_specs,
        homesite=home,
        links=Links(
            default_cost=float(default_cost),
            costs=[LinkCost([a, b], float(c)) for (a, b), c in links.items()],
        ),
    )


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Federation, ir.PipelineIR]:
    """A random federation (1-4 sites) and a random pipeline of at most 8 graph nodes."""
    n_sites = draw(st.integers(1, 4))
    sites = [f"s{i}" for i in range(n_sites)]
    home = draw(st.sampled_from(sites))
    shape = draw(st.sampled_from(["dag", "dag", "foreach", "if"]))
    n_yields = draw(st.integers(0, 2))
    overhead = {"dag": 0, "foreach": 2, "if": 1}[shape]
    n_calls = draw(st.integers(1, max(1, 8 - overhead - n_yields)))
    n_yields = min(n_yields, 8 - overhead - n_calls)
    offered = [draw(st.sets(st.sampled_from(sites), min_size=1)) for _ in range(n_calls)]
    sizes = [draw(st.integers(0, 1000)) for _ in range(n_calls)]
    resident = {
        (i, s)
        for i, s in draw(st.sets(st.tuples(st.integers(0, n_calls - 1), st.sampled_from(sites)), max_size=3))
        if s in offered[i]
    }
    pairs = [(a, b) for a, b in itertools.combinations(sites, 2)]
    links = {pair: draw(st.integers(0, 10)) for pair in pairs if draw(st.booleans())}
    fed = make_federation(sites, home, offered, sizes, resident, links, draw(st.integers(0, 10)))

    def call(i: int, refs: list[str]) -> ir.Call:
        chosen = draw(st.lists(st.sampled_from(refs), max_size=2, unique=True)) if refs else []
        pin = draw(st.sampled_from(sorted(offered[i]))) if draw(st.integers(0, 5)) == 0 else None
        args: dict[str, ir.Value] = {f"a{k}": ir.Ref(r) for k, r in enumerate(chosen)}
        args["p"] = ir.Param("x")
        return ir.Call(f"c{i}", f"op.O{i}", args, site=pin)

    statements: list[ir.Statement] = []
    top: list[str] = []
    n_top = n_calls if shape == "dag" else draw(st.integers(1, n_calls))
    for i in range(n_top):
        statements.append(call(i, top))
        top.append(f"c{i}")
    if shape == "foreach":
        over = draw(st.sampled_from(top))
        body: list[ir.Statement] = []
        visible = [*top, "item"]
        for i in range(n_top, n_calls):
            body.append(call(i, visible))
            visible.append(f"c{i}")
        statements.append(ir.ForEach("loop", ir.Ref(over), "item", tuple(body)))
    elif shape == "if":
        cond = ir.Truthy(ir.Ref(draw(st.sampled_from(top))))
        branches: list[list[ir.Statement]] = [[], []]
        seen: list[list[str]] = [list(top), list(top)]
        for i in range(n_top, n_calls):
            b = draw(st.integers(0, 1))
            branches[b].append(call(i, seen[b]))
            seen[b].append(f"c{i}")
        statements.append(ir.If("cond", cond, tuple(branches[0]), tuple(branches[1])))
    for k in range(n_yields):
        statements.append(ir.Yield(f"y{k}", ir.Ref(draw(st.sampled_from(top))), f"out{k}"))
    return fed, ir.PipelineIR(tuple(statements), ("x",), "random")


def problem_of(fed: Federation, pipeline: ir.PipelineIR) -> PlacementProblem:
    return PlacementProblem.from_graph(build_graph(fed, pipeline), fed)


@PROPERTY_SETTINGS
@given(scenarios())
def test_optimal_equals_brute_force(scenario):
    problem = problem_of(*scenario)
    assert len(problem.nodes) <= 8
    expected = brute_force(problem)
    if expected is None:
        with pytest.raises(CompileError):
            optimal(problem)
        return
    got = optimal(problem)
    assert problem.cost(got) == problem.cost(expected)
    assert got == expected  # same tie-break: homesite first, then by name, over nodes in order


@PROPERTY_SETTINGS
@given(scenarios())
def test_greedy_is_feasible_and_never_cheaper_than_optimal(scenario):
    problem = problem_of(*scenario)
    try:
        best = optimal(problem)
    except CompileError:
        with pytest.raises(CompileError):
            greedy(problem)
        return
    placement = greedy(problem)
    check_placement(problem, placement, "greedy")  # raises if any hard constraint is broken
    assert problem.cost(placement) >= problem.cost(best)


@PROPERTY_SETTINGS
@given(scenarios())
def test_auto_is_never_worse_than_greedy(scenario):
    problem = problem_of(*scenario)
    try:
        by_greedy = greedy(problem)
    except CompileError:
        with pytest.raises(CompileError):
            auto(problem)
        return
    placement = auto(problem)
    check_placement(problem, placement, "auto")
    assert problem.cost(placement) <= problem.cost(by_greedy)
    assert placement == optimal(problem)  # these problems are small: auto is exact


@st.composite
def random_problems(draw: st.DrawFn) -> PlacementProblem:
    """Placement problems drawn directly: random candidates, edges and link costs."""
    n_sites = draw(st.integers(1, 4))
    sites = tuple(f"s{i}" for i in range(n_sites))
    n = draw(st.integers(1, 8))
    nodes = tuple(f"n{i}" for i in range(n))
    candidates = {
        v: tuple(s for s in sites if s in draw(st.sets(st.sampled_from(sites), min_size=1))) for v in nodes
    }
    candidates = {v: c or sites[:1] for v, c in candidates.items()}
    edges = tuple(
        (nodes[a], nodes[b], draw(st.integers(0, 100)))
        for b in range(n)
        for a in draw(st.sets(st.integers(0, b - 1), max_size=3) if b else st.just(set()))
    )
    cost = {a: {b: 0.0 if a == b else float(draw(st.integers(0, 9))) for b in sites} for a in sites}
    resident = {v: tuple(draw(st.sets(st.sampled_from(candidates[v]), max_size=1))) for v in nodes}
    return PlacementProblem(
        nodes=nodes,
        candidates=candidates,
        edges=edges,
        sites=sites,
        homesite=sites[0],
        link_costs=cost,  # possibly asymmetric
        resident={v: r for v, r in resident.items() if r},
    )


@PROPERTY_SETTINGS
@given(random_problems())
def test_optimal_equals_brute_force_on_raw_problems(problem):
    expected = brute_force(problem)
    if expected is None:
        with pytest.raises(CompileError):
            optimal(problem)
        with pytest.raises(CompileError):
            greedy(problem)
        return
    assert optimal(problem) == expected
    by_greedy = greedy(problem)
    check_placement(problem, by_greedy, "greedy")
    assert problem.cost(by_greedy) >= problem.cost(expected)


def chain_problem(n: int, sites: int) -> PlacementProblem:
    names = tuple(f"s{i}" for i in range(sites))
    nodes = tuple(f"n{i}" for i in range(n))
    return PlacementProblem(
        nodes=nodes,
        candidates={v: names for v in nodes},
        edges=tuple((nodes[i], nodes[i + 1], 10 + i % 7) for i in range(n - 1)),
        sites=names,
        homesite=names[0],
        link_costs={
            a: {b: 0.0 if a == b else 1.0 + (ord(a[-1]) + ord(b[-1])) % 3 for b in names} for a in names
        },
    )


def test_auto_uses_greedy_beyond_the_limit():
    problem = chain_problem(12, 3)  # 3**12 = 531,441 > AUTO_LIMIT
    assert problem.search_space() > AUTO_LIMIT
    assert auto(problem) == greedy(problem)


def test_auto_is_exact_within_the_limit():
    problem = chain_problem(8, 3)  # 3**8 = 6,561
    assert auto(problem) == optimal(problem)


def test_fixed_nodes_split_the_search():
    # a pinned node in the middle cuts a 16-node chain into two 8-node searches
    problem = chain_problem(17, 3)
    candidates = dict(problem.candidates)
    candidates["n8"] = ("s1",)
    import attrs

    pinned = attrs.evolve(problem, candidates=candidates)
    placement = auto(pinned)
    assert placement == optimal(pinned)
    assert placement["n8"] == "s1"


def test_greedy_falls_back_to_a_complete_search_at_a_dead_end():
    # a and c take their first sites, pinning x to s0 and y to s1 (their outputs stay
    # there); then b has no site left: its output stays wherever it runs (s2 or s3), so
    # x and y would both have to be there. A complete search moves a and c instead.
    sites = tuple(f"s{i}" for i in range(6))
    problem = PlacementProblem(
        nodes=("a", "c", "b", "x", "y"),
        candidates={
            "a": ("s0", "s4"),
            "c": ("s1", "s5"),
            "b": ("s2", "s3"),
            "x": ("s0", "s2", "s3"),
            "y": ("s1", "s2", "s3"),
        },
        edges=(("a", "x", 1), ("b", "x", 1), ("b", "y", 1), ("c", "y", 1)),
        sites=sites,
        homesite="s0",
        link_costs={a: {b: 0.0 if a == b else 1.0 for b in sites} for a in sites},
        resident={"a": ("s0",), "c": ("s1",), "b": ("s2", "s3")},
    )
    placement = greedy(problem)
    check_placement(problem, placement, "greedy")
    best = brute_force(problem)
    assert best is not None
    assert optimal(problem) == best
    assert problem.cost(placement) >= problem.cost(best)


def test_complete_search_reports_an_unsatisfiable_combination():
    from dfm.compiler.placement.components import Component
    from dfm.compiler.placement.greedy import feasible_assignment

    comp = Component(
        ["a", "b"], [[0], [1]], [{}, {}], [], [(0, 1, 0)], [[0.0, 1.0], [1.0, 0.0]], ["a (x.A)", "b (x.B)"]
    )
    with pytest.raises(
        CompileError, match=r"no placement satisfies the data residency policies of a \(x.A\), b \(x.B\)"
    ):
        feasible_assignment(comp)


@PROPERTY_SETTINGS
@given(random_problems())
def test_auto_equals_brute_force_on_raw_problems(problem):
    """auto enumerates small components in plain Python: still exact, same tie-break."""
    expected = brute_force(problem)
    if expected is None:
        with pytest.raises(CompileError):
            auto(problem)
        return
    assert auto(problem) == expected


@PROPERTY_SETTINGS
@given(random_problems())
def test_exhaustive_component_equals_optimal_component(problem):
    from dfm.compiler.placement.components import prepare
    from dfm.compiler.placement.exhaustive import exhaustive_component
    from dfm.compiler.placement.optimal import optimal_component

    try:
        components = prepare(problem).components
    except CompileError:
        return
    for comp in components:
        try:
            expected = optimal_component(comp)
        except CompileError:
            with pytest.raises(CompileError):
                exhaustive_component(comp)
            continue
        assert exhaustive_component(comp) == expected
