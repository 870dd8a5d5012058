"""``exhaustive``: the exact minimum of a small component, by enumerating every assignment.

Not a registered strategy: :func:`~dfm.compiler.placement.auto.auto` uses it for
components small enough that enumerating beats importing python-constraint.
"""

from __future__ import annotations

from dfm.compiler.placement.components import Assignment, Component, no_feasible_placement

__all__ = ["EXHAUSTIVE_LIMIT", "exhaustive_component"]

EXHAUSTIVE_LIMIT = 512  # auto enumerates components up to this search space without python-constraint


def exhaustive_component(comp: Component) -> Assignment:
    """Exact minimum of one small component by enumerating every assignment.

    Same answer as ``optimal_component``: the feasible assignment with the smallest
    ``(cost, assignment)``, assignments compared as tuples of site indices (the
    tie-break). Pure Python and linear in the search space, so ``auto`` uses it for
    components of at most :data:`EXHAUSTIVE_LIMIT` assignments and leaves python-constraint
    (and its import) to larger ones.
    """
    from itertools import product

    residency = comp.residency
    cost = comp.cost
    best: Assignment | None = None
    best_cost = 0.0
    for combo in product(*comp.domains):  # domains ascend: lexicographic order
        if residency and any(combo[a] == s and combo[b] != s for a, b, s in residency):
            continue
        c = cost(combo)
        if best is None or c < best_cost:  # the first of equal costs is the smallest
            best, best_cost = list(combo), c
    if best is None:
        raise no_feasible_placement(comp)
    return best
