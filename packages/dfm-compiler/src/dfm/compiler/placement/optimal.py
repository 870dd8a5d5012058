"""``optimal``: exact minimum-cost placement.

python-constraint enumerates the assignments that satisfy the hard constraints
(domains and data residency); a global constraint added to the same problem does
branch-and-bound on cost: at every partial assignment it computes a lower bound of
the cost of any completion and rejects the partial assignment when that bound cannot
beat the best placement found so far. The search starts from the greedy placement.

Among placements of equal cost the lexicographically smallest one wins (nodes in
canonical order, sites in tie-break order: homesite first, then by name), whatever
order the solver enumerates in, so the result is deterministic and equal to a brute
force over all feasible placements with the same tie-break.

python-constraint is imported on the first search, not with this module.

The search is exponential in the worst case: ``auto`` uses it only on components
whose search space is small. Calling ``optimal`` directly on a large problem may
take very long.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from dfm.compiler.placement.components import Assignment, Component, solve
from dfm.compiler.placement.greedy import greedy_component
from dfm.compiler.placement.problem import PlacementProblem

__all__ = ["optimal", "optimal_component"]


def optimal(problem: PlacementProblem) -> dict[str, str]:
    """Exact minimum-cost placement (branch-and-bound over python-constraint)."""
    return solve(problem, lambda comp: optimal_component)


class _Search:
    """Incumbent and bound tables shared by the bound constraint and the driver."""

    def __init__(self, comp: Component, incumbent: Assignment) -> None:
        self.comp = comp
        self.n = len(comp)
        self.best = list(incumbent)
        self.best_cost = comp.cost(incumbent)
        # per edge: (a, b, w, transfers, min over b's domain given a's site, min over a's
        # given b's, min over both)
        self.edges: list[tuple[int, int, float, int, dict[int, float], dict[int, float], float]] = []
        cost = comp.edge_cost
        for a, b, w, c in comp.edges:
            da, db = comp.domains[a], comp.domains[b]
            fwd = {s: min(cost(w, c, s, t) for t in db) for s in da}
            bwd = {t: min(cost(w, c, s, t) for s in da) for t in db}
            self.edges.append((a, b, w, c, fwd, bwd, min(fwd.values())))

    def offer(self, x: Assignment) -> None:
        cost = self.comp.cost(x)
        if (cost, x) < (self.best_cost, self.best):
            self.best, self.best_cost = x, cost

    def lower_bound(
        self, assignments: Mapping[Any, int], domains: Mapping[Any, Sequence[int]]
    ) -> float | None:
        """A lower bound of every completion's cost, or None if some domain is empty."""
        comp = self.comp
        cost = comp.edge_cost
        total = 0.0
        for k in range(self.n):
            unary = comp.unary[k]
            s = assignments.get(k)
            if s is not None:
                total += unary.get(s, 0.0)
            elif unary:
                dom = domains[k]
                if not dom:
                    return None
                total += min(unary.get(t, 0.0) for t in dom)
        for a, b, w, c, fwd, bwd, both in self.edges:
            sa = assignments.get(a)
            sb = assignments.get(b)
            if sa is not None:
                total += cost(w, c, sa, sb) if sb is not None else fwd[sa]
            elif sb is not None:
                total += bwd[sb]
            else:
                total += both
        return total

    def may_beat_on_ties(self, assignments: Mapping[Any, int], domains: Mapping[Any, Sequence[int]]) -> bool:
        """Can some completion be lexicographically smaller than the incumbent?"""
        best = self.best
        for k in range(self.n):
            s = assignments.get(k)
            if s is not None:
                if s != best[k]:
                    return s < best[k]
                continue
            dom = domains[k]
            if not dom:
                return False
            if min(dom) < best[k]:
                return True
            if best[k] not in dom:
                return False
        return False


@cache
def _bound_constraint_class() -> type:
    """The bound constraint's class, made on first use (python-constraint is imported then)."""
    from constraint import Constraint  # type: ignore[import-untyped]

    class _BoundConstraint(Constraint):  # type: ignore[misc]
        """Rejects partial assignments whose completions cannot beat the incumbent."""

        def __init__(self, search: _Search) -> None:
            self.search = search

        def __call__(
            self,
            variables: Sequence[Any],
            domains: Mapping[Any, Sequence[int]],
            assignments: Mapping[Any, int],
            forwardcheck: Any = False,
        ) -> bool:
            search = self.search
            bound = search.lower_bound(assignments, domains)
            if bound is None:
                return False
            best = search.best_cost
            tol = 1e-9 * max(1.0, abs(best))
            if bound > best + tol:
                return False
            if bound >= best - tol:
                return search.may_beat_on_ties(assignments, domains)
            return True

    return _BoundConstraint


def optimal_component(comp: Component) -> Assignment:
    """Exact minimum of one component (see the module docstring)."""
    incumbent = greedy_component(comp)
    n = len(comp)
    if n == 0:
        return incumbent
    from constraint import BacktrackingSolver, FunctionConstraint, Problem

    search = _Search(comp, incumbent)
    csp = Problem(BacktrackingSolver())
    for k, dom in enumerate(comp.domains):
        csp.addVariable(k, list(reversed(dom)))  # the solver tries the last value first
    for a, b, s in comp.residency:
        csp.addConstraint(FunctionConstraint(lambda p, c, s=s: p != s or c == s), (a, b))
    csp.addConstraint(_bound_constraint_class()(search), list(range(n)))
    for solution in csp.getSolutionIter():
        search.offer([solution[k] for k in range(n)])
    return search.best
