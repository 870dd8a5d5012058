"""Run one site's Petri net for one job.

Semantics are those documented in :mod:`dfm.kernel.ir.net`: tokens are kept
per (place, frame) and read, never consumed; a transition fires once per
frame of its scope when every input has a token at the frame's prefix and
every enclosing If took the transition's branch. Loop counts and branch
decisions arrive as control messages (from this site or another). The site
is done when every transition fired for every frame it is expected to fire
for and no adapter call is still running.

Open jobs (``execute(..., autostop=False)``) get more frames while they run
(:meth:`NetRunner.more_frames`) and are never done before the application's
stop frame (:meth:`NetRunner.stop_frames`) says how many frames there are.
A frame of an open job is *retired* once every transition here has fired for all
of it: its tokens, firings, loop counts, branches and streams are dropped, and
later messages for it are ignored, so a service job's state stays bounded by the
frames in flight, not by the frames served.

Streams: an adapter that returns a (sync or async) generator produces its
items one by one. Item ``k`` of the output place for frame ``f`` is a token at
sub-frame ``(*f, k)``: a Yield delivers it as it comes, a send forwards it, a
ForEach over it takes it as its item ``k`` (the loop's count is announced at
the end), and an operation or condition that needs the whole value gets the
list of all items at the end. The end of a stream travels to the sites that
receive it as :class:`~dfm.runner.messages.StreamEnd`. Backpressure: a
stream's producer keeps at most :data:`STREAM_WINDOW` items unacknowledged by
each receiving site (:class:`~dfm.runner.messages.StreamAck`), at most that
many adapter calls of the job running here, and, at the homesite, sends no
more results than the application accepts (:class:`~dfm.runner.messages.Credit`);
a receiving site acknowledges items only while it has room itself. A stream
never buffers items: it pauses its generator instead.
"""

from __future__ import annotations

import asyncio
import inspect
import operator
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from dfm.kernel.ir.net import (
    BoolOpC,
    BranchT,
    CacheStoreT,
    CacheT,
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
    transition_inputs,
)
from dfm.kernel.ir.pipeline import SelectError, select
from dfm.runner.messages import (
    BranchTaken,
    Frame,
    LoopCount,
    Result,
    SiteDone,
    StreamAck,
    StreamEnd,
    Token,
)

if TYPE_CHECKING:
    from dfm.runner.nethost import NetHost

_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}

#: Items of one stream a producer keeps unacknowledged per receiving site, and adapter
#: calls of a job a streaming site lets run before it pauses its generators.
STREAM_WINDOW = 64
MAX_STREAM_ITEMS = 100_000_000  # items one stream may have (a consumer needing the whole value)


class _Stream:
    """The state of one stream: items of a place for one frame."""

    __slots__ = ("acked", "count", "forwarded", "items", "sent_ack")

    def __init__(self) -> None:
        self.count = 0  # items seen so far
        self.items: list[Any] | None = None  # kept for consumers that need the whole value
        self.forwarded: dict[str, int] = {}  # receiving site -> items sent to it
        self.acked: dict[str, int] = {}  # receiving site -> items it acknowledged
        self.sent_ack = 0  # items we acknowledged to our sender (a received stream)


def _unpickle(source: PickledC) -> Any:
    """A ``PickledObject`` literal; only nets of sites whose config allows pickle get here
    (:meth:`dfm.runner.site.SiteRuntime.check_net` refuses the others)."""
    import base64
    import pickle

    return pickle.loads(base64.b64decode(source.data))


class CompiledNet:
    """Static facts about a net, computed once per prepared pipeline and site (one pass over it)."""

    def __init__(self, net: SiteNet):
        self.net = net
        depth = self.depth = {p.name: p.depth for p in net.places}
        self.senders = net.senders  # received place or control -> the one site that may send it
        self.controls = frozenset(net.controls)
        self.sending_sites = frozenset(net.senders.values())
        self.tdepth: dict[str, int] = {}
        self.consumers: dict[str, list[Transition]] = defaultdict(list)
        consumers = self.consumers
        self.in_scope: dict[str, list[Transition]] = defaultdict(list)  # loop/If id -> transitions
        # Per transition: inputs with their depths, and branch guards with the depth they apply at.
        self.reads: dict[str, list[tuple[str, int]]] = {}
        self.guards: dict[str, list[tuple[str, int, bool]]] = {}
        self.max_read_depth: dict[str, int] = {}
        # (receiving site, its place) -> our place whose stream we send there: who may acknowledge it
        self.ack_routes: dict[tuple[str, str], str] = {}
        reads, guards, max_read_depth, tdepth = self.reads, self.guards, self.max_read_depth, self.tdepth
        for t in net.transitions:
            tid = t.id
            inputs = transition_inputs(t)
            read = reads[tid] = [(p, depth.get(p, 1)) for p in inputs]
            max_read_depth[tid] = max([d for _, d in read]) if read else 0
            for place in inputs:
                consumers[place].append(t)
            if not t.scope:  # most transitions: top level, no guards
                guards[tid] = _NO_GUARDS
                tdepth[tid] = 1
            else:
                guards[tid], tdepth[tid] = self._scope(t)
            if isinstance(t, SendT):
                self.ack_routes[(t.site, t.target)] = t.source

    def _scope(self, t: Transition) -> tuple[list[tuple[str, int, bool]], int]:
        """The branch guards of ``t`` (with the depth each applies at) and its frame length
        (``scope_depth(t.scope)``); ``t`` joins the loops and Ifs it is inside."""
        guards: list[tuple[str, int, bool]] = []
        at = 1
        for item in t.scope:
            if isinstance(item, LoopScope):
                at += 1
                self.in_scope[item.loop].append(t)
            else:
                guards.append((item.cond, at, item.branch))
                self.in_scope[item.cond].append(t)
        return guards, at


_NO_GUARDS: list[tuple[str, int, bool]] = []  # shared, never changed


class NetRunner:
    """The state of one job at one site."""

    def __init__(self, job: str, compiled: CompiledNet, site: NetHost, frames: int, open: bool = False):
        self.job = job
        self.c = compiled
        self.site = site
        self.frames = frames
        self.open = open  # more frames may come (MoreFrames) until the stop frame
        self.streams: dict[tuple[str, Frame], _Stream] = {}  # open streams
        self.ended_streams: set[tuple[str, Frame]] = set()
        self.results_sent = 0
        self.pumps = 0  # running generators (in self.running, but not adapter calls)
        self.allowed: int | None = None  # results the application accepts in all (None: no limit)
        self._room: asyncio.Event | None = None  # set when a paused stream may go on
        self.tokens: dict[str, dict[Frame, Any]] = defaultdict(dict)
        self.fired: dict[str, set[Frame]] = defaultdict(set)
        self.loops: dict[tuple[str, Frame], int] = {}
        self.branches: dict[tuple[str, Frame], bool] = {}
        self.running: set[asyncio.Task[Any]] = set()
        self.finished = False
        self._check_pending = False
        # Completion is checked incrementally: transitions not yet known complete, in net order
        # (a complete transition stays complete unless a loop count or branch changes), and the
        # frames each must fire for, once every loop count and branch they depend on is known.
        self._incomplete: list[Transition] = list(compiled.net.transitions)
        self._next = 0  # _incomplete[:_next] are known complete
        self._required: dict[str, list[Frame]] = {}
        # open jobs: top-level frames touched since the last retirement check, and those retired
        # (every index below ``_retired_below``, plus the set)
        self._dirty: set[int] = set()
        self._retired: set[int] = set()
        self._retired_below = 0
        self._retire_pending = False

    # -- events --------------------------------------------------------------------

    def start(self, params: dict[str, list[Any]]) -> None:
        """Start the job: store its parameters (a value per frame) and fire every transition that can."""
        for name, values in params.items():
            for i, value in enumerate(values):
                self.tokens[f"p:{name}"][(i,)] = value
        for t in self.c.net.transitions:
            for frame in self._frames(t, ()):
                self._try_fire(t, frame)
        self._check_done()

    def more_frames(self, first: int, count: int, params: dict[str, list[Any]]) -> None:
        """Frames ``first .. first + count - 1`` of an open job (``first`` is the current count)."""
        for name, values in params.items():
            tokens = self.tokens[f"p:{name}"]
            for i, value in enumerate(values):
                tokens[(first + i,)] = value
        self.frames = first + count
        for i in range(first, first + count):
            for t in self.c.net.transitions:
                for frame in self._frames(t, (i,)):
                    self._try_fire(t, frame)

    def stop_frames(self) -> None:
        """The open job gets no more frames: it is done once those it has are."""
        self.open = False
        self._check_done()

    def on_credit(self, allowed: int) -> None:
        """The application now accepts ``allowed`` results in all: raise the limit and resume paused
        streams.
        """
        if self.allowed is None or allowed > self.allowed:
            self.allowed = allowed
            self._wake_streams()

    def on_token(self, place: str, frame: Frame, value: Any) -> None:
        """A token for ``place`` in ``frame`` arrived (or was produced here): store it and fire what it
        enables.
        """
        if self.open and self._is_retired(frame):
            return  # a late or repeated token of a frame already done here
        self.tokens[place][frame] = value
        for t in self.c.consumers.get(place, ()):
            for f in self._frames(t, frame):
                self._try_fire(t, f)
        self._touch(frame)
        self._check_done()

    def on_loop(self, loop: str, frame: Frame, count: int) -> None:
        """The ForEach ``loop`` has ``count`` items in ``frame``: record it and wake the transitions it
        concerns.
        """
        if self.open and self._is_retired(frame):
            return
        self._touch(frame)
        key = (loop, frame)
        if self.loops.setdefault(key, count) != count:
            self.loops[key] = count
            self._recheck_all()
        # A transition reading a place inside the loop fires when that token arrives (loop counts
        # never gate a token at the transition's own depth), so only shallower readers need waking.
        self._wake_scope(loop, frame, max_depth=len(frame))

    def on_branch(self, cond: str, frame: Frame, branch: bool) -> None:
        """The If ``cond`` took ``branch`` in ``frame``: record it and wake the transitions it concerns."""
        if self.open and self._is_retired(frame):
            return
        self._touch(frame)
        key = (cond, frame)
        if self.branches.setdefault(key, branch) != branch:
            self.branches[key] = branch
            self._recheck_all()
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

    def _roots(self) -> list[Frame]:
        """The top-level frames not retired."""
        if not self._retired and not self._retired_below:
            return [(i,) for i in range(self.frames)]
        return [(i,) for i in range(self._retired_below, self.frames) if i not in self._retired]

    def _required_frames(self, t: Transition, roots: list[Frame] | None = None) -> list[Frame] | None:
        """Every frame ``t`` must fire for (under ``roots``, default: every frame not retired), or None
        while a loop count or branch it needs is unknown."""
        frames: list[Frame] = self._roots() if roots is None else roots
        for item in t.scope:
            if isinstance(item, LoopScope):
                nxt: list[Frame] = []
                for f in frames:
                    count = self.loops.get((item.loop, f))
                    if count is None:
                        return None
                    nxt.extend((*f, k) for k in range(count))
                frames = nxt
            else:
                kept = []
                for f in frames:
                    taken = self.branches.get((item.cond, f))
                    if taken is None:
                        return None
                    if taken is item.branch:
                        kept.append(f)
                frames = kept
        return frames

    def _complete(self, t: Transition) -> bool:
        """Whether every frame ``t`` must fire for is known and fired."""
        frames = self._required.get(t.id)
        if frames is None:
            if not t.scope and not self._retired_below and not self._retired:  # the common case
                fired = self.fired.get(t.id, ())  # none fired: complete only when there are no frames
                return len(fired) >= self.frames and all((i,) in fired for i in range(self.frames))
            frames = self._required_frames(t)
            if frames is None:
                return False
            self._required[t.id] = frames  # loop counts and branches, once known, do not change
        fired = self.fired.get(t.id, set())
        return len(fired) >= len(frames) and all(f in fired for f in frames)

    def _recheck_all(self) -> None:
        """A loop count or branch changed (a site sent it twice): completion must be checked afresh."""
        self._required.clear()
        self._next = 0

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
        if self.open:
            self._dirty.add(frame[0])
        kind = type(t)
        if kind is SendT:
            self.site.send(t.site, Token(self.job, t.target, frame, values[t.source]))  # type: ignore[union-attr]
        elif kind is YieldT:
            self.results_sent += 1
            self.site.to_app(Result(self.job, t.place, frame, values[t.source], t.node))  # type: ignore[union-attr]
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
        elif isinstance(t, CacheT):
            self._background(t.id, frame, self._lookup(t, frame, [values[p] for p in t.inputs]))
        elif isinstance(t, CacheStoreT):
            self._background(t.id, frame, self._store(t, frame, values[t.source], values[t.digest]))

    # -- TryFromCache -------------------------------------------------------------------------

    def _background(self, what: str, frame: Frame, work: Any) -> None:
        """Run ``work`` (a coroutine) as part of the job: it is done only once ``work`` is."""
        task = self.site.loop.create_task(work, name=f"{self.job}:{what}")
        self._track(
            task,
            lambda error: f"site '{self.site.name}', {what} in frame {list(frame)}: {error!r}",
            lambda _: self._check_done(),
        )

    def _track(
        self, task: asyncio.Task[Any], failure: Callable[[BaseException], str], done: Callable[[Any], None]
    ) -> None:
        """Count ``task`` as this job's running work; when it ends, ``failure(error)`` is the message
        the job fails with, else ``done(result)`` goes on (neither once the job is over)."""
        self.running.add(task)

        def finished(task: asyncio.Task[Any]) -> None:
            self.running.discard(task)
            if self.finished or task.cancelled():
                return
            error = task.exception()
            if error is not None:
                self.site.fail(self.job, failure(error))
                return
            done(task.result())

        task.add_done_callback(finished)

    async def _lookup(self, t: CacheT, frame: Frame, inputs: list[Any]) -> None:
        cache = self.site.cache
        digest = await self.site.blocking(cache.digest, t.key, t.resident, inputs)
        hit, value = await self.site.blocking(cache.get, digest)
        if self.finished:
            return
        self.site.cache_event(self.job, t, frame, "hit" if hit else "miss", digest)
        if hit:
            self.on_token(t.output, frame, value)
        else:
            self.on_token(t.digest, frame, digest)
        for site in t.notify:  # a miss takes the branch holding the body and its store
            self.site.send(site, BranchTaken(self.job, t.block, frame, not hit))

    async def _store(self, t: CacheStoreT, frame: Frame, value: Any, digest: str) -> None:
        cache = self.site.cache
        lookup = self.site.cache_lookup(self.c.net, t.block)
        self.on_token(t.output, frame, value)  # consumers need not wait for the write
        await self.site.blocking(cache.put, digest, lookup.key, lookup.resident, value)

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
        def done(result: Any) -> None:
            try:
                if inspect.isgenerator(result) or inspect.isasyncgen(result):
                    self._pump(t, frame, result)
                else:
                    self.on_token(t.output, frame, result)
                self._wake_streams()
            except Exception as exc:  # a done-callback's exception would only reach asyncio's log
                self.site.fail(self.job, f"site '{self.site.name}' failed after {t.operation}: {exc!r}")

        task = self.site.call_adapter(self.job, t, args)
        self._track(task, lambda error: self.site.describe_failure(t, error), done)

    # -- streams ------------------------------------------------------------------------------

    def _pump(self, t: CallT, frame: Frame, generator: Any) -> None:
        """Run a generator an adapter returned: each item becomes a stream item of ``t.output``."""
        task = self.site.loop.create_task(
            self._run_stream(t, frame, generator), name=f"{self.job}:{t.id}:stream"
        )
        self.running.add(task)
        self.pumps += 1

        def finished(task: asyncio.Task[Any]) -> None:
            self.running.discard(task)
            self.pumps -= 1
            if self.finished or task.cancelled():
                return
            error = task.exception()
            if error is not None:
                self.site.fail(self.job, self.site.describe_failure(t, error))
                return
            self._check_done()

        task.add_done_callback(finished)

    async def _run_stream(self, t: CallT, frame: Frame, generator: Any) -> None:
        place = t.output
        key = (place, frame)
        items = self.site.iterate(generator)
        count = 0
        try:
            while True:
                while not self._has_room(key):
                    if self._room is None:
                        self._room = asyncio.Event()
                    self._room.clear()
                    await self._room.wait()
                try:
                    item = await items.__anext__()
                except StopAsyncIteration:
                    break
                if self.finished:
                    return
                self.on_stream_item(place, frame, count, item)
                count += 1
        finally:
            await items.aclose()
        if not self.finished:
            self.on_stream_end(place, frame, count)

    def _has_room(self, key: tuple[str, Frame]) -> bool:
        """Whether the stream ``key`` (produced or relayed here) may take one more item."""
        if self.allowed is not None and self.results_sent >= self.allowed:
            return False
        if len(self.running) - self.pumps >= STREAM_WINDOW:  # adapter calls, not generators
            return False
        stream = self.streams.get(key)
        if stream is not None:
            for site, sent in stream.forwarded.items():
                if sent - stream.acked.get(site, 0) >= STREAM_WINDOW:
                    return False
        return True

    def _wake_streams(self) -> None:
        if self._room is not None:
            self._room.set()
        self._release_acks()

    def _release_acks(self) -> None:
        """Acknowledge the items of received streams that this site has room for."""
        for (place, frame), stream in self.streams.items():
            if stream.count > stream.sent_ack and place in self.c.senders and self._has_room((place, frame)):
                stream.sent_ack = stream.count
                self.site.send(self.c.senders[place], StreamAck(self.job, place, frame, stream.count))

    def _stream_consumers(self, place: str, frame: Frame) -> Iterator[Transition]:
        for t in self.c.consumers.get(place, ()):
            if self.c.tdepth[t.id] != len(frame):
                continue  # reads the place from inside a loop: gets the whole value at the end
            for cond, at, branch in self.c.guards[t.id]:
                taken = self.branches.get((cond, frame[:at]))
                if taken is None:
                    raise RuntimeError(
                        f"a stream reached {t.id} before the If it depends on was decided (not supported)"
                    )
                if taken is not branch:
                    break
            else:
                yield t

    def on_stream_item(self, place: str, frame: Frame, k: int, value: Any) -> None:
        """Item ``k`` of the stream at ``place`` for ``frame`` (produced here or received)."""
        if self.finished or (self.open and self._is_retired(frame)):
            return
        key = (place, frame)
        stream = self.streams.get(key)
        if stream is None:
            if key in self.ended_streams:
                raise ValueError(f"an item of the stream of '{place}' after its end")
            stream = self.streams[key] = _Stream()
        if k != stream.count or k >= MAX_STREAM_ITEMS:
            raise ValueError(f"stream item {k} of '{place}' out of order")
        stream.count += 1
        sub = (*frame, k)
        for t in self._stream_consumers(place, frame):
            kind = type(t)
            if kind is YieldT:
                self.results_sent += 1
                self.site.to_app(Result(self.job, t.place, sub, value, t.node))  # type: ignore[union-attr]
            elif kind is SendT:
                site = t.site  # type: ignore[union-attr]
                stream.forwarded[site] = stream.forwarded.get(site, 0) + 1
                self.site.send(site, Token(self.job, t.target, sub, value))  # type: ignore[union-attr]
            elif kind is ScatterT:
                self.tokens[t.output][sub] = value  # type: ignore[union-attr]
                for consumer in self.c.consumers.get(t.output, ()):  # type: ignore[union-attr]
                    for f in self._frames(consumer, sub):
                        self._try_fire(consumer, f)
            else:  # needs the whole value: collected until the end
                if stream.items is None:
                    stream.items = []
                stream.items.append(value)
        if place in self.c.senders:
            self._release_acks()

    def on_stream_end(self, place: str, frame: Frame, count: int) -> None:
        """The stream at ``place`` for ``frame`` ended after ``count`` items; raises ``ValueError`` if
        that does not match what arrived.
        """
        if self.finished or (self.open and self._is_retired(frame)):
            return
        key = (place, frame)
        if key in self.ended_streams:
            raise ValueError(f"the stream of '{place}' ended twice")
        stream = self.streams.get(key) or _Stream()
        if count != stream.count:
            raise ValueError(f"the stream of '{place}' ended after {count} items, {stream.count} arrived")
        self.ended_streams.add(key)
        whole = False
        for t in self._stream_consumers(place, frame):
            kind = type(t)
            if kind is SendT:
                self.site.send(t.site, StreamEnd(self.job, t.target, frame, count))  # type: ignore[union-attr]
            elif kind is ScatterT:
                for site in t.notify:  # type: ignore[union-attr]
                    self.site.send(site, LoopCount(self.job, t.loop, frame, count))  # type: ignore[union-attr]
            elif kind is not YieldT:
                whole = True
                continue
            self.fired[t.id].add(frame)
        self.streams.pop(key, None)
        self._touch(frame)
        if whole or any(self.c.tdepth[t.id] != len(frame) for t in self.c.consumers.get(place, ())):
            self.on_token(place, frame, stream.items or [])  # fires only those not fired yet
        self._check_done()

    def on_stream_ack(self, place: str, frame: Frame, site: str, count: int) -> None:
        """``site`` has taken ``count`` items of the stream at ``place`` for ``frame``: resume the stream
        if it was waiting.
        """
        stream = self.streams.get((place, frame))
        if stream is not None and count > stream.acked.get(site, 0):
            stream.acked[site] = min(count, stream.forwarded.get(site, 0))
            self._wake_streams()

    # -- completion ------------------------------------------------------------------------

    def _check_done(self) -> None:
        """Schedule one completion check after the current burst of events."""
        if self.finished or self.running or self._check_pending:
            return
        self._check_pending = True
        self.site.defer(self._really_check_done)

    def _really_check_done(self) -> None:
        self._check_pending = False
        if self.finished or self.running or self.open:
            return
        # Each check resumes at the first transition not yet known complete: a transition is
        # checked again only while it is that first one, so checks cost O(transitions) per job
        # overall, not per event.
        incomplete, i = self._incomplete, self._next
        while i < len(incomplete) and self._complete(incomplete[i]):
            i += 1
        self._next = i
        if i == len(incomplete):
            self.finished = True
            self.site.to_app(SiteDone(self.job, self.site.name))
            self.site.forget(self.job)

    # -- retiring the frames of open jobs ------------------------------------------------------

    def _is_retired(self, frame: Frame) -> bool:
        return bool(frame) and (frame[0] < self._retired_below or frame[0] in self._retired)

    def _touch(self, frame: Frame) -> None:
        if self.open and frame:
            self._dirty.add(frame[0])
            if not self._retire_pending:
                self._retire_pending = True
                self.site.defer(self._retire_done_frames)

    def _retire_done_frames(self) -> None:
        """Retire every touched frame that every transition here is done with."""
        self._retire_pending = False
        if self.finished or not self.open:
            return
        dirty, self._dirty = self._dirty, set()
        for i in sorted(dirty):
            if self._is_retired((i,)) or not 0 <= i < self.frames:
                continue
            if any(f[0] == i for _, f in self.streams):
                self._dirty.add(i)  # a stream of it is still open: look again when it ends
                continue
            done = True
            for t in self.c.net.transitions:
                frames = self._required_frames(t, [(i,)])
                fired = self.fired.get(t.id, ())
                if frames is None or any(f not in fired for f in frames):
                    done = False
                    break
            if done:
                self._retire(i)

    def _retire(self, i: int) -> None:
        for tokens in self.tokens.values():
            for frame in [f for f in tokens if f[0] == i]:
                del tokens[frame]
        for fired in self.fired.values():
            fired.difference_update([f for f in fired if f[0] == i])
        for keyed in (self.loops, self.branches):
            for key in [k for k in keyed if k[1][0] == i]:
                del keyed[key]
        self.ended_streams = {k for k in self.ended_streams if k[1][0] != i}
        self._retired.add(i)
        while self._retired_below in self._retired:  # keep the set small: a watermark below it
            self._retired.discard(self._retired_below)
            self._retired_below += 1

    def cancel(self) -> None:
        """Stop the job here: mark it finished and cancel its running calls."""
        self.finished = True
        for task in list(self.running):
            task.cancel()
        self.running.clear()
