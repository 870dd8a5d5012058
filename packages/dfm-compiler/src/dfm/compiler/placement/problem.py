"""The placement problem: what every placement strategy receives.

A strategy is a plain function ``strategy(problem: PlacementProblem) -> dict[node, site]``
that assigns every node of ``problem.nodes`` one of its candidate sites, such that

* co-located nodes (``colocate``: a loop scatter and the producer of its collection,
  a loop item and its scatter) share a site;
* data residency holds: for an edge ``u -> v`` with ``u`` placed at a site listed in
  ``resident[u]``, ``v`` is placed at that same site (the output never leaves it);

and the cost, ``sum(bytes * link_cost(site(u), site(v)) for u, v, bytes in edges)``, is
as small as the strategy can make it. Ties are broken by ``sites`` order (homesite
first, then by name) over ``nodes`` order, so that placement is deterministic.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    import networkx as nx  # type: ignore[import-untyped]

    from dfm.kernel.config.models import Federation

__all__ = ["Edge", "PlacementProblem", "link_cost_matrix"]

Edge = tuple[str, str, int]  # (producer, consumer, estimated bytes)


def link_cost_matrix(federation: Federation, sites: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """All pairwise link costs, with the semantics of :meth:`Federation.link_cost`.

    Built in ``O(sites² + links)`` rather than calling ``link_cost`` per pair.
    """
    default = float(federation.links.default_cost)
    matrix = {a: {b: (0.0 if a == b else default) for b in sites} for a in sites}
    seen: set[frozenset[str]] = set()
    for link in federation.links.costs:
        pair = frozenset(link.sites)
        if pair in seen:  # the first matching link wins, as in Federation.link_cost
            continue
        seen.add(pair)
        if len(pair) != 2 or not pair <= matrix.keys():
            continue
        a, b = sorted(pair)
        matrix[a][b] = matrix[b][a] = float(link.cost)
    return matrix


@attrs.frozen
class PlacementProblem:
    """Everything a placement strategy needs, independent of pipelines and configs."""

    nodes: tuple[str, ...]  # canonical order (a topological order of the dataflow graph)
    candidates: Mapping[str, tuple[str, ...]]  # node -> allowed sites, in ``sites`` order
    edges: tuple[Edge, ...]
    sites: tuple[str, ...]  # tie-break order: homesite first, then by name
    homesite: str
    link_costs: Mapping[str, Mapping[str, float]]  # site -> site -> cost per byte (0 on the diagonal)
    colocate: Mapping[str, str] = attrs.Factory(dict)  # node -> node it must share a site with
    resident: Mapping[str, tuple[str, ...]] = attrs.Factory(dict)  # node -> sites its output never leaves
    labels: Mapping[str, str] = attrs.Factory(dict)  # node -> "n3 (users.GreetMe)", for messages
    operations: Mapping[str, str] = attrs.Factory(dict)  # node -> operation whose residency applies

    def link_cost(self, a: str, b: str) -> float:
        return 0.0 if a == b else self.link_costs[a][b]

    def label(self, node: str) -> str:
        return self.labels.get(node, node)

    def cost(self, placement: Mapping[str, str]) -> float:
        """The estimated cost of a placement: bytes x link cost over every edge."""
        total = 0.0
        for u, v, nbytes in self.edges:
            a, b = placement[u], placement[v]
            if a != b:
                total += nbytes * self.link_costs[a][b]
        return total

    def search_space(self) -> int:
        """Product of the candidate counts of the nodes that are free (not co-located)."""
        total = 1
        for node in self.nodes:
            if node not in self.colocate:
                total *= len(self.candidates[node])
        return total

    @classmethod
    def from_graph(cls, graph: nx.DiGraph, federation: Federation) -> PlacementProblem:
        """The problem for a graph made by :func:`dfm.compiler.graph.build_graph`."""
        sites: tuple[str, ...] = graph.graph["sites"]
        order: tuple[str, ...] = graph.graph["order"]
        data = graph.nodes
        edges = sorted(
            ((u, v, int(d["bytes"])) for u, v, d in graph.edges(data=True)),
            key=lambda e: (data[e[1]]["index"], data[e[0]]["index"]),
        )
        return cls(
            nodes=order,
            candidates={n: tuple(data[n]["candidates"]) for n in order},
            edges=tuple(edges),
            sites=sites,
            homesite=graph.graph["homesite"],
            link_costs=link_cost_matrix(federation, sites),
            colocate={n: data[n]["colocate"] for n in order if data[n]["colocate"] is not None},
            resident={n: tuple(data[n]["resident"]) for n in order if data[n]["resident"]},
            labels={n: data[n]["label"] for n in order},
            operations=_residency_operations(graph, order),
        )


def _residency_operations(graph: nx.DiGraph, order: tuple[str, ...]) -> dict[str, str]:
    """node -> the operation whose residency policy applies to its output.

    A call's own operation; a loop item inherits the one of its collection's producer.
    """
    out: dict[str, str] = {}
    for node in order:
        data = graph.nodes[node]
        if data["kind"] == "call":
            out[node] = data["operation"]
        elif data["kind"] == "item":
            producer = getattr(data["stmt"].over, "node", None)
            if producer in out:
                out[node] = out[producer]
    return out
