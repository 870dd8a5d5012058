"""Run one site's Petri net for one job.

Semantics are those documented in :mod:`dfm.kernel.ir.net`: tokens are kept
per (place, frame) and read, never consumed; a transition fires once per
frame of its scope when every input has a token at the frame's prefix and
every enclosing If took the transition's branch. Loop counts and branch
decisions arrive as control messages (from this site or another). The site
is done when every transition fired for every frame it is expected to fire
for and no adapter call is still running.
"""

from __future__ import annotations

import asyncio
import operator
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from dfm.kernel.ir.net import (
    BoolOpC,
    BranchT,
    CallT,
    CompareC,
    CondC,
    Constant,
    DoneT,
    Input,
    LoopScope,
    NotC,
    PickledC,
    ScatterT,
    SelectT,
    SendT,
    SiteNet,
    Transition,
    TruthyC,
    YieldT,
    scope_depth,
    transition_inputs,
)
from dfm.kernel.ir.pipeline import SelectError, select
from dfm.runner.messages import BranchTaken, Frame, LoopCount, Result, SiteDone, Token

if TYPE_CHECKING:
    from dfm.runner.site import SiteRuntime

_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _unpickle(source: PickledC) -> Any:
    """A ``PickledObject`` literal; only nets of sites whose config allows pickle get here
    (:meth:`dfm.runner.site.SiteRuntime.check_net` refuses the others)."""
    import base64
    import pickle

    return pickle.loads(base64.b64decode(source.data))


class CompiledNet:
    """Static facts about a net, computed once per prepared pipeline and site."""

    def __init__(self, net: SiteNet):
        self.net = net
        self.depth = {p.name: p.depth for p in net.places}
        self.senders = net.senders  # received place or control -> the one site that may send it
        self.controls = frozenset(net.controls)
        self.sending_sites = frozenset(net.senders.values())
        self.tdepth = {t.id: scope_depth(t.scope) for t in net.transitions}
        self.inputs = {t.id: transition_inputs(t) for t in net.transitions}
        self.consumers: dict[str, list[Transition]] = defaultdict(list)
        self.in_scope: dict[str, list[Transition]] = defaultdict(list)  # loop/If id -> transitions
        # Per transition: inputs with their depths, and branch guards with the depth they apply at.
        self.reads: dict[str, list[tuple[str, int]]] = {}
        self.guards: dict[str, list[tuple[str, int, bool]]] = {}
        self.max_read_depth: dict[str, int] = {}
        for t in net.transitions:
            self.reads[t.id] = [(p, self.depth.get(p, 1)) for p in self.inputs[t.id]]
            self.max_read_depth[t.id] = max((d for _, d in self.reads[t.id]), default=0)
            guards, depth = [], 1
            for item in t.scope:
                if isinstance(item, LoopScope):
                    depth += 1
                else:
                    guards.append((item.cond, depth, item.branch))
            self.guards[t.id] = guards
            for place in self.inputs[t.id]:
                self.consumers[place].append(t)
            for item in t.scope:
                self.in_scope[item.loop if isinstance(item, LoopScope) else item.cond].append(t)


class NetRunner:
    """The state of one job at one site."""

    def __init__(self, job: str, compiled: CompiledNet, site: SiteRuntime, frames: int):
        self.job = job
        self.c = compiled
        self.site = site
        self.frames = frames
        self.tokens: dict[str, dict[Frame, Any]] = defaultdict(dict)
        self.fired: dict[str, set[Frame]] = defaultdict(set)
        self.loops: dict[tuple[str, Frame], int] = {}
        self.branches: dict[tuple[str, Frame], bool] = {}
        self.running: set[asyncio.Task[Any]] = set()
        self.finished = False
        self._check_pending = False

    # -- events --------------------------------------------------------------------

    def start(self, params: dict[str, list[Any]]) -> None:
        for name, values in params.items():
            for i, value in enumerate(values):
                self.tokens[f"p:{name}"][(i,)] = value
        for t in self.c.net.transitions:
            for frame in self._frames(t, ()):
                self._try_fire(t, frame)
        self._check_done()

    def on_token(self, place: str, frame: Frame, value: Any) -> None:
        self.tokens[place][frame] = value
        for t in self.c.consumers.get(place, ()):
            for f in self._frames(t, frame):
                self._try_fire(t, f)
        self._check_done()

    def on_loop(self, loop: str, frame: Frame, count: int) -> None:
        self.loops[(loop, frame)] = count
        # A transition reading a place inside the loop fires when that token arrives (loop counts
        # never gate a token at the transition's own depth), so only shallower readers need waking.
        self._wake_scope(loop, frame, max_depth=len(frame))

    def on_branch(self, cond: str, frame: Frame, branch: bool) -> None:
        self.branches[(cond, frame)] = branch
        self._wake_scope(cond, frame)

    def _wake_scope(self, scope_id: str, frame: Frame, max_depth: int | None = None) -> None:
        for t in self.c.in_scope.get(scope_id, ()):
            if max_depth is not None and self.c.max_read_depth[t.id] > max_depth:
                continue
            for f in self._frames(t, frame):
                self._try_fire(t, f)
        self._check_done()

    # -- frames ------------------------------------------------------------------------

    def _frames(self, t: Transition, prefix: Frame) -> Iterator[Frame]:
        """Known frames of ``t`` that extend ``prefix`` (unknown loop counts yield nothing yet)."""
        depth = self.c.tdepth[t.id]
        if len(prefix) == depth:  # the common case: a token at the transition's own depth
            branches = self.branches
            for cond, at, branch in self.c.guards[t.id]:
                if branches.get((cond, prefix[:at])) is not branch:
                    return iter(())
            return iter((prefix,))
        frames: list[Frame] = [(i,) for i in range(self.frames)] if not prefix else [prefix[:1]]
        if prefix and not 0 <= prefix[0] < self.frames:
            return iter(())
        for item in t.scope:
            if isinstance(item, LoopScope):
                nxt = []
                for f in frames:
                    if len(prefix) > len(f):  # follow the prefix down instead of enumerating
                        if (item.loop, f) in self.loops:
                            nxt.append(prefix[: len(f) + 1])
                        continue
                    count = self.loops.get((item.loop, f))
                    if count is not None:
                        nxt.extend((*f, k) for k in range(count))
                frames = nxt
            else:
                frames = [f for f in frames if self.branches.get((item.cond, f)) is item.branch]
        return (f for f in frames if len(f) == depth)

    def _complete(self, t: Transition) -> bool:
        """Whether every frame ``t`` must fire for is known and fired."""
        frames: list[Frame] = [(i,) for i in range(self.frames)]
        for item in t.scope:
            if isinstance(item, LoopScope):
                nxt: list[Frame] = []
                for f in frames:
                    count = self.loops.get((item.loop, f))
                    if count is None:
                        return False
                    nxt.extend((*f, k) for k in range(count))
                frames = nxt
            else:
                kept = []
                for f in frames:
                    taken = self.branches.get((item.cond, f))
                    if taken is None:
                        return False
                    if taken is item.branch:
                        kept.append(f)
                frames = kept
        fired = self.fired.get(t.id, set())
        return len(fired) >= len(frames) and all(f in fired for f in frames)

    # -- firing --------------------------------------------------------------------------

    def _read(self, place: str, frame: Frame) -> tuple[bool, Any]:
        tokens = self.tokens.get(place)
        if tokens is None:
            return False, None
        key = frame[: self.c.depth.get(place, len(frame))]
        if key in tokens:
            return True, tokens[key]
        return False, None

    def _value(self, source: Input, frame: Frame) -> tuple[bool, Any]:
        if isinstance(source, Constant):
            return True, source.value
        if isinstance(source, PickledC):
            return True, _unpickle(source)
        return self._read(source.place, frame)

    def _try_fire(self, t: Transition, frame: Frame) -> None:
        fired = self.fired[t.id]
        if self.finished or frame in fired:
            return
        values: dict[str, Any] = {}
        tokens = self.tokens
        for place, depth in self.c.reads[t.id]:
            key = frame[:depth]
            held = tokens.get(place)
            if held is None or key not in held:
                return
            values[place] = held[key]
        fired.add(frame)
        kind = type(t)
        if kind is SendT:
            self.site.send(t.site, Token(self.job, t.target, frame, values[t.source]))  # type: ignore[union-attr]
        elif kind is YieldT:
            self.site.to_app(Result(self.job, t.place, frame, values[t.source]))  # type: ignore[union-attr]
        elif isinstance(t, CallT):
            args = {
                name: (
                    src.value
                    if isinstance(src, Constant)
                    else _unpickle(src)
                    if isinstance(src, PickledC)
                    else values[src.place]
                )
                for name, src in t.args.items()
            }
            self._call(t, frame, args)
        elif kind is SelectT:
            try:
                part = select(values[t.source], t.path)  # type: ignore[union-attr]
            except SelectError as exc:
                path = "".join(f"[{step!r}]" for step in t.path)  # type: ignore[union-attr]
                node = t.source[2:]  # type: ignore[union-attr]
                self.site.fail(self.job, f"site '{self.site.name}': selector {path} on {node}: {exc}")
                return
            self.on_token(t.output, frame, part)  # type: ignore[union-attr]
        elif kind is DoneT:
            self.on_token(t.output, frame, None)  # type: ignore[union-attr]
        elif isinstance(t, ScatterT):
            self._scatter(t, frame, values[t.source])
        elif isinstance(t, BranchT):
            taken = bool(self._eval(t.cond, frame))
            for site in t.notify:
                self.site.send(site, BranchTaken(self.job, t.cond_id, frame, taken))

    def _scatter(self, t: ScatterT, frame: Frame, collection: Any) -> None:
        try:
            items = list(collection.values() if isinstance(collection, dict) else collection)
        except TypeError:
            self.site.fail(self.job, f"ForEach {t.loop}: cannot iterate over a {type(collection).__name__}")
            return
        for site in t.notify:
            self.site.send(site, LoopCount(self.job, t.loop, frame, len(items)))
        # Items become tokens only after the count is known here, so consumers see both.
        self.site.defer(lambda: self._emit_items(t, frame, items))

    def _emit_items(self, t: ScatterT, frame: Frame, items: list[Any]) -> None:
        if self.finished:
            return
        tokens = self.tokens[t.output]
        for k, item in enumerate(items):
            tokens[(*frame, k)] = item
        for consumer in self.c.consumers.get(t.output, ()):
            for k in range(len(items)):
                for f in self._frames(consumer, (*frame, k)):
                    self._try_fire(consumer, f)
        self._check_done()

    def _eval(self, cond: CondC, frame: Frame) -> Any:
        if isinstance(cond, CompareC):
            left = self._value(cond.left, frame)[1]
            right = self._value(cond.right, frame)[1]
            try:
                return _COMPARE[cond.op](left, right)
            except TypeError:
                return False
        if isinstance(cond, TruthyC):
            return bool(self._value(cond.value, frame)[1])
        if isinstance(cond, NotC):
            return not self._eval(cond.item, frame)
        assert isinstance(cond, BoolOpC)
        results = (bool(self._eval(item, frame)) for item in cond.items)
        return all(results) if cond.op == "and" else any(results)

    def _call(self, t: CallT, frame: Frame, args: dict[str, Any]) -> None:
        task = self.site.call_adapter(self.job, t, args)
        self.running.add(task)

        def finished(task: asyncio.Task[Any]) -> None:
            self.running.discard(task)
            if self.finished or task.cancelled():
                return
            error = task.exception()
            if error is not None:
                self.site.fail(self.job, self.site.describe_failure(t, error))
                return
            try:
                self.on_token(t.output, frame, task.result())
            except Exception as exc:  # a done-callback's exception would only reach asyncio's log
                self.site.fail(self.job, f"site '{self.site.name}' failed after {t.operation}: {exc!r}")

        task.add_done_callback(finished)

    # -- completion ------------------------------------------------------------------------

    def _check_done(self) -> None:
        """Schedule one completion check after the current burst of events."""
        if self.finished or self.running or self._check_pending:
            return
        self._check_pending = True
        self.site.defer(self._really_check_done)

    def _really_check_done(self) -> None:
        self._check_pending = False
        if self.finished or self.running:
            return
        if all(self._complete(t) for t in self.c.net.transitions):
            self.finished = True
            self.site.to_app(SiteDone(self.job, self.site.name))
            self.site.forget(self.job)

    def cancel(self) -> None:
        self.finished = True
        for task in list(self.running):
            task.cancel()
        self.running.clear()
