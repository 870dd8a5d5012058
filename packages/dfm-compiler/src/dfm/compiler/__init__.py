"""DFM compiler: places a pipeline on a federation's sites and lowers it into per-site Petri nets.

Public API::

    from dfm.compiler import compile_pipeline, build_graph, PlacementProblem
    from dfm.compiler import optimal, greedy, auto       # the built-in strategies

Names are imported lazily, so that importing ``dfm.compiler.plugin`` (the entry
point) stays cheap: networkx and python-constraint load on first real use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dfm.compiler.driver import Compilation, check_placement, compile_pipeline, compile_with_details
    from dfm.compiler.graph import build_graph
    from dfm.compiler.lowering import lower
    from dfm.compiler.placement import AUTO_LIMIT, PlacementProblem, auto, greedy, optimal
    from dfm.compiler.verify import verify_nets

_EXPORTS = {
    "AUTO_LIMIT": "dfm.compiler.placement",
    "Compilation": "dfm.compiler.driver",
    "PlacementProblem": "dfm.compiler.placement",
    "auto": "dfm.compiler.placement",
    "build_graph": "dfm.compiler.graph",
    "check_placement": "dfm.compiler.driver",
    "compile_pipeline": "dfm.compiler.driver",
    "compile_with_details": "dfm.compiler.driver",
    "greedy": "dfm.compiler.placement",
    "lower": "dfm.compiler.lowering",
    "optimal": "dfm.compiler.placement",
    "verify_nets": "dfm.compiler.verify",
}

__all__ = [
    "AUTO_LIMIT",
    "Compilation",
    "PlacementProblem",
    "auto",
    "build_graph",
    "check_placement",
    "compile_pipeline",
    "compile_with_details",
    "greedy",
    "lower",
    "optimal",
    "verify_nets",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dfm.compiler' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
