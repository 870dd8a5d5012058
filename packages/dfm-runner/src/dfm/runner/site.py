"""A site's runtime: its adapters, vault, installed nets and running jobs.

One :class:`SiteRuntime` per site per session, whatever the transport. It
re-checks every net it is asked to install against its own config (a site
only executes what its own config declares), creates each adapter once, and
runs one :class:`~dfm.runner.netrunner.NetRunner` per job.

The trust boundary lives here, the same for every transport: the transport
says who sent each message (``APP`` or a site, as it authenticated them) and
the site obeys control messages only from the application, and takes data
(tokens, loop counts, branch decisions) only from the site its installed net
names for that place or control. Anything else is refused, reported to the
application as :class:`~dfm.runner.messages.Refused`, and has no effect.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import json
import logging
import re
import sys
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from dfm.kernel.advice import AdvisedError, advice_to_data, advisors, decided
from dfm.kernel.config.models import (
    FROM_OPERATION,
    Const,
    Federation,
    FromParam,
    FromProvider,
    FromSecrets,
    FromSite,
    InterfaceEntry,
)
from dfm.kernel.context import ProviderContext, SiteContext
from dfm.kernel.entrypoints import canonical_name
from dfm.kernel.errors import DfmError
from dfm.kernel.gcpause import gc_paused
from dfm.kernel.ir.net import (
    BranchT,
    CacheStoreT,
    CacheT,
    CallT,
    CompareC,
    CondC,
    DoneT,
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
from dfm.kernel.ir.pipeline import cache_key_problem, path_problem
from dfm.kernel.ir.serde import digest as ir_digest
from dfm.kernel.ir.serde import from_data, text_digest
from dfm.kernel.names import name_problem, shown
from dfm.kernel.plugins import DFM_DISTRIBUTIONS, DfmPluginManager, get_plugin_manager
from dfm.kernel.records import import_target, load_target
from dfm.runner.cache import SiteCache
from dfm.runner.messages import (
    APP,
    CONTROL,
    Advice,
    BranchTaken,
    Credit,
    Discover,
    Install,
    JobStarted,
    LoopCount,
    MoreFrames,
    Refused,
    Result,
    SiteFailed,
    StartJob,
    StopFrames,
    StreamAck,
    StreamEnd,
    Token,
)
from dfm.runner.netrunner import CompiledNet, NetRunner
from dfm.runner.vault import Vault
from dfm.runner.workers import WorkerPool

log = logging.getLogger("dfm.runner.site")

cache_logger = logging.getLogger("dfm.runner.cache")
_PLACE = re.compile(r"[vrp]:[A-Za-z0-9_.-]{1,200}")  # places are named by the compiler: v:n3, r:n3, p:name
MAX_PENDING = 100_000  # messages held for jobs not started here yet (a peer may run ahead)
MAX_LOOP_ITEMS = 100_000_000
MAX_FRAMES = 100_000_000  # frames of one job (an open job grows with MoreFrames)
MAX_DISCOVER_CALLS = 10_000  # calls one Discover may ask about
ADVISOR_TIMEOUT = 30.0  # seconds an advisor may take when its interface entry sets no timeout
_DONE = object()


class _SyncItems:
    """A sync generator stepped on the site's worker threads, one item at a time."""

    def __init__(self, generator: Any, site: SiteRuntime):
        self.generator = generator
        self.site = site
        self.work: Any = None

    def _next(self) -> Any:
        try:
            return next(self.generator)
        except StopIteration:
            return _DONE

    async def __anext__(self) -> Any:
        self.work = self.site.pool.submit(self._next)
        item = await asyncio.wrap_future(self.work, loop=self.site.loop)
        if item is _DONE:
            raise StopAsyncIteration
        return item

    async def aclose(self) -> None:
        work, pool = self.work, self.site.pool
        if work is not None and not work.done():
            # cancelled during a step: abandon that worker, close the generator once the step ends
            pool.abandon(work)
            work.add_done_callback(lambda _: self._close())
        else:
            self._close()

    def _close(self) -> None:
        try:
            self.site.pool.submit(self.generator.close)
        except RuntimeError:  # the pool is shut down: close here
            with contextlib.suppress(Exception):
                self.generator.close()


def _has_pickled(t: Transition) -> bool:
    if isinstance(t, CallT):
        return any(isinstance(a, PickledC) for a in t.args.values())
    if isinstance(t, BranchT):
        pending: list[CondC] = [t.cond]
        while pending:
            cond = pending.pop()
            if isinstance(cond, CompareC):
                if isinstance(cond.left, PickledC) or isinstance(cond.right, PickledC):
                    return True
            elif isinstance(cond, TruthyC):
                if isinstance(cond.value, PickledC):
                    return True
            elif isinstance(cond, NotC):
                pending.append(cond.item)
            else:
                pending.extend(cond.items)
    return False


class NetRefused(DfmError):
    """A site refuses a net that asks for something its config does not declare."""


class AdapterFailed(DfmError):
    """An adapter, provider or site class cannot be loaded or instantiated."""

    pass


class OperationTimedOut(DfmError):
    """An adapter call ran longer than its interface entry's ``timeout``."""


@attrs.define
class BoundAdapter:
    """An adapter instance with the bindings of its interface entry."""

    operation: str
    entry: InterfaceEntry
    instance: Any
    body: Callable[..., Any]
    is_async: bool
    provider: ProviderContext | None


class SiteRuntime:
    """Everything one site runs; transports feed it messages through :meth:`handle`."""

    def __init__(
        self,
        federation: Federation,
        name: str,
        base_dir: Path,
        send: Callable[[str, Any], None],
        to_app: Callable[[Any], None],
        *,
        loop: asyncio.AbstractEventLoop,
        manager: DfmPluginManager | None = None,
        workers: int = 8,
    ):
        self.federation = federation
        self.name = name
        self.base_dir = base_dir
        self._send = send
        self._to_app = to_app
        self._manager = manager
        spec = federation.sites[name]
        self.info = SiteContext(
            name,
            federation.name,
            dict(spec.config),
            federation.home() == name,
            base_dir,
            cache_config=spec.cache_config,
        )
        self._site_object: SiteContext | None = None  # with its custom impl, made on first use
        self._providers: dict[str, ProviderContext] = {}
        self.vault = Vault(name, spec.secrets, base_dir, custom=spec.secrets_vault, load=self._load_class)
        self.offers = federation.offers(name)
        self.nets: dict[str, CompiledNet | NetRefused] = {}
        self.jobs: dict[str, NetRunner] = {}
        self.pending: dict[str, list[tuple[Any, str]]] = {}  # (message, sender) for jobs not started here yet
        self.pending_count = 0
        self.ended: OrderedDict[str, None] = OrderedDict()  # recently ended jobs: drop late messages
        self.adapters: dict[tuple[str, str | None], BoundAdapter] = {}
        # Daemon threads, and a hung call can be abandoned (see dfm.runner.workers).
        self.pool = WorkerPool(workers, f"dfm-{name}")
        self.loop = loop
        self._cache: SiteCache | None = None

    # -- the pipeline cache (TryFromCache) -----------------------------------------------------

    @property
    def cache(self) -> SiteCache:
        """This site's pipeline cache, on its ``cache_config`` (nets using it are refused without one)."""
        if self._cache is None:
            from dfm.kernel.codecs.safe import SafeCodec

            # never pickle into a cache: an entry is only data, whatever the federation allows
            self._cache = SiteCache(self.info, SafeCodec(allow_pickle=False))
        return self._cache

    async def blocking(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` on a worker thread (cache digests and file I/O stay off the event loop)."""
        return await asyncio.wrap_future(self.pool.submit(functools.partial(fn, *args)), loop=self.loop)

    @staticmethod
    def cache_lookup(net: SiteNet, block: str) -> CacheT:
        """The lookup of TryFromCache ``block`` in ``net`` (checked present when the net was installed)."""
        return next(t for t in net.transitions if isinstance(t, CacheT) and t.block == block)

    def cache_event(self, job: str, t: CacheT, frame: tuple[int, ...], outcome: str, digest: str) -> None:
        """Log a hit or miss: the site's record of what its cache served."""
        cache_logger.info(
            "site '%s', job %s, frame %s: TryFromCache %s (key %s): %s, entry %s",
            self.name,
            job,
            list(frame),
            t.block,
            shown(t.key),
            outcome,
            digest[:16],
        )

    # -- plumbing ----------------------------------------------------------------------

    def send(self, site: str, msg: Any) -> None:
        """Send ``msg`` to ``site`` (to itself on the event loop); secrets are scrubbed from tokens, and a
        send the transport refuses fails the job.
        """
        if site == self.name:
            self.loop.call_soon(self.handle, msg, self.name)
            return
        if type(msg) is Token and self.vault.seen:
            msg.value = self.vault.scrub_value(msg.value)
        try:
            self._send(site, msg)
        except DfmError as exc:  # e.g. a value the codec refuses to carry
            self.fail(msg.job, f"site '{self.name}' cannot send to '{site}': {exc}")

    def to_app(self, msg: Any) -> None:
        """Send ``msg`` to the application; secrets are scrubbed from results, and a result the transport
        refuses fails the job.
        """
        if type(msg) is Result and self.vault.seen:
            msg.value = self.vault.scrub_value(msg.value)
        try:
            self._to_app(msg)
        except DfmError as exc:
            if isinstance(msg, SiteFailed):
                raise
            self.fail(msg.job, f"site '{self.name}' cannot send a result to the application: {exc}")

    def defer(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` soon on the site's event loop."""
        self.loop.call_soon(fn)

    def fail(self, job: str, message: str) -> None:
        """Fail ``job`` here: cancel it, forget it and report ``message`` (scrubbed) to the application."""
        runner = self.jobs.get(job)
        if runner is not None:
            runner.cancel()
        self.forget(job)
        self.to_app(SiteFailed(job, self.name, self.vault.scrub(message)))

    def forget(self, job: str) -> None:
        """Drop ``job`` and its pending messages, and remember it as ended so late messages are dropped."""
        self.jobs.pop(job, None)
        self.pending_count -= len(self.pending.pop(job, ()))
        self.ended[job] = None
        while len(self.ended) > 10_000:
            self.ended.popitem(last=False)

    def close(self) -> None:
        """Cancel every running job and shut the worker pool down."""
        for runner in list(self.jobs.values()):
            runner.cancel()
        self.jobs.clear()
        self.pool.shutdown(wait=False, cancel_futures=True)

    # -- messages ------------------------------------------------------------------------

    def handle(self, msg: Any, sender: str) -> None:
        """Act on ``msg`` from ``sender`` (``APP`` or a site, as the transport authenticated it)."""
        try:
            self._handle(msg, sender)
        except Exception as exc:  # a bug or a bad message must not kill the site
            job = getattr(msg, "job", None)
            log.exception("site %s failed to handle %s", self.name, type(msg).__name__)
            if isinstance(job, str) and self.expects(job, sender):
                self.fail(job, f"site '{self.name}' failed: {type(exc).__name__}: {exc}")
            else:
                self.refuse(sender, f"{type(msg).__name__} could not be handled: {type(exc).__name__}")

    def refuse(self, sender: str, reason: str) -> None:
        """Report a refused message to the application; it had no effect here."""
        reason = self.vault.scrub(reason)
        log.warning("site %s refused a message from %s: %s", self.name, sender, reason)
        self.to_app(Refused(self.name, sender, reason))

    def expects(self, job: str, sender: str) -> bool:
        """Whether ``sender`` takes part in ``job`` here: the application, or a site our net receives from."""
        if sender == APP:
            return True
        runner = self.jobs.get(job)
        return runner is not None and sender in runner.c.sending_sites

    def refuse_frame(self, job: Any, sender: str, reason: str) -> None:
        """A transport could not decode a frame from ``sender`` that names ``job``.

        The job fails only when the sender takes part in it (its data is lost);
        anyone else's frame is refused without touching the job.
        """
        if isinstance(job, str) and self.expects(job, sender):
            self.fail(job, f"site '{self.name}' refused data from '{sender}': {reason}")
        else:
            self.refuse(sender, f"undecodable frame: {reason}")

    def _handle(self, msg: Any, sender: str) -> None:
        kind = type(msg)
        if kind is Token:  # the hot path first
            runner = self.jobs.get(msg.job)
            if runner is not None:
                c = runner.c
                if c.senders.get(msg.place) != sender:
                    self._refuse_data(msg, sender, runner)
                elif msg.frame and msg.frame[0] >= runner.frames and runner.open:
                    self._hold(msg, sender)  # a frame whose MoreFrames has not arrived here yet
                elif len(msg.frame) == c.depth[msg.place] and msg.frame[0] < runner.frames:
                    runner.on_token(msg.place, msg.frame, msg.value)
                elif len(msg.frame) == c.depth[msg.place] + 1 and msg.frame[0] < runner.frames:
                    self._stream_item(runner, msg, sender)  # item k of a stream: frame (*f, k)
                else:
                    self.refuse(
                        sender, f"Token for '{msg.place}' of job {msg.job} with a frame of the wrong shape"
                    )
                return
        elif kind in CONTROL:
            if sender != APP:
                self.refuse(sender, f"{kind.__name__} is the application's to send, not a site's")
            elif kind is Install:
                self.install(msg.digest, msg.net)
            elif kind is StartJob:
                self._start(msg)
            elif kind is MoreFrames:
                self._more_frames(msg)
            elif kind is StopFrames:
                self._stop_frames(msg)
            elif kind is Discover:
                self._discover(msg)
            elif kind is Credit:
                runner = self.jobs.get(msg.job)
                if runner is not None and type(msg.allowed) is int:
                    runner.on_credit(msg.allowed)
            else:
                runner = self.jobs.pop(msg.job, None)
                if runner is not None:
                    runner.cancel()
                self.forget(msg.job)
            return
        elif kind not in (LoopCount, BranchTaken, StreamEnd, StreamAck):
            self.refuse(sender, f"a site does not take {kind.__name__} messages")
            return
        if sender == APP:
            self.refuse(sender, f"{kind.__name__} is a site's to send")
            return
        job = msg.job
        runner = self.jobs.get(job)
        if runner is None:
            if job not in self.ended:
                if self.pending_count >= MAX_PENDING:
                    self.refuse(sender, f"too many messages for jobs not started here (job {job})")
                    return
                self.pending.setdefault(job, []).append((msg, sender))
                self.pending_count += 1
            return
        c = runner.c
        if runner.open and msg.frame and msg.frame[0] >= runner.frames:
            self._hold(msg, sender)
            return
        if kind is StreamEnd:
            self._stream_end(runner, msg, sender)
        elif kind is StreamAck:
            self._stream_ack(runner, msg, sender)
        elif kind is LoopCount:
            if c.senders.get(msg.loop) != sender or msg.loop not in c.controls:
                self._refuse_data(msg, sender, runner)
            elif type(msg.count) is not int or not 0 <= msg.count <= MAX_LOOP_ITEMS:
                self.refuse(sender, f"LoopCount for '{msg.loop}' of job {job} with a bad count")
            elif not msg.frame or msg.frame[0] >= runner.frames:
                self.refuse(sender, f"LoopCount for '{msg.loop}' of job {job} with a bad frame")
            else:
                runner.on_loop(msg.loop, msg.frame, msg.count)
        else:
            if c.senders.get(msg.cond) != sender or msg.cond not in c.controls:
                self._refuse_data(msg, sender, runner)
            elif type(msg.branch) is not bool or not msg.frame or msg.frame[0] >= runner.frames:
                self.refuse(sender, f"BranchTaken for '{msg.cond}' of job {job} is malformed")
            else:
                runner.on_branch(msg.cond, msg.frame, msg.branch)

    # -- discovery ------------------------------------------------------------------------------

    def _discover(self, msg: Discover) -> None:
        """Check a Discover's shape, then run the advisors of every call it names (never a body)."""
        calls = msg.calls
        problem = None
        if not isinstance(calls, list) or len(calls) > MAX_DISCOVER_CALLS:
            problem = f"calls must be a list of at most {MAX_DISCOVER_CALLS}"
        else:
            for call in calls:
                if (
                    not isinstance(call, dict)
                    or set(call) != {"node", "operation", "provider", "known", "ask"}
                    or not isinstance(call["node"], str)
                    or not isinstance(call["operation"], str)
                    or not (call["provider"] is None or isinstance(call["provider"], str))
                    or not isinstance(call["known"], dict)
                    or not all(isinstance(k, str) for k in call["known"])
                    or not isinstance(call["ask"], list)
                    or not all(isinstance(k, str) for k in call["ask"])
                ):
                    problem = "a call is malformed"
                    break
        if problem is not None:
            self.refuse(APP, f"Discover for job {shown(msg.job)}: {problem}")
            return
        self.loop.create_task(self._advise_all(msg.job, calls), name=f"{msg.job}:discover")

    async def _advise_all(self, job: str, calls: list[dict[str, Any]]) -> None:
        nodes: dict[str, Any] = {}
        for call in calls:
            nodes[call["node"]] = await self._advise(call)
        if self.vault.seen:
            nodes = self.vault.scrub_value(nodes)
        try:
            self._to_app(Advice(job, self.name, nodes))
        except DfmError as exc:  # a value the codec cannot carry: say so instead of the advice
            message = self.vault.scrub(f"site '{self.name}' cannot send its advice: {exc}")
            self._to_app(Advice(job, self.name, {n: {"fields": {}, "error": message} for n in nodes}))

    async def _advise(self, call: dict[str, Any]) -> dict[str, Any]:
        """One call's advice: ``{"fields": {field: advice data}, "error": None | why not}``."""
        operation, provider = call["operation"], call["provider"]
        offered = operation in self.offers and (
            provider is None or self.federation.interface_entry(self.name, operation, provider) is not None
        )
        if not offered:  # the site's own config decides, whoever asks
            where = "" if provider is None else f" from provider {shown(provider)}"
            return {
                "fields": {},
                "error": f"site '{self.name}' does not offer operation {shown(operation)}{where}",
            }
        try:
            bound = self.adapter(operation, provider)
        except Exception as exc:
            return {
                "fields": {},
                "error": self.vault.scrub(f"site '{self.name}': {type(exc).__name__}: {exc}"),
            }
        timeout = bound.entry.timeout or ADVISOR_TIMEOUT
        context = dict(call["known"])
        fields: dict[str, Any] = {}
        for field, advisor in advisors(bound.instance):
            value = call["known"].get(field)
            try:
                advice = await self._run_advisor(advisor, value, dict(context), timeout)
                fields[field] = advice_to_data(advice)
            except Exception as exc:  # an advisor's failure is advice, never a failed job
                text = f"{exc}" if isinstance(exc, DfmError) else f"{type(exc).__name__}: {exc}"
                fields[field] = advice_to_data(AdvisedError(self.vault.scrub(text)))
                continue
            known, chosen = decided(advice)
            if known and field not in context:
                context[field] = chosen
        return {"fields": fields, "error": None}

    async def _run_advisor(
        self, advisor: Callable[..., Any], value: Any, context: dict[str, Any], timeout: float
    ) -> Any:
        if inspect.iscoroutinefunction(advisor):
            task = asyncio.ensure_future(advisor(value, context))
            try:
                return await self._within(task, timeout)
            finally:
                task.cancel()
        work = self.pool.submit(functools.partial(advisor, value, context))
        call = asyncio.wrap_future(work, loop=self.loop)
        try:
            return await self._within(call, timeout)
        finally:
            if not work.done():
                self.pool.abandon(work)
                call.cancel()

    # -- open jobs and streams -----------------------------------------------------------------

    def _hold(self, msg: Any, sender: str) -> None:
        """Keep a message for a frame of an open job that MoreFrames has not announced here yet."""
        if self.pending_count >= MAX_PENDING:
            self.refuse(sender, f"too many messages for frames not started here (job {msg.job})")
            return
        self.pending.setdefault(msg.job, []).append((msg, sender))
        self.pending_count += 1

    def _replay(self, job: str) -> None:
        early = self.pending.pop(job, ())
        self.pending_count -= len(early)
        for queued, sender in early:
            if job in self.jobs:
                self._handle(queued, sender)

    def _more_frames(self, msg: MoreFrames) -> None:
        runner = self.jobs.get(msg.job)
        if runner is None:
            return  # ended here (cancelled, failed): nothing to do
        if not runner.open:
            self.refuse(APP, f"MoreFrames for job {msg.job}, which is not open")
            return
        if (
            type(msg.first) is not int
            or type(msg.count) is not int
            or msg.first != runner.frames
            or not 0 < msg.count <= MAX_FRAMES - runner.frames
            or not isinstance(msg.params, dict)
            or set(msg.params) != set(runner.c.net.params)
            or any(not isinstance(v, list) or len(v) != msg.count for v in msg.params.values())
        ):
            self.fail(msg.job, f"site '{self.name}' got malformed frames for job {msg.job}")
            return
        runner.more_frames(msg.first, msg.count, msg.params)
        self._replay(msg.job)
        runner._check_done()

    def _stop_frames(self, msg: StopFrames) -> None:
        runner = self.jobs.get(msg.job)
        if runner is None:
            return
        if not runner.open:
            self.refuse(APP, f"StopFrames for job {msg.job}, which is not open")
            return
        if type(msg.total) is not int or msg.total != runner.frames:
            self.fail(
                msg.job,
                f"site '{self.name}': job {msg.job} stopped at {msg.total!r} frames, it has {runner.frames}",
            )
            return
        early = self.pending.pop(msg.job, ())
        self.pending_count -= len(early)
        runner.stop_frames()
        for queued, sender in early:  # beyond the last frame: refused now
            if msg.job in self.jobs:
                self._handle(queued, sender)

    def _stream_item(self, runner: NetRunner, msg: Token, sender: str) -> None:
        frame = msg.frame[:-1]
        stream = runner.streams.get((msg.place, frame))
        expected = 0 if stream is None else stream.count
        if (msg.place, frame) in runner.ended_streams or msg.frame[-1] != expected:
            self.refuse(sender, f"stream item {msg.frame[-1]} of '{msg.place}' of job {msg.job} out of order")
            return
        runner.on_stream_item(msg.place, frame, msg.frame[-1], msg.value)

    def _stream_end(self, runner: NetRunner, msg: StreamEnd, sender: str) -> None:
        c = runner.c
        if c.senders.get(msg.place) != sender:
            self._refuse_data(msg, sender, runner)
        elif (
            len(msg.frame) != c.depth[msg.place]
            or type(msg.count) is not int
            or (msg.place, msg.frame) in runner.ended_streams
        ):
            self.refuse(sender, f"StreamEnd for '{msg.place}' of job {msg.job} is malformed")
        else:
            stream = runner.streams.get((msg.place, msg.frame))
            if msg.count != (0 if stream is None else stream.count):
                self.refuse(sender, f"StreamEnd for '{msg.place}' of job {msg.job} with a wrong count")
                return
            runner.on_stream_end(msg.place, msg.frame, msg.count)

    def _stream_ack(self, runner: NetRunner, msg: StreamAck, sender: str) -> None:
        source = runner.c.ack_routes.get((sender, msg.place))
        if source is None:
            self._refuse_data(msg, sender, runner)
        elif type(msg.count) is not int or msg.count < 0:
            self.refuse(sender, f"StreamAck for '{msg.place}' of job {msg.job} is malformed")
        else:
            runner.on_stream_ack(source, msg.frame, sender, msg.count)

    def iterate(self, generator: Any) -> Any:
        """An async iterator over a generator an adapter returned (a sync one steps on a worker)."""
        if inspect.isasyncgen(generator):
            return generator
        return _SyncItems(generator, self)

    def _refuse_data(self, msg: Any, sender: str, runner: NetRunner) -> None:
        if type(msg) is StreamAck:
            self.refuse(
                sender,
                f"StreamAck for '{msg.place}' of job {msg.job}, a stream it does not receive from here",
            )
            return
        target = (
            msg.place if type(msg) in (Token, StreamEnd) else msg.loop if type(msg) is LoopCount else msg.cond
        )
        expected = runner.c.senders.get(target)
        if expected is None:
            why = "which its net does not receive"
        else:
            why = f"which its net receives from '{expected}' only"
        self.refuse(sender, f"{type(msg).__name__} for '{target}' of job {msg.job}, {why}")

    def _start(self, msg: StartJob) -> None:
        compiled = self.nets.get(msg.digest)
        if compiled is None:
            self.fail(msg.job, f"site '{self.name}' has no installed net {msg.digest[:12]}")
            return
        if isinstance(compiled, NetRefused):
            self.fail(msg.job, str(compiled))
            return
        if msg.job in self.jobs or msg.job in self.ended:
            self.refuse(APP, f"job {msg.job} was already started here")
            return
        runner = NetRunner(msg.job, compiled, self, msg.frames, open=msg.open is True)
        if type(msg.window) is int and msg.window > 0:
            runner.allowed = msg.window
        self.jobs[msg.job] = runner
        self.to_app(JobStarted(msg.job, self.name))
        runner.start(msg.params)
        self._replay(msg.job)

    # -- nets ------------------------------------------------------------------------------

    def install(self, digest: str, net: SiteNet | str) -> None:
        """Install ``net`` under ``digest``, the SHA-256 of the net itself: recomputed, never trusted.

        ``net`` is a site net, or the canonical JSON text it travelled as: then the digest is that
        of the text as received, and the net installed is the one that text describes.
        """
        if isinstance(net, str):
            actual = text_digest(net)
        elif isinstance(net, SiteNet):
            actual = ir_digest(net)
        else:
            self.refuse(APP, "Install without a site net")
            return
        if actual != digest:
            self.refuse(APP, f"Install claims digest {digest[:12]} for a net whose digest is {actual[:12]}")
            return
        if digest in self.nets:
            return
        with gc_paused():  # a large net is many small acyclic objects: nothing for the collector
            if isinstance(net, str):
                try:
                    net = from_data(json.loads(net), SiteNet)
                except Exception as exc:  # cattrs' errors, or JSON too deep to parse
                    self.refuse(APP, f"Install with a malformed site net: {type(exc).__name__}")
                    return
            try:
                self.check_net(net)
                self.nets[digest] = CompiledNet(net)
            except NetRefused as exc:
                self.nets[digest] = exc

    def check_net(self, net: SiteNet) -> None:
        """Refuse a net that this site's own config does not allow, whoever compiled it.

        Checked: operations offered here, bindings declared here, the residency
        policy (no output of a resident operation, or an item or selected part
        of it, is sent off the site or yielded), known sites, a well-formed net
        (every place a transition uses is declared, every received place and
        control names the one site that sends it), selectors within the safe set
        (:func:`dfm.kernel.ir.pipeline.select`; no step of the form ``__name__``),
        and no pickled literal (``PickledObject``) unless this site's config
        sets ``allow-pickle: true``.
        """
        if net.site != self.name:
            raise NetRefused(f"site '{self.name}' refuses a net compiled for site '{net.site}'")
        resident = self._resident_places(net)
        problems = self._structure_problems(net) + self._residency_problems(net, resident)
        stores: dict[str, list[CacheStoreT]] = {}  # TryFromCache id -> its stores
        for t in net.transitions:
            if isinstance(t, CacheStoreT):
                stores.setdefault(t.block, []).append(t)
        rules: dict[tuple[str, str | None], str | frozenset[str]] = {}  # the same for every call of it
        for t in net.transitions:
            if isinstance(t, CallT):
                key = (t.operation, t.provider)
                rule = rules.get(key)
                if rule is None:
                    rule = rules[key] = self._call_rule(t.operation, t.provider)
                if isinstance(rule, str):  # not offered here, or not by that provider
                    problems.append(rule)
                    continue
                if not rule.issuperset(t.args):
                    extra = sorted(set(t.args) - rule)
                    problems.append(
                        f"'{t.operation}' is called with undeclared argument(s) {', '.join(extra)}"
                    )
            elif isinstance(t, (SendT,)) and t.site not in self.federation.sites:
                problems.append(f"send to unknown site '{t.site}'")
            elif isinstance(t, YieldT) and not self.info.is_homesite:
                problems.append("results can only be yielded at the homesite")
            elif isinstance(t, ScatterT):
                unknown = [s for s in t.notify if s not in self.federation.sites]
                if unknown:
                    problems.append(f"loop notifies unknown site(s) {', '.join(unknown)}")
            elif isinstance(t, CacheT):
                problems.extend(self._cache_problems(t, stores.get(t.block, []), resident))
            elif isinstance(t, SelectT):
                problem = path_problem(t.path)
                if problem is None and any(
                    isinstance(step, str) and step.startswith("__") and step.endswith("__") for step in t.path
                ):
                    problem = "selector steps of the form __name__ are refused"
                if problem is not None:
                    problems.append(f"{t.id} has a bad selector: {shown(problem)}")
            if not self.federation.allow_pickle and _has_pickled(t):
                problems.append(
                    f"{t.id} holds a pickled literal (PickledObject), which this site refuses "
                    "without 'allow-pickle: true' in its config"
                )
        if problems:
            raise NetRefused(f"site '{self.name}' refuses the pipeline: " + "; ".join(problems))

    def _call_rule(self, operation: str, provider: str | None) -> str | frozenset[str]:
        """Why a call of ``operation`` (from ``provider``) is refused here, or the arguments it may take."""
        offered = self.offers.get(operation)
        if offered is None:
            return f"operation '{operation}' is not offered here"
        entry = offered[1]
        if provider is not None:
            prov_entry = self.federation.interface_entry(self.name, operation, provider)
            if prov_entry is None:
                return f"provider '{provider}' does not offer '{operation}' here"
            entry = prov_entry
        return frozenset(self.federation.operations[operation].parameters) | {
            spec.param for spec in entry.exposed().values()
        }

    def _structure_problems(self, net: SiteNet) -> list[str]:
        problems = []
        places = {p.name: p for p in net.places}
        if len(places) != len(net.places):
            problems.append("a place is declared twice")
        for t in net.transitions:
            used = transition_inputs(t)
            if isinstance(t, (CallT, ScatterT, SelectT, DoneT, CacheStoreT)):
                used.append(t.output)
            elif isinstance(t, CacheT):
                used += [t.output, t.digest]
            missing = [p for p in used if p not in places]
            if missing:
                problems.append(f"{t.id} uses undeclared place(s) {', '.join(sorted(set(missing)))}")
        bad = sorted(shown(n) for n in places if not _PLACE.fullmatch(n))
        if bad:
            problems.append(f"malformed place name(s) {', '.join(bad[:5])}")
        for t in net.transitions:
            if isinstance(t, YieldT) and name_problem("place", t.place) is not None:
                problems.append(f"{t.id} yields to an invalid place name {shown(t.place)}")
        received = {p.name for p in net.places if p.kind == "received"}
        for name in sorted(received | set(net.controls)):
            sender = net.senders.get(name)
            if sender not in self.federation.sites:
                problems.append(f"'{name}' has no known sending site")
            elif name in received and sender == self.name:
                problems.append(f"'{name}' is received from this site itself")
        extra = sorted(set(net.senders) - received - set(net.controls))
        if extra:
            problems.append(f"senders named for what the net does not receive: {', '.join(extra)}")
        return problems

    def _resident_places(self, net: SiteNet) -> set[str]:
        """The places of ``net`` holding data this site's policy keeps here."""
        resident_ops = set(self.federation.sites[self.name].policy.resident)
        if not resident_ops:
            return set()
        resident = {t.output for t in net.transitions if isinstance(t, CallT) and t.operation in resident_ops}
        # a lookup serving entries marked resident serves resident data, whatever its block computes
        resident |= {t.output for t in net.transitions if isinstance(t, CacheT) and t.resident}
        derived: dict[str, list[str]] = {}  # place -> the places made from it here
        for t in net.transitions:
            if isinstance(t, (ScatterT, SelectT, CacheStoreT)):
                derived.setdefault(t.source, []).append(t.output)
        pending = list(resident)
        while pending:  # an item or part of a resident value, or a cached copy of it, is resident too
            for output in derived.get(pending.pop(), ()):
                if output not in resident:
                    resident.add(output)
                    pending.append(output)
        return resident

    def _cache_problems(self, t: CacheT, stores: list[CacheStoreT], resident: set[str]) -> list[str]:
        """A TryFromCache lookup needs this site's own cache, a store, and an honest residency flag."""
        from dfm.kernel.cachelocation import sharing_sites

        where = f"{t.id} (TryFromCache {t.block})"
        if self.info.cache_config is None:
            return [f"{where} needs a cache_config, which this site does not have"]
        problems = []
        key_problem = cache_key_problem(t.key)
        if key_problem is not None:
            problems.append(f"{where}: {shown(key_problem)}")
        if t.notify != (self.name,):
            problems.append(f"{where} must announce its branch to this site only")
        if len(stores) != 1 or stores[0].output != t.output or stores[0].digest != t.digest:
            problems.append(f"{where} has no matching store")
        elif stores[0].source in resident:
            if not t.resident:
                problems.append(f"{where} caches resident data without marking its entries resident")
            elif sharing_sites(self.federation, self.name):
                problems.append(f"{where} caches resident data in a cache_config shared with other sites")
        return problems

    def _residency_problems(self, net: SiteNet, resident: set[str]) -> list[str]:
        if not resident:
            return []
        problems = []
        for t in net.transitions:
            if isinstance(t, SendT) and t.source in resident:
                problems.append(
                    f"{t.id} sends resident data ({t.source}) to '{t.site}', which this site's policy forbids"
                )
            elif isinstance(t, YieldT) and t.source in resident:
                problems.append(f"{t.id} yields resident data ({t.source}), which this site's policy forbids")
        return problems

    # -- adapters ---------------------------------------------------------------------------

    def adapter(self, operation: str, provider: str | None) -> BoundAdapter:
        """The bound adapter for ``operation`` (from ``provider``, or the one the site offers), created on
        first use.
        """
        key = (operation, provider)
        bound = self.adapters.get(key)
        if bound is None:
            bound = self.adapters[key] = self._create_adapter(operation, provider)
        return bound

    def _create_adapter(self, operation: str, provider_name: str | None) -> BoundAdapter:
        if provider_name is None:
            offered = self.offers[operation]
            provider_name, entry = offered
        else:
            found = self.federation.interface_entry(self.name, operation, provider_name)
            assert found is not None  # checked when the net was installed
            entry = found
        provider = None if provider_name is None else self.provider_context(provider_name)
        cls = self._resolve_adapter(entry.adapter)
        instance = self._instantiate(
            cls, f"adapter '{entry.adapter}'", entry.adapter_args, site=self.site_object(), provider=provider
        )
        body = instance.body
        is_async = inspect.iscoroutinefunction(body)
        return BoundAdapter(operation, entry, instance, body, is_async, provider)

    # -- the reference's site and provider objects -------------------------------------------

    def site_object(self) -> SiteContext:
        """What adapters get as ``site``: the site context, with the custom ``impl`` instance if any."""
        if self._site_object is None:
            impl_ref = self.federation.sites[self.name].impl
            site = self.info
            if impl_ref is not None:
                cls = self._load_class(impl_ref.path, "site impl")
                impl = self._instantiate(cls, f"site impl '{impl_ref.path}'", impl_ref.args, site=self.info)
                site = attrs.evolve(self.info, impl=impl)
            self._site_object = site
        return self._site_object

    def provider_context(self, name: str) -> ProviderContext:
        """What adapters get as ``provider``: the provider's context, with its custom ``impl`` instance if
        any (made on first use).
        """
        found = self._providers.get(name)
        if found is None:
            spec = self.federation.sites[self.name].providers[name]
            found = ProviderContext(name, dict(spec.config), dict(spec.info))
            if spec.impl is not None:
                cls = self._load_class(spec.impl.path, "provider impl")
                impl = self._instantiate(
                    cls,
                    f"provider impl '{spec.impl.path}'",
                    spec.impl.args,
                    site=self.site_object(),
                    provider=found,
                )
                found = attrs.evolve(found, impl=impl)
            self._providers[name] = found
        return found

    @staticmethod
    def _instantiate(cls: Any, what: str, args: dict[str, Any], **offered: Any) -> Any:
        """``cls(**args)`` plus those of ``offered`` (``site``, ``provider``) its signature names."""
        try:
            parameters = inspect.signature(cls).parameters
        except (TypeError, ValueError):
            parameters = None
        if parameters is None:
            kwargs = {**offered, **args}
        else:
            kwargs = {name: value for name, value in offered.items() if name in parameters}
            kwargs.update(args)
        try:
            return cls(**kwargs)
        except TypeError as exc:
            raise AdapterFailed(f"{what} cannot be created: {exc}") from None

    def _load_class(self, path: str, what: str = "class") -> Any:
        """The class at import path ``path`` (federation-local packages live beside the config file)."""
        target = import_target(path)
        base = str(self.base_dir)
        if base not in sys.path:
            sys.path.append(base)
        try:
            return load_target(target)
        except (ImportError, AttributeError) as exc:
            raise AdapterFailed(f"{what} '{path}' cannot be loaded: {type(exc).__name__}: {exc}") from None

    def _resolve_adapter(self, ref: str) -> Any:
        manager = self._manager or get_plugin_manager()
        registry = manager.registry("adapters")
        if ref in registry:
            entry = registry[ref]
            pins = {canonical_name(d) for d in self.federation.plugins}
            dist = canonical_name(entry.provenance.distribution) if entry.provenance else ""
            # A federation that pins its plugins uses only those (and DFM's own distributions).
            if pins and dist not in pins and dist not in DFM_DISTRIBUTIONS:
                raise AdapterFailed(
                    f"adapter '{ref}' comes from {dist}, which this federation's 'plugins:' pins do not list"
                )
            return entry.load()
        return self._load_class(ref, "adapter")

    def bind(self, bound: BoundAdapter, args: dict[str, Any]) -> dict[str, Any]:
        """Apply the interface entry's bindings to the arguments of one call.

        A parameter of the operation that is not given is its declared ``default``,
        or None (the reference's rule); an exposed argument given a value takes it,
        otherwise its configured source is used.
        """
        entry = bound.entry
        parameters = self.federation.operations[bound.operation].parameters
        if entry.args == FROM_OPERATION:
            out = {name: spec.default for name, spec in parameters.items()}
            out.update(args)
            return out
        out = {}
        assert isinstance(entry.args, dict)
        for name, binding in entry.args.items():
            if isinstance(binding, FromParam):
                if binding.from_param in args:
                    out[name] = args[binding.from_param]
                elif binding.from_param in parameters:
                    out[name] = parameters[binding.from_param].default
            elif isinstance(binding, Const):
                out[name] = binding.const
            elif isinstance(binding, FromSecrets):
                out[name] = self.vault.get(binding.from_secrets)
            elif isinstance(binding, FromProvider):
                found, value = self._from_provider(binding.from_provider, bound.provider)
                if found:
                    out[name] = value
            elif isinstance(binding, FromSite):
                found, value = self._from_site(binding.from_site)
                if found:
                    out[name] = value
        for adapter_arg, spec in entry.exposed().items():
            if spec.param in args:
                out[adapter_arg] = args[spec.param]
        return out

    def _from_site(self, key: str) -> tuple[bool, Any]:
        """A key of the site's ``config`` (DFM's form), else an attribute of the site object."""
        if key in self.info.config:
            return True, self.info.config[key]
        site = self.site_object()
        for holder in (site.impl, site):
            if holder is not None and not key.startswith("_"):
                try:
                    return True, getattr(holder, key)
                except AttributeError:
                    pass
        return False, None

    def _from_provider(self, key: str, provider: ProviderContext | None) -> tuple[bool, Any]:
        """``KEY`` of the entry's provider config (DFM), or ``PROVIDER.PROPERTY`` of any provider here."""
        if provider is not None and key in provider.config:
            return True, provider.config[key]
        name, dot, prop = key.partition(".")
        if not dot or name not in self.federation.sites[self.name].providers or prop.startswith("_"):
            return False, None
        target = self.provider_context(name)
        if target.impl is not None and hasattr(target.impl, prop):
            return True, getattr(target.impl, prop)
        for mapping in (target.info, target.config):
            if prop in mapping:
                return True, mapping[prop]
        if prop == "name":
            return True, target.name
        return False, None

    def call_adapter(self, job: str, t: CallT, args: dict[str, Any]) -> asyncio.Task[Any]:
        """Start the adapter call of transition ``t`` with ``args`` as a task on the site's loop."""
        return self.loop.create_task(self._invoke(t, args), name=f"{job}:{t.id}")

    async def _invoke(self, t: CallT, args: dict[str, Any]) -> Any:
        bound = self.adapter(t.operation, t.provider)
        kwargs = self.bind(bound, args)
        timeout = bound.entry.timeout
        if bound.is_async:
            if timeout is None:
                return await bound.body(**kwargs)
            task = asyncio.ensure_future(bound.body(**kwargs))
            try:
                return await self._within(task, timeout)
            finally:
                task.cancel()  # no-op once done
        # A sync call runs on a worker thread; if this task is cancelled or times out, the call
        # is abandoned: its thread is retired and replaced, the job goes on failing or cancelled.
        work = self.pool.submit(functools.partial(bound.body, **kwargs))
        call = asyncio.wrap_future(work, loop=self.loop)
        try:
            return await (call if timeout is None else self._within(call, timeout))
        finally:
            if not work.done():
                self.pool.abandon(work)
                call.cancel()  # a late result of the abandoned call is dropped

    @staticmethod
    async def _within(call: asyncio.Future[Any], timeout: float) -> Any:
        done, _ = await asyncio.wait((call,), timeout=timeout)
        if not done:
            raise OperationTimedOut(f"timed out after {timeout:g} s")
        return call.result()

    def describe_failure(self, t: CallT, error: BaseException) -> str:
        """The message for a failed call of ``t``: site, operation, node and error, with secrets scrubbed."""
        where = f"site '{self.name}', operation '{t.operation}' (node {t.node})"
        if isinstance(error, DfmError):
            return self.vault.scrub(f"{where}: {error}")
        return self.vault.scrub(f"{where}: {type(error).__name__}: {error}")
