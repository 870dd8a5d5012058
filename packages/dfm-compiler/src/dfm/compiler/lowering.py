"""Lowering: a placed dataflow graph -> one Petri net per participating site.

Follows the execution semantics documented in :mod:`dfm.kernel.ir.net`:

* places: ``v:<node>`` a value produced on this site (``value``; ``item`` for the
  output of a ScatterT, one frame level deeper than the ForEach), ``r:<node>`` a
  value received from another site (``received``, the producer's depth), ``p:<name>``
  a parameter (``param``, depth 1);
* one :class:`CallT` per operation call, its arguments ``Constant`` (literal),
  ``FromPlace("p:name")`` (parameter) or ``FromPlace`` of the local or received place;
* one :class:`SendT` per (producer node, consumer site) pair, scoped like the producer;
* selectors (``node.fieldref(...)``): one :class:`SelectT` per distinct selector of a node,
  on the producer's site and scoped like it, writing ``v:<node>.s<k>`` (k: first-use order);
  consumers on other sites receive ``r:<node>.s<k>``, so only the selected part is sent;
* ``dfm_after``: one :class:`DoneT` per node others run after, writing ``None`` to
  ``v:<node>.done`` once the node's value exists; that signal, not the value, is what is sent
  (``r:<node>.done``), and the waiting :class:`CallT` lists it in ``after``;
* a :class:`YieldT` on the homesite per Yield;
* a TryFromCache: a :class:`CacheT` (its id) reading the block's inputs, writing the digest
  to ``v:<id>`` on a miss and the cached value to ``v:<out>`` on a hit, and announcing its
  branch like an If (``True``: a miss) to its own site, where the body is scoped in the
  miss branch, followed there by a :class:`CacheStoreT` writing ``v:<out>`` too;
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

from dfm.compiler.analysis import cache_inputs, reads_of
from dfm.compiler.digraph import DataflowGraph
from dfm.kernel.config.models import Federation
from dfm.kernel.ir import pipeline as ir
from dfm.kernel.ir.net import (
    BoolOpC,
    BranchScope,
    BranchT,
    CacheStoreT,
    CacheT,
    CallT,
    CompareC,
    CondC,
    Constant,
    DoneT,
    FromPlace,
    Input,
    LoopScope,
    NotC,
    PickledC,
    Place,
    ScatterT,
    SelectT,
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
    def __init__(self, graph: DataflowGraph, placement: Mapping[str, str], federation: Federation) -> None:
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
        # producer node -> variant -> consumer sites; a variant is None (the whole value),
        # a selector path, or "done" (the dfm_after signal); in first-use order
        self.uses: dict[str, dict[tuple[ir.Step, ...] | str | None, set[str]]] = {}
        self.suffix: dict[tuple[str, tuple[ir.Step, ...] | str], str] = {}  # (node, variant) -> ".s1"
        self.shared_places: dict[str, int] = {}  # Yield place -> how many Yields use it
        for node in self.order:
            if self.nodes[node]["kind"] == "yield":
                place = self.nodes[node]["stmt"].place
                self.shared_places[place] = self.shared_places.get(place, 0) + 1
        for node in self.order:
            data = self.nodes[node]
            if data["kind"] == "item":
                continue
            site = placement[node]
            reads = [data["stmt"].value] if data["kind"] == "cached" else reads_of(data["stmt"])
            for value in reads:
                if isinstance(value, ir.Select):
                    self._use(value.node, value.path, site)
                elif isinstance(value, ir.Ref):
                    self._use(value.node, None, site)
            if data["kind"] == "call":
                for other in data["stmt"].after:
                    self._use(other, "done", site)

    def _use(self, node: str, variant: tuple[ir.Step, ...] | str | None, site: str) -> None:
        by_variant = self.uses.setdefault(node, {})
        by_variant.setdefault(variant, set()).add(site)
        if variant is not None and (node, variant) not in self.suffix:
            count = sum(1 for (n, v) in self.suffix if n == node and v != "done")
            self.suffix[(node, variant)] = ".done" if variant == "done" else f".s{count + 1}"

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

    def _ref_place(self, node: str, site: str, variant: tuple[ir.Step, ...] | str | None = None) -> str:
        name = node if variant is None else node + self.suffix[(node, variant)]
        if self.placement[node] == site:
            return _value_place(name)
        return _received_place(name)

    def _input(self, value: ir.Value, site: str) -> Input:
        if isinstance(value, ir.Lit):
            return Constant(value.value)
        if isinstance(value, ir.PickledLit):
            return PickledC(value.data)
        if isinstance(value, ir.Param):
            self._place(site, _param_place(value.name), 1, "param")
            return FromPlace(_param_place(value.name))
        assert isinstance(value, ir.Ref), "Advise() is refused by analysis"
        return FromPlace(
            self._ref_place(value.node, site, value.path if isinstance(value, ir.Select) else None)
        )

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
        """The selections and signals of ``node`` others read, and one SendT per other site
        consuming each variant (the whole value, a selected part, or the done signal)."""
        site = self.placement[node]
        scope = self.nodes[node]["scope"]
        depth = scope_depth(scope)
        for variant, consumers in self.uses.get(node, {}).items():
            name = node
            if variant is not None:
                name = node + self.suffix[(node, variant)]
                output = _value_place(name)
                if variant == "done":
                    self._add(site, DoneT(self._next_id(), scope, _value_place(node), output))
                else:
                    assert isinstance(variant, tuple)
                    self._add(site, SelectT(self._next_id(), scope, _value_place(node), variant, output))
                self._place(site, output, depth, "value")
            for target in sorted((c for c in consumers if c != site), key=self.rank.__getitem__):
                self._add(
                    site, SendT(self._next_id(), scope, _value_place(name), target, _received_place(name))
                )
                self._place(target, _received_place(name), depth, "received")
                self.senders.setdefault(target, {})[_received_place(name)] = site

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
                after = tuple(self._ref_place(other, site, "done") for other in stmt.after)
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
                        after,
                    ),
                )
                self._place(site, output, scope_depth(scope), "value")
                self._sends(node)
            elif kind == "yield":
                shared = self.shared_places.get(stmt.place, 0) > 1  # results must name their Yield
                self._add(
                    site,
                    YieldT(
                        self._next_id(),
                        scope,
                        self._source(stmt.value, site),
                        stmt.place,
                        stmt.id if shared else None,
                    ),
                )
            elif kind == "scatter":
                output = _value_place(stmt.var)
                source = self._source(stmt.over, site)
                self._add(site, ScatterT(self._next_id(), scope, source, node, output, ()))
                self._place(site, output, scope_depth(scope) + 1, "item")
                controls.append(node)
                control_site[node] = site
            elif kind == "item":
                self._sends(node)
            elif kind == "cache":
                inputs = tuple(self._source(value, site) for value in cache_inputs(stmt))
                digest = _value_place(node)
                output = _value_place(stmt.out)
                resident = site in self.graph.nodes[stmt.out]["resident"]
                self._add(
                    site,
                    CacheT(self._next_id(), scope, node, stmt.key, inputs, output, digest, (), resident),
                )
                self._place(site, digest, scope_depth(scope), "value")
                self._place(site, output, scope_depth(scope), "value")
                controls.append(node)
                control_site[node] = site
            elif kind == "cached":
                miss = (*scope, BranchScope(stmt.id, True))
                source = self._source(stmt.value, site)
                output = _value_place(node)
                self._add(
                    site, CacheStoreT(self._next_id(), miss, stmt.id, source, _value_place(stmt.id), output)
                )
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
                elif isinstance(t, CacheT):
                    transitions[i] = attrs.evolve(t, notify=tuple(sorted(notify[t.block], key=by_rank)))

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
                return (1, self.index[p.name[2:].partition(".")[0]], p.name)

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


def lower(graph: DataflowGraph, placement: Mapping[str, str], federation: Federation) -> dict[str, SiteNet]:
    """One :class:`SiteNet` per participating site, keyed by site, homesite first."""
    return _Lowering(graph, placement, federation).run()
