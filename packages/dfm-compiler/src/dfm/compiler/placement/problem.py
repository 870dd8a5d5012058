"""The placement problem: what every placement strategy receives.

A strategy is a plain function ``strategy(problem: PlacementProblem) -> dict[node, site]``
that assigns every node of ``problem.nodes`` one of its candidate sites, such that

* co-located nodes (``colocate``: a loop scatter and the producer of its collection,
  a loop item and its scatter) share a site;
* data residency holds: for an edge ``u -> v`` with ``u`` placed at a site listed in
  ``resident[u]``, ``v`` is placed at that same site (the output never leaves it);

and the cost (:meth:`PlacementProblem.cost`) is as small as the strategy can make it:

    sum(compute_costs[n][site(n)] for n in nodes)
    + sum(bytes * link_costs[a][b] + transfer_costs[a][b]
          for u, v, bytes in edges if (a := site(u)) != (b := site(v)))

In the bytes model (see :mod:`dfm.compiler.costs`) there are no compute or transfer
costs and ``link_costs`` are the federation's link costs; in the time model every term
is in seconds (``link_costs`` is then seconds per byte). Ties are broken by ``sites``
order (homesite first, then by name) over ``nodes`` order, so that placement is
deterministic.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from dfm.compiler.costs import relevant_pairs, transfer_matrices, unknown_pair_message

if TYPE_CHECKING:
    from dfm.compiler.digraph import DataflowGraph
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
    # node -> site -> cost of running the node there (time model: seconds); missing: 0
    compute_costs: Mapping[str, Mapping[str, float]] = attrs.Factory(dict)
    # site -> site -> cost of each edge crossing from a to b, whatever its size (time model:
    # the send_cost's fixed_time); None: 0
    transfer_costs: Mapping[str, Mapping[str, float]] | None = None
    model: str = "bytes"  # "bytes" or "time" (see dfm.compiler.costs); for messages
    diagnostics: tuple[str, ...] = ()  # warnings about the estimates, reported once per compilation

    def link_cost(self, a: str, b: str) -> float:
        """The cost per byte of sending from site ``a`` to site ``b`` (0 for the same site)."""
        return 0.0 if a == b else self.link_costs[a][b]

    def transfer_cost(self, a: str, b: str) -> float:
        """The fixed cost of each transfer from site ``a`` to site ``b`` (0 for the same site or without per-
        transfer costs).
        """
        if a == b or self.transfer_costs is None:
            return 0.0
        return self.transfer_costs[a][b]

    @property
    def timed(self) -> bool:
        """Are there compute or per-transfer costs (beyond bytes x link cost)?"""
        return bool(self.compute_costs) or self.transfer_costs is not None

    def label(self, node: str) -> str:
        """How messages name ``node`` (its label, else its id)."""
        return self.labels.get(node, node)

    def cost(self, placement: Mapping[str, str]) -> float:
        """The estimated cost of a placement (see the module docstring)."""
        total = 0.0
        for node, by_site in self.compute_costs.items():
            total += by_site.get(placement[node], 0.0)
        fixed = self.transfer_costs
        for u, v, nbytes in self.edges:
            a, b = placement[u], placement[v]
            if a != b:
                total += nbytes * self.link_costs[a][b]
                if fixed is not None:
                    total += fixed[a][b]
        return total

    def search_space(self) -> int:
        """Product of the candidate counts of the nodes that are free (not co-located)."""
        total = 1
        for node in self.nodes:
            if node not in self.colocate:
                total *= len(self.candidates[node])
        return total

    @classmethod
    def from_graph(cls, graph: DataflowGraph, federation: Federation) -> PlacementProblem:
        """The problem for a graph made by :func:`dfm.compiler.graph.build_graph`."""
        sites: tuple[str, ...] = graph.graph["sites"]
        order: tuple[str, ...] = graph.graph["order"]
        data = graph.nodes
        edges = sorted(
            ((u, v, int(d["bytes"])) for u, v, d in graph.edges(data=True)),
            key=lambda e: (data[e[1]]["index"], data[e[0]]["index"]),
        )
        colocate = {n: data[n]["colocate"] for n in order if data[n]["colocate"] is not None}
        candidates = {n: tuple(data[n]["candidates"]) for n in order}
        link_costs = link_cost_matrix(federation, sites)
        timed: dict[str, Any] = {}
        if graph.graph.get("model") == "time":
            per_byte, per_transfer, unknown = transfer_matrices(federation, sites, link_costs)
            allowed = _allowed_sites(order, candidates, colocate)
            ends = ((allowed[u], allowed[v]) for u, v, _ in edges if allowed[u] is not allowed[v])
            timed = {
                "model": "time",
                "link_costs": per_byte,
                "transfer_costs": per_transfer,
                "compute_costs": {n: dict(data[n]["compute"]) for n in order if data[n].get("compute")},
                "diagnostics": tuple(unknown_pair_message(a, b) for a, b in relevant_pairs(ends, unknown)),
            }
        return cls(
            nodes=order,
            candidates=candidates,
            edges=tuple(edges),
            sites=sites,
            homesite=graph.graph["homesite"],
            link_costs=timed.pop("link_costs", link_costs),
            colocate=colocate,
            resident={n: tuple(data[n]["resident"]) for n in order if data[n]["resident"]},
            labels={n: data[n]["label"] for n in order},
            operations=_residency_operations(graph, order),
            **timed,
        )


def _allowed_sites(
    order: tuple[str, ...], candidates: Mapping[str, tuple[str, ...]], colocate: Mapping[str, str]
) -> dict[str, tuple[str, ...]]:
    """node -> the sites it may run at given co-location (the same tuple for a whole group)."""
    root: dict[str, str] = {}
    for node in order:  # a node is co-located with an earlier one
        other = colocate.get(node)
        root[node] = root.get(other, other) if other is not None else node
    shared: dict[str, set[str]] = {}
    for node in order:
        group = shared.setdefault(root[node], set(candidates[node]))
        group &= set(candidates[node])
    ordered = {r: tuple(s for s in candidates[r] if s in group) for r, group in shared.items()}
    return {node: ordered[root[node]] for node in order}


def _residency_operations(graph: DataflowGraph, order: tuple[str, ...]) -> dict[str, str]:
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
