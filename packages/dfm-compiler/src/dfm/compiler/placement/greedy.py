"""``greedy``: linear-time placement.

Nodes are visited in topological order and each goes to the allowed site with the
smallest transfer cost to what is already placed (ties: homesite first, then by
name); a few improvement sweeps then move single nodes to strictly cheaper sites.
Residency is respected throughout (see :func:`dfm.compiler.placement._core.greedy_component`).
The result is always feasible when any feasible placement exists, and never cheaper
than ``optimal``.
"""

from __future__ import annotations

from dfm.compiler.placement._core import greedy_component, solve
from dfm.compiler.placement.problem import PlacementProblem

__all__ = ["greedy"]


def greedy(problem: PlacementProblem) -> dict[str, str]:
    """Linear-time heuristic placement."""
    return solve(problem, lambda comp: greedy_component)
