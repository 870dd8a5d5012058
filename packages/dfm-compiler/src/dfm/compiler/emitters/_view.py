"""What the emitters show: nodes, edges and annotations of a placed pipeline."""

from __future__ import annotations

import attrs

from dfm.compiler.analysis import analyze, node_label
from dfm.compiler.graph import build_graph
from dfm.compiler.placement.problem import PlacementProblem
from dfm.kernel.config.models import Federation
from dfm.kernel.ir import pipeline as ir
from dfm.kernel.ir.net import PreparedPipeline


@attrs.frozen
class NodeView:
    """One node of the picture: its id, kind, what it is, its label and name, its site and the sites it could
    run at.
    """

    id: str
    kind: str
    what: str  # operation, "Yield 'place'", "ForEach", "item", "If"
    label: str
    site: str
    candidates: tuple[str, ...] | None  # None when the federation is not known
    name: str | None = None  # what the user called it: a variable or an explicit label (PipelineIR.labels)
    resident: bool = False  # its output may never leave its site (a residency policy; needs the federation)

    @property
    def title(self) -> str:
        """``total = stats.Add`` when the node has a name, else what it is (``stats.Add``)."""
        return f"{self.name} = {self.what}" if self.name else self.what


@attrs.frozen
class EdgeView:
    """One edge of the picture: a ``data``, ``item`` or ``control`` dependency, with its estimated bytes and
    costs.
    """

    src: str
    dst: str
    kind: str  # data | item | control
    nbytes: int | None
    link_cost: float | None  # per byte (time model: seconds per byte, link weight included)
    transfer_cost: float = 0.0  # per transfer (time model: the send_cost's fixed_time)

    @property
    def cost(self) -> float | None:
        """The estimated cost of the transfer (bytes times the per-byte cost, plus the per-transfer cost), or
        None if not known.
        """
        if self.nbytes is None or self.link_cost is None:
            return None
        return self.nbytes * self.link_cost + self.transfer_cost


@attrs.frozen
class PipelineView:
    """A placed pipeline as the emitters show it: its sites, nodes and edges, and the palette of site
    colours.
    """

    name: str
    federation: str
    homesite: str
    strategy: str
    cost: float
    sites: tuple[str, ...]  # sites with a net, homesite first
    nodes: tuple[NodeView, ...]
    edges: tuple[EdgeView, ...]
    # every site of the federation (sorted), or of this picture when the federation is not
    # known: a site's colour is its position here, so it is the same in every picture
    palette_sites: tuple[str, ...] = ()

    def color_index(self, site: str) -> int:
        """The position of ``site`` in the palette (a site not in it gets the next free index)."""
        known = self.palette_sites or tuple(sorted({*self.sites, *(n.site for n in self.nodes)}))
        return known.index(site) if site in known else len(known)

    def crossing(self) -> list[EdgeView]:
        """The edges between nodes placed at different sites."""
        site = {n.id: n.site for n in self.nodes}
        return [e for e in self.edges if site[e.src] != site[e.dst]]


def _what(node_kind: str, stmt: ir.Statement) -> str:
    if isinstance(stmt, ir.Call):
        return stmt.operation
    if isinstance(stmt, ir.Yield):
        return f"Yield '{stmt.place}'"
    if node_kind == "item":
        return "item"
    if isinstance(stmt, ir.ForEach):
        return "ForEach"
    if isinstance(stmt, ir.TryFromCache):
        return f"TryFromCache '{stmt.key}'" if node_kind == "cache" else "cached value"
    return "If"


def _name(labels: dict[str, str], stmt: ir.Statement, node_id: str) -> str | None:
    name = labels.get(node_id)
    if name is None:  # an explicitly named node (well-known id), if the statement carries one
        explicit = getattr(stmt, "well_known_id", None)
        name = explicit if isinstance(explicit, str) and getattr(stmt, "id", None) == node_id else None
    return name


def view(prepared: PreparedPipeline, federation: Federation | None = None) -> PipelineView:
    """What the emitters show of ``prepared``; with the ``federation``, also candidate sites, residency and
    transfer costs.
    """
    nodes = analyze(prepared.pipeline)
    graph = build_graph(federation, prepared.pipeline) if federation is not None else None
    problem = (
        PlacementProblem.from_graph(graph, federation)
        if federation is not None and graph is not None
        else None
    )
    placement = prepared.placement
    labels = prepared.pipeline.labels
    node_views = tuple(
        NodeView(
            n.id,
            n.kind,
            _what(n.kind, n.stmt),
            node_label(n),
            placement.get(n.id, "?"),
            tuple(graph.nodes[n.id]["candidates"]) if graph is not None else None,
            _name(labels, n.stmt, n.id),
            graph is not None and placement.get(n.id) in graph.nodes[n.id]["resident"],
        )
        for n in nodes
    )
    edges: list[EdgeView] = []
    for n in nodes:
        sources = [(n.parent, "item" if n.kind == "item" else "control")] if n.parent else []
        sources += [(ref, "data") for ref in n.refs]
        for src, kind in sources:
            nbytes = link = None
            fixed = 0.0
            if graph is not None and problem is not None:
                nbytes = int(graph.edges[src, n.id]["bytes"])
                a, b = placement.get(src), placement.get(n.id)
                if a is None or b is None or a == b:
                    link = 0.0
                else:
                    link, fixed = problem.link_cost(a, b), problem.transfer_cost(a, b)
            edges.append(EdgeView(src, n.id, kind, nbytes, link, fixed))
    sites = tuple(prepared.nets) or (prepared.homesite,)
    return PipelineView(
        prepared.pipeline.name,
        prepared.federation,
        prepared.homesite,
        prepared.strategy,
        prepared.cost,
        sites,
        node_views,
        tuple(edges),
        tuple(sorted(federation.sites)) if federation is not None else (),
    )
