"""Verification of lowered nets: catches compiler bugs before a site ever runs a net.

Checks, over all sites' nets together:

* every transition id is unique; YieldTs are on the homesite only;
* places are declared once per site, with consistent kinds and depths;
* every received place has exactly one matching SendT, on another site, with the
  same depth as its source; every SendT targets a received place declared there;
* every place a transition reads is produced: a local CallT or ScatterT output, a
  received place, or a parameter the net lists in ``params``;
* depths: a transition never reads a place deeper than its frame, a CallT writes at
  its frame depth, a ScatterT one level deeper;
* nothing waits forever: a producer's scope (the SendT's scope, for a received place)
  is a prefix of its reader's scope, so it fires whenever the reader does;
* control: each ForEach/If has exactly one ScatterT/BranchT, and every site with a
  transition inside a loop or branch is notified and lists it in ``controls``;
* selections and done signals (SelectT, DoneT) write value places at their own depth,
  each produced once;
* residency: no SendT carries the output of a resident operation (or a selected part of
  it) off its site; a done signal carries no data.

A violation raises :class:`CompileError` labelled as an internal compiler error.
"""

from __future__ import annotations

from collections.abc import Mapping

from dfm.compiler.placement.problem import PlacementProblem
from dfm.kernel.errors import CompileError
from dfm.kernel.ir.net import (
    BranchScope,
    BranchT,
    CacheStoreT,
    CacheT,
    CallT,
    DoneT,
    LoopScope,
    Place,
    ScatterT,
    Scope,
    SelectT,
    SendT,
    SiteNet,
    YieldT,
    scope_depth,
    transition_inputs,
)

__all__ = ["verify_nets"]


def _fail(problems: list[str]) -> None:
    if problems:
        raise CompileError(
            "internal compiler error: the lowered nets are inconsistent (please report this bug):\n  "
            + "\n  ".join(problems)
        )


def verify_nets(
    nets: Mapping[str, SiteNet],
    homesite: str,
    problem: PlacementProblem | None = None,
    placement: Mapping[str, str] | None = None,
) -> None:
    """Raise :class:`CompileError` if the nets break any invariant listed in the module docstring."""
    problems: list[str] = []
    if homesite not in nets:
        problems.append(f"the homesite {homesite} has no net")

    ids: dict[str, str] = {}
    places: dict[str, dict[str, Place]] = {}
    produced_scope: dict[tuple[str, str], Scope] = {}  # (site, place) -> scope of the producer
    sends: dict[tuple[str, str], list[tuple[str, SendT]]] = {}  # (target site, place) -> [(from site, send)]
    controls_t: dict[str, list[tuple[str, ScatterT | BranchT | CacheT]]] = {}
    stores: dict[str, list[tuple[str, CacheStoreT]]] = {}  # TryFromCache id -> its stores

    for site, net in nets.items():
        if net.site != site:
            problems.append(f"net keyed {site} says it is for {net.site}")
        declared: dict[str, Place] = {}
        for p in net.places:
            if p.name in declared:
                problems.append(f"{site}: place {p.name} is declared twice")
            declared[p.name] = p
            expected = {"v": ("value", "item"), "r": ("received",), "p": ("param",)}.get(p.name[:1], ())
            if p.kind not in expected or p.name[1:2] != ":":
                problems.append(f"{site}: place {p.name} has kind {p.kind}")
            if p.kind == "param" and p.depth != 1:
                problems.append(f"{site}: parameter place {p.name} has depth {p.depth}")
            if p.kind == "param" and p.name[2:] not in net.params:
                problems.append(f"{site}: parameter place {p.name} is not listed in params")
        for name in net.params:
            if f"p:{name}" not in declared:
                problems.append(f"{site}: parameter {name} has no place")
        places[site] = declared
        for t in net.transitions:
            if t.id in ids:
                problems.append(f"transition id {t.id} is used on {ids[t.id]} and {site}")
            ids[t.id] = site
            if isinstance(t, CallT):
                produced_scope[(site, t.output)] = t.scope
                if placement is not None and placement.get(t.node) != site:
                    problems.append(
                        f"{site}: {t.id} calls {t.node}, which is placed at {placement.get(t.node)}"
                    )
            elif isinstance(t, (SelectT, DoneT)):
                if (site, t.output) in produced_scope:
                    problems.append(f"{site}: {t.output} is produced twice")
                produced_scope[(site, t.output)] = t.scope
            elif isinstance(t, ScatterT):
                produced_scope[(site, t.output)] = (*t.scope, LoopScope(t.loop))
                controls_t.setdefault(t.loop, []).append((site, t))
            elif isinstance(t, BranchT):
                controls_t.setdefault(t.cond_id, []).append((site, t))
            elif isinstance(t, CacheT):
                controls_t.setdefault(t.block, []).append((site, t))
                for written in (t.digest, t.output):
                    if (site, written) in produced_scope:
                        problems.append(f"{site}: {written} is produced twice")
                    produced_scope[(site, written)] = t.scope
                if t.notify != (site,):
                    problems.append(f"{site}: {t.id} (TryFromCache {t.block}) must notify its own site only")
            elif isinstance(t, CacheStoreT):
                stores.setdefault(t.block, []).append((site, t))
            elif isinstance(t, SendT):
                sends.setdefault((t.site, t.target), []).append((site, t))
                if t.site == site:
                    problems.append(f"{site}: {t.id} sends {t.source} to its own site")
            elif isinstance(t, YieldT) and site != homesite:
                problems.append(f"{site}: {t.id} yields {t.place} but is not on the homesite {homesite}")

    # received places and sends
    for site, declared in places.items():
        for p in declared.values():
            if p.kind != "received":
                continue
            matching = sends.get((site, p.name), [])
            if len(matching) != 1:
                problems.append(
                    f"{site}: received place {p.name} has {len(matching)} matching sends (expected 1)"
                )
                continue
            from_site, send = matching[0]
            produced_scope[(site, p.name)] = send.scope
            src = places.get(from_site, {}).get(send.source)
            if src is not None and src.depth != p.depth:
                problems.append(
                    f"{site}: received place {p.name} has depth {p.depth}, its source {send.source} "
                    f"on {from_site} has depth {src.depth}"
                )
    for (target_site, name), matching in sends.items():
        target = places.get(target_site, {}).get(name)
        for from_site, send in matching:
            if target is None or target.kind != "received":
                problems.append(
                    f"{from_site}: {send.id} sends to {target_site}:{name}, which is not a received place"
                )

    # inputs, depths, scopes
    for site, net in nets.items():
        declared = places[site]
        for t in net.transitions:
            depth = scope_depth(t.scope)
            for name in transition_inputs(t):
                place = declared.get(name)
                if place is None:
                    problems.append(f"{site}: {t.id} reads {name}, which is not a place of this net")
                    continue
                if place.depth > depth:
                    problems.append(
                        f"{site}: {t.id} (depth {depth}) reads {name}, which is deeper ({place.depth})"
                    )
                if place.kind == "param":
                    continue
                scope = produced_scope.get((site, name))
                if scope is None:
                    problems.append(f"{site}: {t.id} waits on {name}, which nothing produces")
                elif t.scope[: len(scope)] != scope:
                    problems.append(
                        f"{site}: {t.id} reads {name}, produced in a scope it is not inside: may wait forever"
                    )
            if isinstance(t, (CallT, SelectT, DoneT)):
                out = declared.get(t.output)
                if out is None or out.depth != depth or out.kind != "value":
                    problems.append(
                        f"{site}: {t.id} writes {t.output}, which is not a value place of depth {depth}"
                    )
            elif isinstance(t, ScatterT):
                out = declared.get(t.output)
                if out is None or out.depth != depth + 1 or out.kind != "item":
                    problems.append(
                        f"{site}: {t.id} writes {t.output}, which is not an item place of depth {depth + 1}"
                    )
            elif isinstance(t, SendT):
                src = declared.get(t.source)
                if src is not None and src.depth != depth:
                    problems.append(
                        f"{site}: {t.id} is scoped at depth {depth} but sends {t.source} of depth {src.depth}"
                    )

    # TryFromCache: one lookup and one store, on the same site, writing the same result
    for block, found_stores in stores.items():
        lookup = controls_t.get(block, [])
        cache = lookup[0][1] if len(lookup) == 1 else None
        if len(found_stores) != 1 or not isinstance(cache, CacheT):
            problems.append(f"TryFromCache {block} needs one CacheT and one CacheStoreT")
            continue
        (store_site, store), lookup_site = found_stores[0], lookup[0][0]
        if store_site != lookup_site or store.output != cache.output or store.digest != cache.digest:
            problems.append(f"{store_site}: {store.id} does not match the lookup {cache.id} of {block}")
        elif store.scope != (*cache.scope, BranchScope(block, True)):
            problems.append(f"{store_site}: {store.id} is not scoped in the miss branch of {block}")
    for block, found in controls_t.items():
        if isinstance(found[0][1], CacheT) and block not in stores:
            problems.append(f"TryFromCache {block} has no CacheStoreT")

    # control tokens
    for block, found in controls_t.items():
        if len(found) != 1:
            problems.append(f"{block} has {len(found)} control transitions (expected 1)")
    for site, net in nets.items():
        needed: dict[str, None] = {}  # in first-use order; a dict, not a list: no scan per transition
        for t in net.transitions:
            for item in t.scope:
                needed[item.loop if isinstance(item, LoopScope) else item.cond] = None
        for block in needed:
            control = controls_t.get(block)
            if not control:
                problems.append(f"{site}: transitions inside {block}, which has no control transition")
                continue
            if site not in control[0][1].notify:
                problems.append(f"{site}: has transitions inside {block} but is not notified by it")
            if block not in net.controls:
                problems.append(f"{site}: has transitions inside {block} but does not list it in controls")
        for block in net.controls:
            control = controls_t.get(block)
            if not control or site not in control[0][1].notify:
                problems.append(f"{site}: lists {block} in controls but is not notified by it")
    for block, found in controls_t.items():
        for notified in found[0][1].notify:
            if notified not in nets:
                problems.append(f"{block} notifies {notified}, which has no net")

    # residency
    if problem is not None:
        for site, net in nets.items():
            for t in net.transitions:
                if isinstance(t, SendT) and t.source.startswith("v:"):
                    node, _, variant = t.source[2:].partition(".")
                    if variant == "done":  # a completion signal carries no data
                        continue
                    if site in problem.resident.get(node, ()):
                        problems.append(
                            f"{site}: {t.id} sends the output of {problem.label(node)} to {t.site}, "
                            f"but it is resident at {site}"
                        )
    _fail(problems)
