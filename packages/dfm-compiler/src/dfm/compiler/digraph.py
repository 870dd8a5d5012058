"""A small directed graph with the part of ``networkx.DiGraph``'s API the compiler uses.

Importing networkx costs 80 to 400 ms, more than compiling a small pipeline; the
compiler only stores nodes and edges with attributes and walks them in
insertion order, so :class:`DataflowGraph` does that with dicts. Reads look
like networkx's: ``graph.graph[...]``, ``graph.nodes[n]``, ``graph.nodes(data=True)``,
``graph.edges[u, v]``, ``graph.edges(data=True)``, ``successors``,
``predecessors``; iteration orders are the same as a ``DiGraph`` built by the
same calls. :meth:`DataflowGraph.to_networkx` gives a real ``DiGraph`` (networkx
imported then) for its algorithms.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["DataflowGraph"]


class _NodeView:
    __slots__ = ("_nodes",)

    def __init__(self, nodes: dict[str, dict[str, Any]]) -> None:
        self._nodes = nodes

    def __getitem__(self, node: str) -> dict[str, Any]:
        return self._nodes[node]

    def __iter__(self) -> Iterator[str]:
        return iter(self._nodes)

    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, node: object) -> bool:
        return node in self._nodes

    def __call__(self, data: bool | str = False, default: Any = None) -> Any:
        if data is False:
            return list(self._nodes)
        if data is True:
            return list(self._nodes.items())
        return [(n, d.get(data, default)) for n, d in self._nodes.items()]

    def __repr__(self) -> str:
        return f"NodeView({tuple(self._nodes)!r})"


class _EdgeView:
    __slots__ = ("_succ",)

    def __init__(self, succ: dict[str, dict[str, dict[str, Any]]]) -> None:
        self._succ = succ

    def __getitem__(self, edge: tuple[str, str]) -> dict[str, Any]:
        u, v = edge
        return self._succ[u][v]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        for u, targets in self._succ.items():
            for v in targets:
                yield u, v

    def __len__(self) -> int:
        return sum(len(targets) for targets in self._succ.values())

    def __contains__(self, edge: object) -> bool:
        if not isinstance(edge, tuple) or len(edge) != 2:
            return False
        targets = self._succ.get(edge[0])
        return targets is not None and edge[1] in targets

    def __call__(self, data: bool | str = False, default: Any = None) -> Any:
        if data is False:
            return list(self)
        if data is True:
            return [(u, v, d) for u, targets in self._succ.items() for v, d in targets.items()]
        return [(u, v, d.get(data, default)) for u, targets in self._succ.items() for v, d in targets.items()]

    def __repr__(self) -> str:
        return f"OutEdgeView({list(self)!r})"


class DataflowGraph:
    """Directed graph: nodes and edges with attribute dicts, kept in insertion order."""

    __slots__ = ("_nodes", "_pred", "_succ", "graph")

    def __init__(self, **graph_attrs: Any) -> None:
        self.graph: dict[str, Any] = dict(graph_attrs)
        self._nodes: dict[str, dict[str, Any]] = {}
        self._succ: dict[str, dict[str, dict[str, Any]]] = {}
        self._pred: dict[str, dict[str, dict[str, Any]]] = {}

    # -- building ---------------------------------------------------------------------------

    def add_node(self, node: str, **attrs: Any) -> None:
        """Add ``node`` with ``attrs``; a node already there keeps its edges and gets ``attrs`` merged in."""
        data = self._nodes.get(node)
        if data is None:
            self._nodes[node] = dict(attrs)
            self._succ[node] = {}
            self._pred[node] = {}
        else:
            data.update(attrs)

    def add_edge(self, u: str, v: str, **attrs: Any) -> None:
        """Add the edge ``u -> v`` with ``attrs`` (adding missing nodes); an existing edge gets ``attrs``
        merged in.
        """
        for node in (u, v):
            if node not in self._nodes:
                self.add_node(node)
        data = self._succ[u].get(v)
        if data is None:
            data = self._succ[u][v] = self._pred[v][u] = {}
        data.update(attrs)

    # -- reading ----------------------------------------------------------------------------

    @property
    def nodes(self) -> _NodeView:
        """The nodes in insertion order; ``nodes[n]`` is a node's attribute dict, ``nodes(data=...)`` lists
        them as networkx does.
        """
        return _NodeView(self._nodes)

    @property
    def edges(self) -> _EdgeView:
        """The edges ``(u, v)`` in insertion order; ``edges[u, v]`` is an edge's attribute dict,
        ``edges(data=...)`` lists them as networkx does.
        """
        return _EdgeView(self._succ)

    def has_node(self, node: str) -> bool:
        """Whether ``node`` is in the graph."""
        return node in self._nodes

    def has_edge(self, u: str, v: str) -> bool:
        """Whether the edge ``u -> v`` is in the graph."""
        return u in self._succ and v in self._succ[u]

    def successors(self, node: str) -> Iterator[str]:
        """The nodes ``node`` has an edge to; raises ``KeyError`` for an unknown node."""
        return iter(self._succ[node])

    def predecessors(self, node: str) -> Iterator[str]:
        """The nodes with an edge to ``node``; raises ``KeyError`` for an unknown node."""
        return iter(self._pred[node])

    def number_of_nodes(self) -> int:
        """How many nodes the graph has."""
        return len(self._nodes)

    def number_of_edges(self) -> int:
        """How many edges the graph has."""
        return sum(len(targets) for targets in self._succ.values())

    def is_directed(self) -> bool:
        """Always True (networkx's interface)."""
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self._nodes)

    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, node: object) -> bool:
        return node in self._nodes

    def __repr__(self) -> str:
        return f"DataflowGraph({self.number_of_nodes()} nodes, {self.number_of_edges()} edges)"

    def to_networkx(self) -> Any:
        """The same graph as a ``networkx.DiGraph`` (attribute dicts copied; imports networkx)."""
        import networkx as nx  # type: ignore[import-untyped]

        out = nx.DiGraph(**self.graph)
        for node, data in self._nodes.items():
            out.add_node(node, **data)
        for u, targets in self._succ.items():
            for v, data in targets.items():
                out.add_edge(u, v, **data)
        return out
