"""dfm-compiler's hook implementations (entry point ``dfm-compiler``).

Cheap to import: every record points at its implementation lazily, so listing
plugins or printing ``dfm --help`` imports neither networkx nor python-constraint.
"""

from __future__ import annotations

import importlib
import shutil
from collections.abc import Iterator
from typing import Any

from dfm.kernel import EmitterEntry, PlacementStrategyEntry, hookimpl


@hookimpl
def dfm_placement_strategies() -> Iterator[PlacementStrategyEntry]:
    yield PlacementStrategyEntry(
        "auto",
        "dfm.compiler.placement.auto:auto",
        summary="exact on small components, greedy on large ones (the default)",
    )
    yield PlacementStrategyEntry(
        "greedy",
        "dfm.compiler.placement.greedy:greedy",
        summary="linear-time heuristic: topological order, cheapest site, improvement sweeps",
    )
    yield PlacementStrategyEntry(
        "optimal",
        "dfm.compiler.placement.optimal:optimal",
        summary="exact minimum cost: python-constraint with branch-and-bound",
    )


@hookimpl
def dfm_emitters() -> Iterator[EmitterEntry]:
    yield EmitterEntry("text", "dfm.compiler.emitters.text:emit", summary="placed pipeline as a text table")
    yield EmitterEntry(
        "dot", "dfm.compiler.emitters.dot:emit", summary="placed pipeline as Graphviz DOT, by site"
    )
    if shutil.which("dot"):
        yield EmitterEntry("svg", "dfm.compiler.emitters.graphviz:emit_svg", summary="placed pipeline as SVG")
        yield EmitterEntry("png", "dfm.compiler.emitters.graphviz:emit_png", summary="placed pipeline as PNG")


@hookimpl(optionalhook=True)
def dfm_cli_commands() -> list[Any]:
    """``dfm pipeline ...``; contributes nothing where dfm-cli is not installed."""
    try:
        records = importlib.import_module("dfm.cli.records")  # dfm-cli is optional
    except ImportError:
        return []
    entry = records.CliCommandEntry
    return [entry("pipeline", "dfm.compiler.cli:pipeline", summary="Inspect how pipelines are placed.")]
