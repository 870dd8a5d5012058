"""NVIDIA DFM's own placement rule, on our estimates: the yardstick no strategy may lose to."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # components.solve calls this module
    from dfm.compiler.placement.components import Prepared

__all__ = ["reference_rule"]


def reference_rule(prepared: Prepared) -> dict[str, str] | None:
    """NVIDIA DFM's greedy placement rule, on our estimates and hard constraints.

    Nodes (co-located groups) in canonical order, each to the allowed site minimising its
    own compute cost plus the cost of bringing its inputs there from where they were
    placed; ties to the smaller site index. A site that would break data residency with
    a placed group is skipped; None when some group has no site left.
    """
    problem = prepared.problem
    sites = prepared.sites
    group_of = prepared.group_of
    own: dict[str, dict[int, float]] = {}
    for node, by_site in problem.compute_costs.items():
        row = own.setdefault(group_of[node], {})
        for s, site in enumerate(sites):
            row[s] = row.get(s, 0.0) + by_site.get(site, 0.0)
    inputs: dict[str, list[tuple[str, int]]] = {}
    for u, v, nbytes in problem.edges:
        if group_of[u] != group_of[v]:
            inputs.setdefault(group_of[v], []).append((group_of[u], nbytes))
    pins_in: dict[str, list[tuple[str, int]]] = {}  # consumer -> (producer, site keeping its output)
    pins_out: dict[str, list[tuple[str, int]]] = {}
    for gu, gv, s in prepared.constraints:
        pins_in.setdefault(gv, []).append((gu, s))
        pins_out.setdefault(gu, []).append((gv, s))
    m = prepared.matrix
    f = prepared.transfer
    placed: dict[str, int] = {}
    for g in prepared.reps:
        best, best_cost = -1, 0.0
        for s in prepared.domain[g]:
            if any(placed.get(p) == rs and s != rs for p, rs in pins_in.get(g, ())):
                continue
            if any(s == rs and c in placed and placed[c] != rs for c, rs in pins_out.get(g, ())):
                continue
            cost = own.get(g, {}).get(s, 0.0)
            for p, nbytes in inputs.get(g, ()):
                t = placed.get(p)
                if t is not None and t != s:
                    cost += nbytes * m[t][s] + (f[t][s] if f is not None else 0.0)
            if best < 0 or cost < best_cost:
                best, best_cost = s, cost
        if best < 0:
            return None
        placed[g] = best
    return {n: sites[placed[group_of[n]]] for n in problem.nodes}
