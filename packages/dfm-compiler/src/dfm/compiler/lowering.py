"""Lowering: a placed dataflow graph -> one Petri net per participating site.

Follows the execution semantics documented in :mod:`dfm.kernel.ir.net`:

* places: ``v:<node>`` a value produced on this site (``value``; ``item`` for the
  output of a ScatterT, one frame level deeper than the ForEach), ``r:<node>`` a
  value received from another site (``received``, the producer's depth), ``p:<name>``
  a parameter (``param``, depth 1);
* one :class:`CallT` per operation call, its arguments ``Constant`` (literal),
  ``FromPlace("p:name")`` (parameter) or ``FromPlace`` of the local or received place;
* one :class:`SendT` per (producer node, consumer site) pair, scoped like the producer;
* a :class:`YieldT` on the homesite per Yield;
* a :class:`ScatterT` per ForEach, on the site of its collection, notifying every site
  with a transition inside the loop; a :class:`BranchT` per If, notifying every site
  with a transition in either branch;
* every transition's ``scope`` is its enclosing loops and branches, outermost first;
* ``SiteNet.params``: the parameters the site's transitions read; ``SiteNet.controls``:
  the ForEach/If ids whose control tokens the site receives; ``SiteNet.senders``: which
  site sends each received place and control (the receiving site accepts them from
  that site only).

Transition ids are ``t1``, ``t2``... numbered across the whole pipeline in canonical
node order (unique across sites). Sites with nothing to do get no net, except the
homesite, which always gets one (it receives results and decides completion).
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs
import networkx as nx  # type: ignore[import-untyped]

from dfm.kernel.config.models import Federation
from dfm.kernel.ir import pipeline as ir
from dfm.kernel.ir.net import (
    BoolOpC,
    BranchT,
    CallT,
    CompareC,
    CondC,
    Constant,
    FromPlace,
    Input,
    LoopScope,
    NotC,
    Place,
    ScatterT,
    SendT,
    SiteNet,
    Transition,
    TruthyC,
    YieldT,
    scope_depth,
)

__all__ = ["lower"]


def _value_place(node: str) -> str:
    return f"v:{node}"


def _received_place(node: str) -> str:
    return f"r:{node}"


def _param_place(name: str) -> str:
    return f"p:{name}"


class _Lowering:
    def __init__(self, graph: nx.DiGraph, placement: Mapping[str, str], federation: Federation) -> None:
        self.graph = graph
        self.nodes = graph.nodes
        self.placement = placement
        self.federation = federation
        self.homesite: str = graph.graph["homesite"]
        self.rank = {s: i for i, s in enumerate(graph.graph["sites"])}
        self.order: tuple[str, ...] = graph.graph["order"]
        self.index = {n: i for i, n in enumerate(self.order)}
        self.transitions: dict[str, list[Transition]] = {}
        self.places: dict[str, dict[str, Place]] = {}
        self.counter = 0
        self._offers: dict[str, dict[str, str | None]] = {}
        self.senders: dict[str, dict[str, str]] = {}  # site -> received place or control -> sender

    # -- helpers ----------------------------------------------------------------------

    def _next_id(self) -> str:
        self.counter += 1
        return f"t{self.counter}"

    def _add(self, site: str, transition: Transition) -> None:
        self.transitions.setdefault(site, []).append(transition)

    def _place(self, site: str, name: str, depth: int, kind: str) -> None:
        places = self.places.setdefault(site, {})
        if name not in places:
            places[name] = Place(name, depth, kind)  # type: ignore[arg-type]

    def _depth(self, node: str) -> int:
        return scope_depth(self.nodes[node]["scope"])

    def _ref_place(self, node: str, site: str) -> str:
        if self.placement[node] == site:
            return _value_place(node)
        return _received_place(node)

    def _input(self, value: ir.Value, site: str) -> Input:
        if isinstance(value, ir.Lit):
            return Constant(value.value)
        if isinstance(value, ir.Param):
            self._place(site, _param_place(value.name), 1, "param")
            return FromPlace(_param_place(value.name))
        return FromPlace(self._ref_place(value.node, site))

    def _source(self, value: ir.Value, site: str) -> str:
        """A place name for a value read as a whole token (Yield, ForEach)."""
        inp = self._input(value, site)
        assert isinstance(inp, FromPlace), "literals are rejected by analysis"
        return inp.place

    def _cond(self, cond: ir.Cond, site: str) -> CondC:
        if isinstance(cond, ir.Compare):
            return CompareC(cond.op, self._input(cond.left, site), self._input(cond.right, site))
        if isinstance(cond, ir.Truthy):
            return TruthyC(self._input(cond.value, site))
        if isinstance(cond, ir.Not):
            return NotC(self._cond(cond.item, site))
        return BoolOpC(cond.op, tuple(self._cond(item, site) for item in cond.items))

    def _provider(self, call: ir.Call, site: str) -> str | None:
        if call.provider is not None:
            return call.provider
        if site not in self._offers:
            self._offers[site] = {op: prov for op, (prov, _entry) in self.federation.offers(site).items()}
        return self._offers[site][call.operation]

    def _sends(self, node: str) -> None:
        """One SendT per other site consuming ``node``'s value."""
        site = self.placement[node]
        data = self.graph.succ[node]
        consumer_sites = {
            self.placement[c]
            for c, edge in data.items()
            if edge["kind"] == "data" and self.placement[c] != site
        }
        scope = self.nodes[node]["scope"]
        depth = scope_depth(scope)
        for target in sorted(consumer_sites, key=self.rank.__getitem__):
            self._add(site, SendT(self._next_id(), scope, _value_place(node), target, _received_place(node)))
            self._place(target, _received_place(node), depth, "received")
            self.senders.setdefault(target, {})[_received_place(node)] = site

    # -- the pass -----------------------------------------------------------------------

    def run(self) -> dict[str, SiteNet]:
        controls: list[str] = []  # ForEach/If ids, canonical order
        control_site: dict[str, str] = {}  # ForEach/If id -> the site announcing it
        for node in self.order:
            data = self.nodes[node]
            kind = data["kind"]
            stmt = data["stmt"]
            scope = data["scope"]
            site = self.placement[node]
            if kind == "call":
                args = {name: self._input(value, site) for name, value in stmt.args.items()}
                output = _value_place(node)
                self._add(
                    site,
                    CallT(
                        self._next_id(),
                        scope,
                        node,
                        stmt.operation,
                        self._provider(stmt, site),
                        args,
                        output,
                    ),
                )
                self._place(site, output, scope_depth(scope), "value")
                self._sends(node)
            elif kind == "yield":
                self._add(site, YieldT(self._next_id(), scope, self._source(stmt.value, site), stmt.place))
            elif kind == "scatter":
                output = _value_place(stmt.var)
                source = self._source(stmt.over, site)
                self._add(site, ScatterT(self._next_id(), scope, source, node, output, ()))
                self._place(site, output, scope_depth(scope) + 1, "item")
                controls.append(node)
                control_site[node] = site
            elif kind == "item":
                self._sends(node)
            else:  # branch
                self._add(site, BranchT(self._next_id(), scope, node, self._cond(stmt.cond, site), ()))
                controls.append(node)
                control_site[node] = site

        # who needs which control tokens: every site with a transition inside the block
        notify: dict[str, set[str]] = {c: set() for c in controls}
        for site, transitions in self.transitions.items():
            for t in transitions:
                for item in t.scope:
                    notify[item.loop if isinstance(item, LoopScope) else item.cond].add(site)
        by_rank = self.rank.__getitem__
        for transitions in self.transitions.values():
            for i, t in enumerate(transitions):
                if isinstance(t, ScatterT):
                    transitions[i] = attrs.evolve(t, notify=tuple(sorted(notify[t.loop], key=by_rank)))
                elif isinstance(t, BranchT):
                    transitions[i] = attrs.evolve(t, notify=tuple(sorted(notify[t.cond_id], key=by_rank)))

        sites = set(self.transitions) | {s for ss in notify.values() for s in ss} | {self.homesite}
        params_order = {name: i for i, name in enumerate(self.graph.graph.get("params", ()))}
        nets: dict[str, SiteNet] = {}
        for site in sorted(sites, key=by_rank):
            places = self.places.get(site, {})
            params = sorted(
                (p.name.removeprefix("p:") for p in places.values() if p.kind == "param"),
                key=lambda name: params_order.get(name, len(params_order)),
            )

            def place_key(p: Place) -> tuple[int, int, str]:
                if p.kind == "param":
                    return (0, params_order.get(p.name[2:], 0), p.name)
                return (1, self.index[p.name[2:]], p.name)

            site_controls = tuple(c for c in controls if site in notify[c])
            nets[site] = SiteNet(
                site=site,
                places=tuple(sorted(places.values(), key=place_key)),
                transitions=tuple(self.transitions.get(site, ())),
                params=tuple(params),
                controls=site_controls,
                senders={**self.senders.get(site, {}), **{c: control_site[c] for c in site_controls}},
            )
        return nets


def lower(graph: nx.DiGraph, placement: Mapping[str, str], federation: Federation) -> dict[str, SiteNet]:
    """One :class:`SiteNet` per participating site, keyed by site, homesite first."""
    return _Lowering(graph, placement, federation).run()
