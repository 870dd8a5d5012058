"""``auto``: exact where affordable, greedy elsewhere.

The problem is split into independent components (nodes with a single allowed site
are fixed first, which cuts the graph); each component whose search space (product
of its nodes' allowed-site counts) is at most :data:`AUTO_LIMIT` is solved exactly,
the others greedily (components of at most ``EXHAUSTIVE_LIMIT`` assignments are
enumerated in plain Python, which gives the same answer as ``optimal`` without
importing python-constraint). Since the exact search starts from the greedy placement, and
costs add up over components, ``auto`` is never worse than ``greedy``.
"""

from __future__ import annotations

from dfm.compiler.placement.components import Component, Method, solve
from dfm.compiler.placement.exhaustive import EXHAUSTIVE_LIMIT, exhaustive_component
from dfm.compiler.placement.greedy import greedy_component
from dfm.compiler.placement.problem import PlacementProblem

__all__ = ["AUTO_LIMIT", "auto"]

AUTO_LIMIT = 100_000


def _choose(comp: Component) -> Method:
    space = comp.space(cap=AUTO_LIMIT)
    if space <= EXHAUSTIVE_LIMIT:  # small: enumerate (same answer, python-constraint not imported)
        return exhaustive_component
    if space <= AUTO_LIMIT:
        from dfm.compiler.placement.optimal import optimal_component

        return optimal_component
    return greedy_component


def auto(problem: PlacementProblem) -> dict[str, str]:
    """Optimal on small components, greedy on large ones."""
    return solve(problem, _choose)
