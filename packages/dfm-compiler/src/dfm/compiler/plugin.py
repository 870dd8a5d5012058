"""dfm-compiler's hook implementations (entry point ``dfm-compiler``).

Cheap to import: every record points at its implementation lazily, so listing
plugins or printing ``dfm --help`` imports neither networkx nor python-constraint.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

from dfm.kernel import CliCommandEntry, EmitterEntry, EmitterOption, PlacementStrategyEntry, hookimpl


@hookimpl
def dfm_placement_strategies() -> Iterator[PlacementStrategyEntry]:
    """The placement strategies: ``auto`` (the default), ``greedy`` and ``optimal``."""
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
    """The emitters: ``text``, ``dot`` and, when Graphviz's ``dot`` is installed, ``svg`` and ``png``;
    ``python-api`` for federations.
    """
    yield EmitterEntry(
        "text",
        "dfm.compiler.emitters.text:emit",
        summary="placed pipeline as a text table",
        takes="pipeline",
        writes="text",
    )
    yield EmitterEntry(
        "dot",
        "dfm.compiler.emitters.dot:emit",
        summary="placed pipeline as Graphviz DOT, by site",
        takes="pipeline",
        writes="text/vnd.graphviz",
    )
    if shutil.which("dot"):
        yield EmitterEntry(
            "svg",
            "dfm.compiler.emitters.graphviz:emit_svg",
            summary="placed pipeline as SVG",
            takes="pipeline",
            writes="image/svg+xml",
        )
        yield EmitterEntry(
            "png",
            "dfm.compiler.emitters.graphviz:emit_png",
            summary="placed pipeline as PNG",
            takes="pipeline",
            writes="image/png",
        )
    yield EmitterEntry(
        "python-api",
        "dfm.compiler.emitters.python_api:emit",
        summary="the federation's typed Python package: API, site-pinned classes, per-site runtime",
        takes="federation",
        writes="a Python package (<code-package>/fed/)",
        command="code",
        options=(
            EmitterOption("--cleanup", "Remove the files an earlier run wrote first.", flag=True),
            EmitterOption("--no-api", "Write only the per-site runtime modules.", flag=True),
            EmitterOption(
                "--runtime-site",
                "Write the runtime module of this site only (repeatable; default: every site).",
                multiple=True,
                metavar="SITE",
            ),
        ),
    )


@hookimpl(optionalhook=True)
def dfm_cli_commands() -> list[CliCommandEntry]:
    """``dfm pipeline ...`` (the hook's spec is dfm-cli's, hence optional)."""
    return [
        CliCommandEntry("pipeline", "dfm.compiler.cli:pipeline", summary="Inspect how pipelines are placed.")
    ]
