"""Petri-net IR: what one site runs for a prepared pipeline.

Tokens live in *places* and belong to a *frame*: a tuple of ints whose first
element is the index of the execution's parameter set and whose further
elements are ForEach iteration indices, one per enclosing loop. A place has
a fixed ``depth`` (the length of its frames). A transition fires once per
frame of its scope; an input place shallower than the transition is read at
the frame's prefix (values from outside a loop are visible in every
iteration), so places are read, never consumed.

Which frames a transition fires for is decided by control tokens:

* a :class:`ScatterT` fires once per collection and announces
  ``(loop, parent frame, item count)`` to every site in ``notify``;
* a :class:`BranchT` evaluates a condition and announces
  ``(if id, frame, taken branch)`` to every site in ``notify``;
* a :class:`CacheT` looks a ``TryFromCache`` block up in the site's cache and
  announces its branch the same way: ``True`` (a miss: run the body) or ``False``;
* a transition scoped inside a loop fires for every item frame; one scoped
  in a branch fires only for frames where that branch was taken.

A site is done with a job when every transition has fired for every frame
it is expected to fire for; it then tells the homesite, which finishes the
job when every participating site is done.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs

from dfm.kernel.ir.pipeline import CompareOp, PipelineIR, Step

# -- scopes --------------------------------------------------------------------


@attrs.frozen
class LoopScope:
    """Inside the body of the ForEach statement ``loop``: one more frame level, one frame per item."""

    loop: str  # the ForEach statement id


@attrs.frozen
class BranchScope:
    """Inside the body (``branch`` True) or the Else (``branch`` False) of the If statement ``cond``."""

    cond: str  # the If statement id
    branch: bool


ScopeItem = LoopScope | BranchScope
Scope = tuple[ScopeItem, ...]  # outermost first


def scope_depth(scope: Scope) -> int:
    """Frame length of a transition or place in ``scope``."""
    return 1 + sum(isinstance(s, LoopScope) for s in scope)


# -- places and inputs ------------------------------------------------------------

PlaceKind = Literal["value", "received", "param", "item"]


@attrs.frozen
class Place:
    """Where tokens of one value live at a site, with the length of their frames (``depth``).

    ``kind``: a local ``value``, a value ``received`` from another site, a parameter
    (``param``) or a ForEach ``item``.
    """

    # "v:n3" local value, "r:n3" received from another site, "p:name" parameter;
    # "v:n3.s1" / "r:n3.s1" a selected part of n3's value, "v:n3.done" / "r:n3.done" the
    # signal that n3 has produced its value (dfm_after)
    name: str
    depth: int
    kind: PlaceKind = "value"


@attrs.frozen
class FromPlace:
    """A transition input read from the place named ``place``."""

    place: str


@attrs.frozen
class Constant:
    """A transition input that is a JSON literal."""

    value: Any


@attrs.frozen
class PickledC:
    """A ``PickledObject`` literal: base64 of its pickle. A site runs a net holding one only
    if its own config sets ``allow-pickle: true``."""

    data: str


Input = FromPlace | Constant | PickledC

# -- conditions evaluated by BranchT ------------------------------------------------


@attrs.frozen
class CompareC:
    """The condition ``left op right`` on two inputs."""

    op: CompareOp
    left: Input
    right: Input


@attrs.frozen
class TruthyC:
    """The condition that an input is truthy."""

    value: Input


@attrs.frozen
class NotC:
    """The negation of a condition."""

    item: CondC


@attrs.frozen
class BoolOpC:
    """``and`` or ``or`` of several conditions."""

    op: Literal["and", "or"]
    items: tuple[CondC, ...]


CondC = CompareC | TruthyC | NotC | BoolOpC

# -- transitions ---------------------------------------------------------------------


@attrs.frozen
class CallT:
    """Call an operation through this site's adapter; the result goes to ``output``."""

    id: str
    scope: Scope
    node: str
    operation: str
    provider: str | None
    args: dict[str, Input]
    output: str
    after: tuple[str, ...] = ()  # places (signals) that must hold a token first; not passed on


@attrs.frozen
class SendT:
    """Send the token of ``source`` to ``target`` (a received place) at ``site``."""

    id: str
    scope: Scope
    source: str
    site: str
    target: str


@attrs.frozen
class YieldT:
    """Deliver the token of ``source`` to the application as ``place`` (homesite only).

    ``node``: the Yield's node id, set when several Yields share ``place`` (so each
    result names the Yield it came from); None otherwise (the place names it).
    """

    id: str
    scope: Scope
    source: str
    place: str
    node: str | None = None


@attrs.frozen
class ScatterT:
    """Split the collection in ``source`` into items at ``output`` (one frame level deeper)."""

    id: str
    scope: Scope
    source: str
    loop: str
    output: str
    notify: tuple[str, ...]  # sites that need this loop's item counts (may include this one)


@attrs.frozen
class BranchT:
    """Evaluate ``cond`` and announce the taken branch of If ``cond_id``."""

    id: str
    scope: Scope
    cond_id: str
    cond: CondC
    notify: tuple[str, ...]


@attrs.frozen
class SelectT:
    """Write the part ``path`` of the token of ``source`` to ``output`` (see
    :func:`dfm.kernel.ir.pipeline.select`); placed on the producing site, so only the
    selected part crosses to other sites."""

    id: str
    scope: Scope
    source: str
    path: tuple[Step, ...]
    output: str


@attrs.frozen
class DoneT:
    """Write ``None`` to ``output`` once ``source`` has a token: the signal a ``dfm_after``
    dependency waits for (no data crosses sites, only the fact that it is done)."""

    id: str
    scope: Scope
    source: str
    output: str


@attrs.frozen
class CacheT:
    """Look a ``TryFromCache`` block up in this site's cache (see :mod:`dfm.runner.cache`).

    The entry's digest is made of ``key``, ``resident`` and the values of ``inputs`` (the
    block's inputs, in order). On a hit the cached value goes to ``output`` and the block
    takes branch ``False``; on a miss the digest goes to ``digest`` and it takes branch
    ``True``, where its body and a :class:`CacheStoreT` run. ``resident``: the value is
    resident at this site (such entries are only ever served to blocks whose value is too).
    Like a :class:`BranchT`, it announces the branch to ``notify`` (this site).
    """

    id: str
    scope: Scope
    block: str
    key: str
    inputs: tuple[str, ...]
    output: str
    digest: str
    notify: tuple[str, ...]
    resident: bool = False


@attrs.frozen
class CacheStoreT:
    """On a miss of ``block``: store the token of ``source`` under the digest in ``digest``, and
    write it to ``output`` (the block's result, which a hit writes instead)."""

    id: str
    scope: Scope
    block: str
    source: str
    digest: str
    output: str


Transition = CallT | SendT | YieldT | ScatterT | BranchT | SelectT | DoneT | CacheT | CacheStoreT


def transition_inputs(t: Transition) -> list[str]:
    """Names of the places a transition reads."""
    if isinstance(t, CallT):
        places = [a.place for a in t.args.values() if isinstance(a, FromPlace)]
        if t.after:
            places.extend(t.after)
        return places
    if isinstance(t, BranchT):
        return _cond_places(t.cond)
    if isinstance(t, CacheT):
        return list(t.inputs)
    if isinstance(t, CacheStoreT):
        return [t.source, t.digest]
    return [t.source]


def _cond_places(cond: CondC) -> list[str]:
    if isinstance(cond, CompareC):
        return [i.place for i in (cond.left, cond.right) if isinstance(i, FromPlace)]
    if isinstance(cond, TruthyC):
        return [cond.value.place] if isinstance(cond.value, FromPlace) else []
    if isinstance(cond, NotC):
        return _cond_places(cond.item)
    return [p for item in cond.items for p in _cond_places(item)]


@attrs.frozen
class SiteNet:
    """Everything one site runs for a prepared pipeline."""

    site: str
    places: tuple[Place, ...]
    transitions: tuple[Transition, ...]
    params: tuple[str, ...] = ()  # parameter names this site needs, delivered at job start
    controls: tuple[str, ...] = ()  # loop and If ids whose control tokens this site receives
    # received place or control id -> the one site allowed to send it (a site refuses data
    # from any other sender: see dfm.runner.site)
    senders: dict[str, str] = attrs.Factory(dict)

    def place(self, name: str) -> Place:
        """The place named ``name``; raises ``KeyError`` if the net has none."""
        for p in self.places:
            if p.name == name:
                return p
        raise KeyError(name)


@attrs.frozen
class PreparedPipeline:
    """A compiled pipeline: placement plus one net per participating site.

    ``digest`` is the SHA-256 of the canonical JSON of everything else, so two
    compilations of the same pipeline onto the same federation are equal.
    """

    federation: str  # the federation's code-package name
    homesite: str
    pipeline: PipelineIR
    placement: dict[str, str]  # node id -> site
    nets: dict[str, SiteNet]
    strategy: str
    cost: float
    digest: str = ""

    @property
    def sites(self) -> tuple[str, ...]:
        """The participating sites (those with a net), sorted."""
        return tuple(sorted(self.nets))

    @property
    def yield_places(self) -> tuple[str, ...]:
        """The places the pipeline yields results to (the homesite's yields), sorted."""
        net = self.nets.get(self.homesite)
        if net is None:
            return ()
        return tuple(sorted({t.place for t in net.transitions if isinstance(t, YieldT)}))

    def _repr_svg_(self) -> str | None:
        """Jupyter: the placed pipeline as a picture (needs Graphviz; see :mod:`dfm.kernel.ir.display`)."""
        from dfm.kernel.ir import display

        return display.svg(self)

    def _repr_html_(self) -> str | None:
        """Jupyter, without Graphviz: the placement as a table and what to install for the picture."""
        from dfm.kernel.ir import display

        return display.html_fallback(self)
