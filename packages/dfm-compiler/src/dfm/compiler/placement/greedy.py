"""``greedy``: linear-time placement.

Nodes are visited in topological order and each goes to the allowed site with the
smallest transfer cost to what is already placed (ties: homesite first, then by
name); a few improvement sweeps then move single nodes to strictly cheaper sites.
Residency is respected throughout (see :func:`greedy_component`).
The result is always feasible when any feasible placement exists, and never cheaper
than ``optimal``.
"""

from __future__ import annotations

from collections.abc import Sequence

from dfm.compiler.placement.components import Assignment, Component, no_feasible_placement, solve
from dfm.compiler.placement.problem import PlacementProblem

__all__ = ["IMPROVEMENT_SWEEPS", "feasible_assignment", "greedy", "greedy_component", "improve"]


def greedy(problem: PlacementProblem) -> dict[str, str]:
    """Linear-time heuristic placement."""
    return solve(problem, lambda comp: greedy_component)


IMPROVEMENT_SWEEPS = 3


def greedy_component(comp: Component) -> Assignment:
    """Linear-time placement of one component.

    Groups are visited in canonical (topological) order; each goes to the allowed
    site with the smallest cost to the groups already placed (and to the fixed
    ones), ties to the smaller site index. A producer placed at a site where its
    output is resident pins its consumers there, and a site that would clash with
    such a pin is skipped. Then up to :data:`IMPROVEMENT_SWEEPS` sweeps move single
    groups to a strictly cheaper allowed site (the cost never goes up). If the
    forward pass ever runs out of sites, a complete search for any feasible
    assignment (python-constraint) replaces it.
    """
    n = len(comp)
    x = [-1] * n
    forced = [-1] * n
    for k in range(n):
        cands = comp.domains[k] if forced[k] < 0 else [forced[k]]
        res_out = comp.res_out[k]
        if res_out:  # skip sites whose residency pin would clash with a placed or pinned consumer
            cands = [
                s
                for s in cands
                if not any(
                    rs == s
                    and ((x[b] >= 0 and x[b] != s) or (x[b] < 0 and forced[b] >= 0 and forced[b] != s))
                    for b, rs in res_out
                )
            ]
        best = -1
        best_cost = 0.0
        for s, c in zip(cands, comp.candidate_costs(k, cands, x), strict=True):
            if best < 0 or c < best_cost:
                best, best_cost = s, c
        if best < 0:
            x = feasible_assignment(comp)
            break
        x[k] = best
        for b, rs in comp.res_out[k]:
            if rs == best and x[b] < 0:
                forced[b] = best
    improve(comp, x)
    return x


def improve(comp: Component, x: Assignment, sweeps: int = IMPROVEMENT_SWEEPS) -> None:
    """Move single groups to strictly cheaper allowed sites, in place.

    The first sweep visits every group; later ones only the neighbours of groups that
    moved (nothing else can have become cheaper elsewhere).
    """
    todo: Sequence[int] = range(len(comp))
    for _ in range(sweeps):
        moved: set[int] = set()
        for k in todo:
            domain = comp.domains[k]
            if len(domain) < 2:
                continue
            cur = x[k]
            constrained = comp.res_out[k] or comp.res_in[k]
            costs = comp.candidate_costs(k, domain, x)
            best, best_cost = cur, costs[domain.index(cur)]
            margin = 1e-12 * max(1.0, abs(best_cost))
            for s, c in zip(domain, costs, strict=True):
                if s != cur and c < best_cost - margin and (not constrained or comp.move_allowed(k, s, x)):
                    best, best_cost = s, c
            if best != cur:
                x[k] = best
                moved.add(k)
        if not moved:
            return
        todo = sorted({j for k in moved for j in comp.neighbours(k)})


def feasible_assignment(comp: Component) -> Assignment:
    """Any assignment satisfying residency (complete search), or CompileError."""
    from constraint import BacktrackingSolver, FunctionConstraint, Problem  # type: ignore[import-untyped]

    csp = Problem(BacktrackingSolver())
    for k, dom in enumerate(comp.domains):
        csp.addVariable(k, list(reversed(dom)))  # the solver tries the last value first
    for a, b, s in comp.residency:
        csp.addConstraint(FunctionConstraint(lambda p, c, s=s: p != s or c == s), (a, b))
    solution = csp.getSolution()
    if solution is None:
        raise no_feasible_placement(comp)
    return [solution[k] for k in range(len(comp))]
