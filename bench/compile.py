"""Benchmark of the compiler: time per phase and peak memory, by pipeline shape, size and site count.

    python bench/compile.py                 # the full grid (a few minutes on 2 cores)
    python bench/compile.py --quick         # sizes up to 1,000 only
    python bench/compile.py --sizes 1000 --sites 10 --shapes chain

Shapes: ``chain`` (each operation reads the previous one), ``fan`` (one source read by
many mappers, then a binary tree of combiners) and ``dag`` (each operation reads one or
two recent earlier ones, a few results yielded). Federations are generated: every site
offers a random subset of the operations, one source operation is resident at the site
holding the data (which offers every operation), links have random costs.

Phases, as timed by ``compile_with_details(..., timings=...)``: ``graph`` (build_graph),
``problem`` (PlacementProblem.from_graph), ``placement`` (the strategy), ``lowering``
(per-site nets), ``verify``, ``digest`` (canonical JSON + SHA-256). Times are the best of
several runs without tracing; peak memory is measured in a separate run under
tracemalloc. ``optimal`` is skipped when the largest independent component of the
problem has a search space above OPTIMAL_LIMIT (it is exponential).

Prints a table and writes bench/out/compile.json. Not a test: nothing here fails.

    python bench/compile.py --first-compile [--runs N]

measures instead what a fresh process pays for its first compile (issue 17: target
under 100 ms): examplefed's demo pipeline (three GreetMe calls, one per site, and
their Yields) compiled with ``auto`` right after loading the federation, timed inside
the process (import of the compiler plus the compile), and the whole process with and
without the compile, run alternately (A B A B ...); writes bench/out/first_compile.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import platform
import random
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import dfm.compiler.plugin
from dfm.compiler.driver import PHASES, compile_with_details
from dfm.compiler.graph import build_graph
from dfm.compiler.placement.components import prepare
from dfm.compiler.placement.problem import PlacementProblem
from dfm.kernel import DfmPluginManager
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
from dfm.kernel.ir import pipeline as ir
from dfm.kernel.ir.net import PreparedPipeline

OUT = Path(__file__).resolve().parent / "out" / "compile.json"
SIZES = (10, 100, 1_000, 10_000)
SITES = (3, 10, 50)
SHAPES = ("chain", "fan", "dag")
STRATEGIES = ("greedy", "auto", "optimal")
OPTIMAL_LIMIT = 10**6
N_OPS = 24  # operation types in the generated federation

MANAGER = DfmPluginManager(strict=True)  # dfm-compiler's strategies only, nothing else loaded
MANAGER.register_plugin(dfm.compiler.plugin, distribution="dfm-compiler", version="0.1.0")


# -- generated inputs -----------------------------------------------------------------------


def make_federation(n_sites: int, seed: int = 7) -> Federation:
    rng = random.Random(seed * 1000 + n_sites)
    sites = [f"site{i:02d}" for i in range(n_sites)]
    offered: dict[str, list[str]] = {}
    offered["data.Read"] = [sites[-1]]  # the data lives on one site and stays there
    offered["ops.Combine"] = rng.sample(sites, min(n_sites, 3))
    for k in range(N_OPS):
        where = rng.sample(sites, rng.randint(1, min(n_sites, 4)))
        if sites[-1] not in where:  # the data site can run every operation on its data
            where.append(sites[-1])
        offered[f"ops.Op{k:02d}"] = where
    operations = {
        name: Operation(estimated_size=rng.choice((64, 1_000, 10_000, 100_000, 1_000_000)))
        for name in offered
    }
    operations["data.Read"] = Operation(estimated_size=10_000_000)
    site_specs = {}
    for site in sites:
        interface = {
            f"#/operations/{op}": InterfaceEntry(adapter="bench.Adapter")
            for op, where in offered.items()
            if site in where
        }
        policy = SitePolicy(resident=["data.Read"] if site in offered["data.Read"] else [])
        site_specs[site] = Site(interface=interface, policy=policy)
    costs = [
        LinkCost([a, b], float(rng.choice((0.5, 1, 2, 4, 8))))
        for i, a in enumerate(sites)
        for b in sites[i + 1 :]
        if rng.random() < 0.7
    ]
    return Federation(
        dfm="1.0.0",
        info=Info(api_version="1.0.0", code_package=f"bench{n_sites}"),
        operations=operations,
        sites=site_specs,
        homesite=sites[0],
        links=Links(default_cost=1.0, costs=costs),
    )


def _op(rng: random.Random) -> str:
    return f"ops.Op{rng.randrange(N_OPS):02d}"


def make_pipeline(shape: str, n: int, seed: int = 11) -> ir.PipelineIR:
    """About ``n`` operation calls, plus yields."""
    rng = random.Random(seed * 7919 + n)
    stmts: list[ir.Statement] = []
    counter = 0

    def call(operation: str, *refs: str, param: bool = False) -> str:
        nonlocal counter
        counter += 1
        node = f"n{counter}"
        args: dict[str, ir.Value] = {f"x{i}": ir.Ref(r) for i, r in enumerate(refs)}
        if param:
            args["p"] = ir.Param("p")
        stmts.append(ir.Call(node, operation, args))
        return node

    def yield_(ref: str, place: str) -> None:
        nonlocal counter
        counter += 1
        stmts.append(ir.Yield(f"n{counter}", ir.Ref(ref), place))

    if shape == "chain":
        last = call("data.Read", param=True)
        for _ in range(n - 1):
            last = call(_op(rng), last)
        yield_(last, "out")
    elif shape == "fan":
        source = call("data.Read", param=True)
        layer = [call(_op(rng), source) for _ in range(max(1, n // 2))]
        while len(layer) > 1:
            nxt = [call("ops.Combine", layer[i], layer[i + 1]) for i in range(0, len(layer) - 1, 2)]
            if len(layer) % 2:
                nxt.append(layer[-1])
            layer = nxt
        yield_(layer[0], "out")
    else:  # dag
        nodes = [call("data.Read", param=True)]
        for i in range(1, n):
            k = rng.choice((1, 1, 2))
            window = nodes[max(0, i - 20) :]
            refs = rng.sample(window, min(k, len(window)))
            nodes.append(call(_op(rng), *refs, param=rng.random() < 0.05))
        for j, node in enumerate(nodes[-1:] + rng.sample(nodes, max(0, n // 100))):
            yield_(node, f"out{j}")
    return ir.PipelineIR(tuple(stmts), ("p",), f"{shape}{n}")


# -- measuring --------------------------------------------------------------------------------


def compile_phases(
    fed: Federation, pipeline: ir.PipelineIR, strategy: str
) -> tuple[dict[str, float], PreparedPipeline, PlacementProblem]:
    """One compilation through the library's own entry point, with its phase timings."""
    times: dict[str, float] = {}
    done = compile_with_details(fed, pipeline, strategy, manager=MANAGER, timings=times)
    return times, done.prepared, done.problem


def largest_component_space(problem: PlacementProblem) -> float:
    """log10 of the largest component's search space (after fixing and residency)."""
    prepared = prepare(problem)
    best = 0.0
    for comp in prepared.components:
        best = max(best, sum(math.log10(len(d)) for d in comp.domains))
    return best


def measure(shape: str, n: int, n_sites: int, strategy: str, repeat: int) -> dict[str, Any]:
    fed = make_federation(n_sites)
    pipeline = make_pipeline(shape, n)
    record: dict[str, Any] = {"shape": shape, "ops": n, "sites": n_sites, "strategy": strategy}
    graph = build_graph(fed, pipeline)
    problem = PlacementProblem.from_graph(graph, fed)
    record["nodes"] = len(problem.nodes)
    record["edges"] = len(problem.edges)
    record["space_log10"] = round(sum(math.log10(len(c)) for c in problem.candidates.values()), 1)
    comp_log = largest_component_space(problem)
    record["largest_component_log10"] = round(comp_log, 1)
    if strategy == "optimal" and comp_log > math.log10(OPTIMAL_LIMIT):
        record["skipped"] = f"search space of the largest component ~10^{comp_log:.0f} > {OPTIMAL_LIMIT:.0e}"
        return record
    best: dict[str, float] | None = None
    prepared = None
    for _ in range(repeat):
        gc.collect()
        times, prepared, _problem = compile_phases(fed, pipeline, strategy)
        if best is None or times["total"] < best["total"]:
            best = times
    assert best is not None and prepared is not None
    record["ms"] = {k: round(v * 1000, 3) for k, v in best.items()}
    record["cost"] = prepared.cost
    record["nets"] = len(prepared.nets)
    record["transitions"] = sum(len(net.transitions) for net in prepared.nets.values())
    gc.collect()
    tracemalloc.start()
    compile_phases(fed, pipeline, strategy)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    record["peak_mib"] = round(peak / 2**20, 2)
    return record


def repeats(n: int) -> int:
    return 7 if n <= 100 else 5 if n <= 1_000 else 2


def fmt_row(r: dict[str, Any]) -> str:
    head = f"{r['shape']:<6}{r['ops']:>7}{r['sites']:>6}  {r['strategy']:<8}"
    if "skipped" in r:
        return head + f"  skipped: {r['skipped']}"
    ms = r["ms"]
    phases = "".join(f"{ms[p]:>10.2f}" for p in PHASES)
    return head + f"{ms['total']:>10.2f}{phases}{r['peak_mib']:>9.1f}{r['cost']:>16.0f}"


EXAMPLEFED = Path(__file__).resolve().parent.parent / "federations" / "examplefed" / "examplefed.dfm.yaml"
FIRST_COMPILE_PROBE = """
import json, sys, time
from dfm.api import Pipeline, PlaceParam, Yield, load_federation
fed = load_federation(sys.argv[1])
with Pipeline("greetings") as pipeline:
    name = PlaceParam("name")
    for site in ("concierge", "server", "reception"):
        Yield(fed.api.users.GreetMe(name=name, site=site), place=site)
if sys.argv[2] == "compile":
    start = time.perf_counter()
    from dfm.compiler import compile_pipeline
    prepared = compile_pipeline(fed, pipeline)
    ms = (time.perf_counter() - start) * 1000
    heavy = sorted(m for m in ("networkx", "constraint") if m in sys.modules)
    print(json.dumps({"ms": ms, "heavy": heavy, "strategy": prepared.strategy}))
"""


def first_compile(runs: int, out: Path) -> int:
    """Import plus first compile of examplefed's pipeline in fresh processes (see the docstring)."""
    import os
    import statistics
    import subprocess
    import time

    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

    def run(mode: str) -> tuple[float, dict[str, Any]]:
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", FIRST_COMPILE_PROBE, str(EXAMPLEFED), mode],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        wall = (time.perf_counter() - start) * 1000
        return wall, json.loads(done.stdout) if mode == "compile" else {}

    for _ in range(2):  # warm-up: bytecode written, OS caches filled
        run("compile")
        run("load")
    inside, with_compile, without, ratios = [], [], [], []
    heavy: set[str] = set()
    for _ in range(runs):
        wall_a, report = run("compile")
        wall_b, _ = run("load")
        inside.append(report["ms"])
        heavy.update(report["heavy"])
        with_compile.append(wall_a)
        without.append(wall_b)
        ratios.append(wall_a / wall_b)
    med = statistics.median
    result = {
        "runs": runs,
        "import_and_first_compile_ms": round(med(inside), 2),
        "import_and_first_compile_max_ms": round(max(inside), 2),
        "process_with_compile_ms": round(med(with_compile), 1),
        "process_without_compile_ms": round(med(without), 1),
        "with_over_without": round(med(ratios), 3),
        "heavy_modules_imported": sorted(heavy),
        "python": sys.version.split()[0],
    }
    print(f"examplefed demo pipeline, auto, {runs} fresh processes each (after 2 warm-up pairs)")
    print(f"  import + first compile, in-process, median  {result['import_and_first_compile_ms']:8.1f} ms")
    print(f"  whole process, load + compile, median       {result['process_with_compile_ms']:8.1f} ms")
    print(f"  whole process, load only, median            {result['process_without_compile_ms']:8.1f} ms")
    print(f"  with / without compile, paired, median      {result['with_over_without']:8.3f}")
    heavy_text = ", ".join(result["heavy_modules_imported"]) or "neither"
    print(f"  networkx / python-constraint imported: {heavy_text}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--first-compile", action="store_true", help="only the fresh-process first compile")
    parser.add_argument("--runs", type=int, default=15, help="fresh processes for --first-compile")
    parser.add_argument("--quick", action="store_true", help="sizes up to 1,000 only")
    parser.add_argument("--sizes", type=int, nargs="*", default=None)
    parser.add_argument("--sites", type=int, nargs="*", default=None)
    parser.add_argument("--shapes", nargs="*", default=None, choices=SHAPES)
    parser.add_argument("--strategies", nargs="*", default=None, choices=STRATEGIES)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if args.first_compile:
        return first_compile(args.runs, OUT.with_name("first_compile.json"))
    sizes = args.sizes or [s for s in SIZES if not args.quick or s <= 1_000]
    site_counts = args.sites or list(SITES)
    shapes = args.shapes or list(SHAPES)
    strategies = args.strategies or list(STRATEGIES)

    # warm up imports and caches so the first row is not charged for them
    compile_phases(make_federation(3), make_pipeline("chain", 10), "auto")

    header = (
        f"{'shape':<6}{'ops':>7}{'sites':>6}  {'strategy':<8}{'total ms':>10}"
        + "".join(f"{p:>10}" for p in PHASES)
        + f"{'peak MiB':>9}{'cost':>16}"
    )
    print(header)
    print("-" * len(header))
    records = []
    for shape in shapes:
        for n in sizes:
            for n_sites in site_counts:
                row: dict[str, dict[str, Any]] = {}
                for strategy in strategies:
                    record = measure(shape, n, n_sites, strategy, repeats(n))
                    row[strategy] = record
                    records.append(record)
                    print(fmt_row(record), flush=True)
                if "greedy" in row and "auto" in row and "cost" in row["auto"]:
                    row["auto"]["not_worse_than_greedy"] = row["auto"]["cost"] <= row["greedy"]["cost"]
                    if not row["auto"]["not_worse_than_greedy"]:
                        print("  !! auto is worse than greedy here", flush=True)

    print()
    print("greedy, microseconds per node (total / nodes), by size:")
    for n_sites in site_counts:
        for shape in shapes:
            cells = [
                f"{r['ops']:>6}: {1000 * r['ms']['total'] / r['nodes']:6.1f}"
                for r in records
                if r["strategy"] == "greedy" and r["sites"] == n_sites and r["shape"] == shape and "ms" in r
            ]
            print(f"  {shape:<6}{n_sites:>3} sites  " + "   ".join(cells))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "optimal_limit": OPTIMAL_LIMIT,
    }
    args.out.write_text(json.dumps({"meta": meta, "results": records}, indent=1) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
