"""``compile_pipeline``: graph -> placement -> lowering -> verification -> PreparedPipeline."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from dfm.compiler.analysis import as_pipeline_ir
from dfm.compiler.digraph import DataflowGraph
from dfm.compiler.graph import as_federation, build_graph
from dfm.compiler.lowering import lower
from dfm.compiler.placement.problem import PlacementProblem
from dfm.compiler.verify import verify_nets
from dfm.kernel.config.models import Federation
from dfm.kernel.errors import CompileError
from dfm.kernel.gcpause import gc_paused
from dfm.kernel.ir import pipeline as ir
from dfm.kernel.ir import serde
from dfm.kernel.ir.display import remember_federation
from dfm.kernel.ir.net import PreparedPipeline

if TYPE_CHECKING:
    from dfm.api.federation import FederationHandle
    from dfm.api.pipeline import Pipeline
    from dfm.kernel.plugins import DfmPluginManager

__all__ = [
    "PHASES",
    "Compilation",
    "gc_paused",
    "Strategy",
    "check_placement",
    "compile_pipeline",
    "compile_with_details",
    "resolve_strategy",
]

Strategy = Callable[[PlacementProblem], Mapping[str, str]]

logger = logging.getLogger("dfm.compiler")


@attrs.frozen
class Compilation:
    """Every intermediate result of one compilation (for ``dfm pipeline show`` and tools)."""

    graph: DataflowGraph = attrs.field(eq=False)
    problem: PlacementProblem
    placement: dict[str, str]
    prepared: PreparedPipeline
    # warnings about the cost estimates (e.g. site pairs without send_cost), each once;
    # also logged on the "dfm.compiler" logger
    diagnostics: tuple[str, ...] = ()
    # site -> SHA-256 of its net's canonical JSON: what a session installs it under (computed from
    # the texts the prepared digest is made of, so no net is serialised twice)
    net_digests: dict[str, str] = attrs.Factory(dict)


def resolve_strategy(
    strategy: str | Strategy, manager: DfmPluginManager | None = None
) -> tuple[str, Strategy]:
    """A strategy by name (through the plugin registry) or a strategy function as given."""
    if callable(strategy):
        return getattr(strategy, "__name__", "custom"), strategy
    if manager is None:
        from dfm.kernel import get_plugin_manager

        manager = get_plugin_manager()
    entry = manager.get("placement_strategies", strategy)  # UnknownPluginError with a did-you-mean
    function = entry.load()
    if not callable(function):
        raise CompileError(f"placement strategy '{strategy}' ({entry.source}) is not callable")
    return strategy, function


def check_placement(problem: PlacementProblem, placement: Mapping[str, Any], strategy: str) -> dict[str, str]:
    """Check a strategy's answer against every hard constraint; return it in node order."""
    issues: list[str] = []
    if not isinstance(placement, Mapping):
        raise CompileError(
            f"placement strategy '{strategy}' returned {type(placement).__name__}, "
            "expected a mapping node -> site"
        )
    for node in problem.nodes:
        site = placement.get(node)
        if site is None:
            issues.append(f"{problem.label(node)} is not placed")
        elif site not in problem.candidates[node]:
            issues.append(
                f"{problem.label(node)} is placed at {site!r}, not one of its candidates "
                f"({', '.join(problem.candidates[node])})"
            )
    extra = sorted(set(placement) - set(problem.nodes))
    if extra:
        issues.append(f"unknown nodes placed: {', '.join(map(str, extra))}")
    if not issues:
        for node, other in problem.colocate.items():
            if placement[node] != placement[other]:
                issues.append(
                    f"{problem.label(node)} must share a site with {problem.label(other)} "
                    f"({placement[node]} != {placement[other]})"
                )
        for u, v, _ in problem.edges:
            site = placement[u]
            if site in problem.resident.get(u, ()) and placement[v] != site:
                issues.append(
                    f"the output of {problem.label(u)} is resident at {site} but its consumer "
                    f"{problem.label(v)} is placed at {placement[v]}"
                )
    if issues:
        raise CompileError(
            f"placement strategy '{strategy}' returned an invalid placement:\n  " + "\n  ".join(issues)
        )
    return {node: str(placement[node]) for node in problem.nodes}


PHASES = ("graph", "problem", "placement", "lowering", "verify", "digest")


def compile_with_details(
    federation: Federation | FederationHandle,
    pipeline: ir.PipelineIR | Pipeline,
    strategy: str | Strategy = "auto",
    *,
    manager: DfmPluginManager | None = None,
    timings: dict[str, float] | None = None,
    restrict_to_sites: Iterable[str] | None = None,
) -> Compilation:
    """Like :func:`compile_pipeline`, also returning the graph, problem and placement.

    If ``timings`` is given, the seconds spent in each of :data:`PHASES` are stored in it.
    ``restrict_to_sites``: place operations on these sites only (they must include the homesite).
    """
    fed = as_federation(federation)
    pir = as_pipeline_ir(pipeline)
    if pir.mode != "execute":
        raise CompileError(
            f"pipeline '{pir.name}' is a discovery pipeline (Pipeline(mode={pir.mode!r})): it is "
            "not placed or compiled; ask for advice with session.discover(pipeline)"
        )
    deep = ir.nesting_problem(pir)  # the phases below recurse through the pipeline
    if deep is not None:
        raise CompileError(f"pipeline '{pir.name}': {deep} (the limit)")
    name, place = resolve_strategy(strategy, manager)
    clock = time.perf_counter
    marks = [clock()]
    with gc_paused():
        graph = build_graph(fed, pir, restrict_to_sites)
        marks.append(clock())
        problem = PlacementProblem.from_graph(graph, fed)
        marks.append(clock())
        placement = check_placement(problem, place(problem), name)
        marks.append(clock())
        nets = lower(graph, placement, fed)
        marks.append(clock())
        verify_nets(nets, problem.homesite, problem, placement)
        marks.append(clock())
        prepared = PreparedPipeline(
            federation=fed.name,
            homesite=problem.homesite,
            pipeline=pir,
            placement=placement,
            nets=nets,
            strategy=name,
            cost=float(problem.cost(placement)),
        )
        texts = {site: serde.canonical_json(n) for site, n in nets.items()}
        prepared = attrs.evolve(prepared, digest=serde.digest(prepared, net_texts=texts))
        net_digests = {site: serde.text_digest(text) for site, text in texts.items()}
        del texts
        marks.append(clock())
    remember_federation(prepared, fed)  # pictures of it in Jupyter show candidates, bytes, residency
    for message in problem.diagnostics:
        logger.warning("pipeline '%s': %s", pir.name, message)
    if timings is not None:
        for phase, start, end in zip(PHASES, marks[:-1], marks[1:], strict=True):
            timings[phase] = end - start
        timings["total"] = marks[-1] - marks[0]
    return Compilation(graph, problem, placement, prepared, problem.diagnostics, net_digests)


def compile_pipeline(
    federation: Federation | FederationHandle,
    pipeline: ir.PipelineIR | Pipeline,
    strategy: str | Strategy = "auto",
    *,
    manager: DfmPluginManager | None = None,
    restrict_to_sites: Iterable[str] | None = None,
) -> PreparedPipeline:
    """Compile ``pipeline`` for ``federation`` into a :class:`PreparedPipeline`.

    ``strategy`` names a placement strategy registered through the
    ``dfm_placement_strategies`` hook (``auto``, ``optimal``, ``greedy`` ship with
    dfm-compiler), looked up in ``manager`` (default: the process-wide plugin
    manager), or is a strategy function. Raises :class:`CompileError` when the
    pipeline cannot be placed or lowered, :class:`UnknownPluginError` for an
    unknown strategy name.

    Compiling the same pipeline for the same federation twice gives equal results
    with the same ``digest`` (the SHA-256 of the canonical JSON of everything else).
    """
    return compile_with_details(
        federation, pipeline, strategy, manager=manager, restrict_to_sites=restrict_to_sites
    ).prepared
