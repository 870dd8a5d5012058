"""Sessions and jobs: the application's side of DFM.

>>> with Session("federations/examplefed/examplefed.dfm.yaml") as session:
...     prepared = session.prepare(pipeline)
...     job = session.execute(prepared, {"name": "Ada"})
...     for result in job.results():
...         print(result.place, result.value)

A session owns an asyncio event loop in a background thread; every site,
transport and job callback runs there. The public methods are thread-safe
and synchronous.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import enum
import inspect
import itertools
import json
import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from dfm.api.pipeline import PickledObject
from dfm.kernel.config import config_source, load_config
from dfm.kernel.config.models import Federation
from dfm.kernel.errors import DfmError, JobError
from dfm.kernel.fedlist import resolve_federation
from dfm.kernel.ir.net import PreparedPipeline
from dfm.kernel.ir.pipeline import PipelineIR, Ref, Yield, nesting_problem
from dfm.kernel.ir.serde import canonical_json, text_digest
from dfm.kernel.plugins import DfmPluginManager, get_plugin_manager
from dfm.runner.discovery import Discovery, discover_calls
from dfm.runner.messages import (
    APP,
    Advice,
    CancelJob,
    Credit,
    Discover,
    Install,
    JobStarted,
    MoreFrames,
    Refused,
    Result,
    SiteDone,
    SiteFailed,
    SiteLost,
    StartJob,
    StopFrames,
)
from dfm.runner.transports.base import Transport

log = logging.getLogger("dfm.runner")
security_log = logging.getLogger("dfm.runner.security")


class JobStatus(enum.Enum):
    """The state of a :class:`Job`.

    ``SUBMITTED`` until every site of the job has started it, then ``RUNNING``; it ends
    ``FINISHED`` (every site done), ``FAILED`` (a site failed or the job timed out; see
    ``Job.error``) or ``CANCELLED``. ``ABORTED`` is NVIDIA DFM's name for ``CANCELLED``.
    """

    SUBMITTED = "SUBMITTED"
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    ABORTED = "CANCELLED"  # NVIDIA DFM's name: an alias, ``JobStatus.ABORTED is JobStatus.CANCELLED``

    @classmethod
    def _missing_(cls, value: object) -> JobStatus | None:
        return cls.CANCELLED if value == "ABORTED" else None

    @property
    def ended(self) -> bool:
        """Whether the job is over: ``FINISHED``, ``FAILED`` or ``CANCELLED``."""
        return self in (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.CANCELLED)


@attrs.frozen
class JobResult:
    """One value yielded by a pipeline: its place, frame and value."""

    place: str
    frame: tuple[int, ...]
    value: Any

    @property
    def index(self) -> int:
        """Which parameter set (of ``execute(prepared, [..])``) produced it."""
        return self.frame[0]


_END = object()
#: Results of a job the application may hold unread before the homesite's streams pause
#: (session option ``result_window``); see :class:`Job`.
RESULT_WINDOW = 1024

ResultCallback = Callable[..., Any]
"""A result callback: ``callback(result: JobResult)`` (DFM's shape) or NVIDIA DFM's
``callback(from_site, from_node_id, frame, target_place, data)``; either may be ``async``."""


def _takes_five(callback: Callable[..., Any]) -> bool:
    """Whether ``callback`` has NVIDIA DFM's shape (five positional arguments), not ours (one)."""
    try:
        signature = inspect.signature(callback)
    except (TypeError, ValueError):
        return False
    try:
        signature.bind(None, None, None, None, None)
    except TypeError:
        return False
    try:
        signature.bind(None)
    except TypeError:
        return True
    # both bind (defaults or *args): ours unless it names the reference's parameters
    return "target_place" in signature.parameters or "from_site" in signature.parameters


class _Callback:
    """One registered callback, adapted to its shape; an ``async`` one is awaited on the session loop."""

    def __init__(self, job: Job, callback: Callable[..., Any]):
        self.job = job
        self.callback = callback
        self.reference_shape = _takes_five(callback)

    def __call__(self, result: JobResult, node: str | None = None) -> None:
        if self.reference_shape:
            site, node = self.job._origin(result.place, node)
            out = self.callback(site, node, result.frame, result.place, result.value)
        else:
            out = self.callback(result)
        if inspect.isawaitable(out):
            task = asyncio.ensure_future(out)
            self.job._tasks.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Future[Any]) -> None:
        self.job._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("async callback of job %s raised", self.job.id, exc_info=task.exception())


class Job:
    """One execution of a prepared pipeline (possibly over many parameter sets).

    An open job (``execute(..., autostop=False)``) takes more parameter sets
    with :meth:`send_input_params` until :meth:`send_stop_frame`; its results
    stream as they come, each in its frame.

    Backpressure: results wait in the job's buffer until :meth:`results`
    takes them (or, for a job with callbacks, until a callback got them). The
    homesite's streams (adapters returning generators) pause while the
    application holds ``result_window`` (session option, default
    :data:`RESULT_WINDOW`) results it has not taken, and so does every stream
    feeding them; results of frames are bounded by the frames the application
    sent. Nothing is ever dropped.

    :meth:`detach` lets go of the handle while the job runs on (its results are
    buffered under the same bound); :meth:`Session.reattach` gets it back.
    """

    def __init__(
        self, session: Session, job_id: str, prepared: PreparedPipeline, frames: int, open: bool = False
    ):
        self.id = job_id
        self.prepared = prepared
        self.frames = frames
        self.open = open  # more frames may come (autostop=False) until send_stop_frame()
        self.autostop = not open
        self._frame_lock = threading.Lock()
        self._detached = False
        self._window = int(session._options.get("result_window", RESULT_WINDOW))
        self._taken = 0  # results the application took
        self._credited = 0  # `_taken` when the homesite was last told
        self._session = session
        self._status = JobStatus.SUBMITTED
        self._ended = False
        self._error: str | None = None
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._done = threading.Event()
        self._waiting_sites = set(prepared.nets)
        self._started_sites: set[str] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._callbacks: dict[str | None, list[_Callback]] = {}
        self._default_callbacks: list[_Callback] = []  # places without a callback of their own
        self._tasks: set[asyncio.Future[Any]] = set()  # running async callbacks
        self._origins: dict[tuple[str, str | None], tuple[str, str | None]] = {}
        self.started_at = time.monotonic()
        self.ended_at: float | None = None
        self._counts: dict[str, int] = {}  # results per place (the progress display)
        self._drained: list[JobResult] | None = None  # every result, once a table was asked for

    def __repr__(self) -> str:
        return f"<Job {self.id} {self._status.value}>"

    @property
    def status(self) -> JobStatus:
        """The job's current :class:`JobStatus`."""
        return self._status

    @property
    def error(self) -> str | None:
        """Why the job failed (site, operation and the adapter's message), or None."""
        return self._error

    def on(self, place: str | None, callback: ResultCallback) -> None:
        """Call ``callback`` for each result of ``place`` (None: every place).

        Both shapes work: ``callback(result)`` with a :class:`JobResult`, and NVIDIA DFM's
        ``callback(from_site, from_node_id, frame, target_place, data)`` (told apart by the
        signature). A sync callback runs on the session's event loop thread (keep it short);
        an ``async`` one is awaited on that loop without blocking it. Results delivered
        before registration are not replayed.
        """
        self._callbacks.setdefault(place, []).append(_Callback(self, callback))

    def on_default(self, callback: ResultCallback) -> None:
        """Call ``callback`` for each result of a place that has no callback of its own."""
        self._default_callbacks.append(_Callback(self, callback))

    def _origin(self, place: str, node: str | None = None) -> tuple[str, str | None]:
        """(from_site, from_node_id) of a result at ``place``, for NVIDIA DFM-shaped callbacks.

        The node is the Yield the result came from: the place's only Yield, or, when several
        share the place, the one the homesite named (``node``, checked to be one of them); the
        site is where the yielded value is produced (the homesite for a parameter).
        """
        found = self._origins.get((place, node))
        if found is None:
            prepared = self.prepared
            yields = [
                stmt
                for stmt, _, _ in prepared.pipeline.walk()
                if isinstance(stmt, Yield) and stmt.place == place
            ]
            named = [y for y in yields if y.id == node] if node is not None else []
            chosen = named or (yields if len(yields) == 1 else [])
            site, found_node = prepared.homesite, None
            if chosen:
                found_node = chosen[0].id
                value = chosen[0].value
                if isinstance(value, Ref):
                    site = prepared.placement.get(value.node, site)
            found = self._origins[(place, node)] = (site, found_node)
        return found

    def get_status(self) -> JobStatus:
        """The job's status (NVIDIA DFM's name for :attr:`status`)."""
        return self._status

    def wait_until_finished(self, timeout: float | None = None) -> bool:
        """Block until the job ends; False if it is still running after ``timeout`` seconds
        (NVIDIA DFM's form of :meth:`wait`)."""
        return self._done.wait(timeout)

    def results(self, timeout: float | None = None) -> Iterator[JobResult]:
        """Yield results as they arrive until the job ends.

        Raises :class:`JobError` at the end if the job failed or was cancelled,
        and ``TimeoutError`` if no result or end arrives within ``timeout`` seconds.
        """
        while True:
            self._check_attached()
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                raise TimeoutError(f"job {self.id}: no result within {timeout} s") from None
            if item is _END:
                self._finish_results()
                return
            if not (self._callbacks or self._default_callbacks):  # else counted as delivered
                self._took(1)
            yield item

    def result_batches(self, timeout: float | None = None, limit: int = 4096) -> Iterator[list[JobResult]]:
        """Like :meth:`results`, but yield every result already arrived at once (at most ``limit``).

        A batch is yielded as soon as one result is there, so nothing waits for more to
        come; a fast stream of results costs one wake-up per batch instead of per result.
        """
        get_nowait = self._queue.get_nowait
        while True:
            self._check_attached()
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                raise TimeoutError(f"job {self.id}: no result within {timeout} s") from None
            batch: list[JobResult] = []
            while item is not _END:
                batch.append(item)
                if len(batch) >= limit:
                    break
                try:
                    item = get_nowait()
                except queue.Empty:
                    break
            if batch:
                if not (self._callbacks or self._default_callbacks):  # else counted as delivered
                    self._took(len(batch))
                yield batch
            if item is _END:
                self._finish_results()
                return

    def _finish_results(self) -> None:
        """The end of the results: later readers end at once too; raise if the job did not finish."""
        self._queue.put(_END)
        if self._status is JobStatus.FAILED:
            raise JobError(f"job {self.id} failed: {self._error}")
        if self._status is JobStatus.CANCELLED:
            raise JobError(f"job {self.id} was cancelled")

    @property
    def buffered(self) -> int:
        """Results received and not yet taken by :meth:`results` (about: other threads may add some)."""
        return max(0, self._queue.qsize() - (1 if self._ended else 0))

    # -- open jobs ---------------------------------------------------------------------------

    def send_input_params(self, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> list[int]:
        """Run more parameter sets in this open job; returns their frame indices (``JobResult.index``)."""
        self._check_attached()
        sets = _parameter_sets(params)
        _check_params(self.prepared, sets)
        with self._frame_lock:
            if not self.open:
                raise DfmError(
                    f"job {self.id} is not open for more input "
                    "(start it with execute(..., autostop=False), before send_stop_frame())"
                )
            if self._status.ended:
                raise DfmError(
                    f"job {self.id} has ended ({self._status.value}): {self._error or 'no more input'}"
                )
            first = self.frames
            self.frames += len(sets)
            if sets:
                self._session._call_soon(self._session._more, self, first, sets)
        return list(range(first, first + len(sets)))

    def send_stop_frame(self) -> None:
        """No more input: the job ends once every frame sent so far is done."""
        self._check_attached()
        with self._frame_lock:
            if not self.open:
                return
            self.open = False
            self._session._call_soon(self._session._stop_frames, self, self.frames)

    # -- detach --------------------------------------------------------------------------------

    def detach(self) -> str:
        """Let go of this job: it runs on, its results are buffered; ``session.reattach(job_id)`` resumes.

        Returns the job id.
        """
        self._session._detach(self)
        return self.id

    def _check_attached(self) -> None:
        if self._detached:
            raise DfmError(f"job {self.id} is detached; get it back with session.reattach('{self.id}')")

    def _took(self, n: int) -> None:
        """The application took ``n`` more results: give the homesite room (batched)."""
        self._taken += n
        if self._taken - self._credited >= max(1, self._window // 4) and not self._ended:
            self._credited = self._taken
            self._session._call_soon(self._session._credit, self, self._taken + self._window)

    def wait(self, timeout: float | None = None) -> JobStatus:
        """Block until the job ends; raise ``TimeoutError`` after ``timeout`` seconds.

        In Jupyter a progress display (:mod:`dfm.runner.progress`) shows the job meanwhile.
        """
        from dfm.runner import progress

        shown = progress.display_for(self)
        if shown is None:
            if not self._done.wait(timeout):
                raise TimeoutError(f"job {self.id} still {self._status.value} after {timeout} s")
            return self._status
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._done.wait(progress.INTERVAL):
            shown.update()
            if deadline is not None and time.monotonic() >= deadline:
                shown.update(force=True)
                raise TimeoutError(f"job {self.id} still {self._status.value} after {timeout} s")
        shown.update(force=True)
        return self._status

    def to_pandas(self, place: str | None = None, timeout: float | None = None) -> Any:
        """Wait for the job, then its results as a ``pandas.DataFrame`` (needs pandas).

        One row per result: ``place``, ``index`` (the parameter set), ``frame``, ``value``
        (see :mod:`dfm.runner.tables`); only ``place``'s results if given. Takes the
        results :meth:`results` has not handed out yet; asking again gives the same
        table. Raises :class:`JobError` if the job failed or was cancelled.
        """
        from dfm.runner import tables

        return tables.to_pandas(self._all_results(timeout), place)

    def to_arrow(self, place: str | None = None, timeout: float | None = None) -> Any:
        """Like :meth:`to_pandas`, as a ``pyarrow.Table`` (needs pyarrow)."""
        from dfm.runner import tables

        return tables.to_arrow(self._all_results(timeout), place)

    def _all_results(self, timeout: float | None) -> list[JobResult]:
        if self._drained is None:
            self.wait(timeout)
            self._drained = []
        self._drained.extend(self.results())  # the job has ended: the end marker is queued
        return self._drained

    def _repr_html_(self) -> str:
        from dfm.runner import progress

        return progress.render(self)

    def cancel(self) -> None:
        """Stop the job: running async adapters are cancelled, pending work is dropped."""
        self._session._call_soon(self._session._cancel, self)

    # -- called on the session loop ------------------------------------------------------

    def _started(self, site: str) -> None:
        if self._ended or site not in self.prepared.nets:
            return
        self._started_sites.add(site)
        if len(self._started_sites) == len(self.prepared.nets):
            self._status = JobStatus.RUNNING

    def _result(self, msg: Result) -> None:
        if self._ended:
            return
        result = JobResult(msg.place, tuple(msg.frame), msg.value)
        self._queue.put(result)
        self._counts[msg.place] = self._counts.get(msg.place, 0) + 1
        if (self._callbacks or self._default_callbacks) and not self._detached:
            self._took(1)
            own = self._callbacks.get(msg.place, ())
            for callback in (*(own or self._default_callbacks), *self._callbacks.get(None, ())):
                try:
                    callback(result, msg.node)
                except Exception:
                    log.exception("callback for place %s of job %s raised", msg.place, self.id)

    def _end(self, status: JobStatus, error: str | None = None) -> None:
        if self._ended:
            return
        self._ended = True
        if self._timer is not None:
            self._timer.cancel()
        self._status = status
        self._error = error
        self.ended_at = time.monotonic()
        self._queue.put(_END)
        self._done.set()


def _check_params(prepared: PreparedPipeline, sets: list[dict[str, Any]]) -> None:
    wanted = set(prepared.pipeline.params)
    for i, values in enumerate(sets):
        missing = sorted(wanted - set(values))
        if missing:
            where = f"parameter set {i}: " if len(sets) > 1 else ""
            raise DfmError(f"{where}missing value(s) for PlaceParam {', '.join(missing)}")


def _load(federation: str | os.PathLike[str] | Federation | Any) -> tuple[Federation, Path]:
    if isinstance(federation, Federation):  # relative site paths: its file's folder, else the cwd
        return federation, config_source(federation) or Path.cwd() / "federation.dfm.yaml"
    if hasattr(federation, "config") and hasattr(federation, "path"):  # dfm.api.FederationHandle
        return federation.config, Path(federation.path)
    path = resolve_federation(federation)
    return load_config(path), path


_PARAMS_EXPECTED = "a mapping of parameter name -> value"


def _parameter_sets(params: Any) -> list[dict[str, Any]]:
    """``execute()``'s ``params`` as a list of parameter sets, or a DfmError saying what was expected."""
    if params is None:
        return [{}]
    if isinstance(params, Mapping):
        items: list[Any] = [params]
    elif isinstance(params, (str, bytes, bytearray)) or not isinstance(params, Iterable):
        raise DfmError(
            f"execute() params must be {_PARAMS_EXPECTED}, or a list of such mappings; "
            f"got {type(params).__name__}"
        )
    else:
        items = list(params)
    sets = []
    for i, item in enumerate(items):
        where = "" if item is params else f"parameter set {i}: "
        if not isinstance(item, Mapping):
            raise DfmError(f"execute() {where}expected {_PARAMS_EXPECTED}; got {type(item).__name__}")
        for name in item:
            if not isinstance(name, str):
                raise DfmError(
                    f"execute() {where}parameter names are strings (PlaceParam names); "
                    f"got {type(name).__name__} {name!r:.60}"
                )
        sets.append(dict(item))
    return sets


class Session:
    """Connects an application to a federation through one transport.

    ``target="local"`` runs every site on this machine with ``transport``
    ``"inproc"`` (default) or ``"process"``; ``target="flare"`` uses the
    ``flare`` transport from dfm-flare.
    """

    _ids = itertools.count(1)

    def __init__(
        self,
        federation: str | os.PathLike[str] | Federation | Any,
        target: str = "local",
        transport: str | None = None,
        *,
        strategy: str = "auto",
        options: Mapping[str, Any] | None = None,
        manager: DfmPluginManager | None = None,
    ):
        self.federation, self.config_path = _load(federation)
        if target not in ("local", "flare"):
            raise DfmError(f"unknown target '{target}' (known: local, flare)")
        if target == "flare":
            transport = "flare"
        elif transport is None:
            transport = "inproc"
        elif transport == "flare":
            raise DfmError("transport 'flare' needs target='flare'")
        self.target = target
        self.strategy = strategy
        self._manager = manager or get_plugin_manager()
        if self.federation.plugins:
            self._manager.check_pins(self.federation.plugins)
        if target == "flare" and "flare" not in self._manager.registry("transports"):
            raise DfmError("the flare target needs dfm-flare (NVIDIA FLARE): pip install dfm-flare")
        transport_cls = self._manager.get("transports", transport).load()
        self._options = dict(options or {})
        self._jobs: dict[str, Job] = {}
        self._discoveries: dict[str, Discovery] = {}
        self._detached: dict[str, Job] = {}
        self._installed: set[tuple[str, str]] = set()
        self._net_digests: dict[str, dict[str, str]] = {}  # prepared digest -> site -> its net's digest
        #: What sites (or this application) refused and why: forged roles, unexpected senders...
        self.refusals: collections.deque[str] = collections.deque(maxlen=1000)
        self._closed = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"dfm-session-{next(self._ids)}", daemon=True
        )
        self._thread.start()
        transport_options = dict(options or {})
        attach = transport_options.pop("attach", None)
        if attach is not None:  # jobs another application kept running (Session.suspend)
            transport_options["attach"] = self._load_kept(attach)
        self.transport: Transport = transport_cls(
            self.federation, self.config_path, self._loop, self._deliver, transport_options
        )
        try:
            self._run(self.transport.start(), timeout=float((options or {}).get("start_timeout", 120)))
        except BaseException:
            self._shutdown_loop()
            raise

    @classmethod
    def from_env(cls, **kwargs: Any) -> Session:
        """A session for ``dfm fed submit ... script``: DFM_FEDERATION, DFM_TARGET, DFM_TRANSPORT, ..."""
        federation = os.environ.get("DFM_FEDERATION")
        if not federation:
            raise DfmError(
                "DFM_FEDERATION is not set; run this script with 'dfm fed submit NAME script FILE'"
            )
        options = dict(kwargs.pop("options", {}) or {})
        for option in ("poc", "simulator"):  # set by 'dfm fed submit --target flare --poc/--simulator'
            if os.environ.get(f"DFM_FLARE_{option.upper()}") == "1":
                options[option] = True
        for option in ("kit", "workspace"):  # ... --kit DIR / --workspace DIR (or a registered project)
            if os.environ.get(f"DFM_FLARE_{option.upper()}"):
                options[option] = os.environ[f"DFM_FLARE_{option.upper()}"]
        return cls(
            federation,
            target=os.environ.get("DFM_TARGET", "local"),
            transport=os.environ.get("DFM_TRANSPORT") or None,
            options=options,
            **kwargs,
        )

    # -- plumbing ------------------------------------------------------------------------

    def _run(self, coro: Any, timeout: float | None = None) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def _call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        self._loop.call_soon_threadsafe(fn, *args)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    def close(self) -> None:
        """Cancel running jobs, stop every site and the event loop."""
        if self._closed:
            return
        self._closed = True
        for job in list(self._jobs.values()):
            if not job.status.ended:
                self._call_soon(self._cancel, job)
        try:
            self._run(self.transport.stop(), timeout=30)
        finally:
            self._shutdown_loop()

    def suspend(self, path: str | os.PathLike[str], keep_for: float | None = None) -> Path:
        """End this application's session but keep its detached jobs running; write how to attach.

        Only where the transport can outlive the application (``flare``: the FLARE job and the
        server's buffer stay, for ``keep_for`` seconds, default the ``keep_timeout`` option or
        an hour). Jobs that are not detached are cancelled. ``path`` gets the state (mode 0600:
        it holds the detached jobs' unread results); a later
        ``Session(..., options={"attach": path})`` and :meth:`reattach` go on with them.
        """
        keep = getattr(self.transport, "keep", None)
        if keep is None:
            raise DfmError(
                f"a '{self.transport.name}' session ends with its application; "
                "only FLARE sessions can be suspended (detach and reattach within one session instead)"
            )
        if self._closed:
            raise DfmError("this session is closed")
        for job in list(self._jobs.values()):
            if not job.status.ended and not job._detached:
                self._call_soon(self._cancel, job)

        async def keep_transport() -> Any:
            return await asyncio.get_running_loop().run_in_executor(None, keep, keep_for)

        state = self._run(keep_transport(), timeout=60)
        self._closed = True
        try:
            self._run(asyncio.sleep(0), timeout=30)  # what the transport fetched is delivered now
            jobs = self._run(self._kept_jobs(), timeout=30)
            target = Path(path)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump({"federation": self.federation.name, "transport": state, "jobs": jobs}, fh)
        finally:
            self._shutdown_loop()
        return target

    async def _kept_jobs(self) -> list[dict[str, Any]]:
        from dfm.kernel.codecs import SafeCodec
        from dfm.kernel.ir.serde import to_data

        codec = SafeCodec(self.federation.allow_pickle)
        kept = []
        for job in self._detached.values():
            unread = []
            while True:
                try:
                    item = job._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not _END:
                    unread.append([item.place, list(item.frame), item.value])
            header, buffers = codec.encode(unread)
            kept.append(
                {
                    "id": job.id,
                    "prepared": to_data(job.prepared),
                    "frames": job.frames,
                    "open": job.open,
                    "autostop": job.autostop,
                    "taken": job._taken,
                    "status": job._status.value,
                    "error": job._error,
                    "started": sorted(job._started_sites),
                    "waiting": sorted(job._waiting_sites),
                    "unread": [header, [base64.b64encode(bytes(b)).decode() for b in buffers]],
                }
            )
        return kept

    def _load_kept(self, path: str | os.PathLike[str]) -> Any:
        from dfm.kernel.codecs import SafeCodec
        from dfm.kernel.ir.serde import from_data

        try:
            state = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise DfmError(f"cannot read the attach state {path}: {exc}") from None
        if not isinstance(state, dict) or state.get("federation") != self.federation.name:
            raise DfmError(f"{path} is not the attach state of a '{self.federation.name}' session")
        codec = SafeCodec(self.federation.allow_pickle)
        for data in state.get("jobs") or []:
            prepared = from_data(data["prepared"], PreparedPipeline)
            job = Job(self, data["id"], prepared, int(data["frames"]), open=bool(data["open"]))
            job.autostop = bool(data["autostop"])
            job._taken = job._credited = int(data["taken"])
            job._status = JobStatus(data["status"])
            job._started_sites = set(data["started"])
            job._waiting_sites = set(data["waiting"])
            header, buffers = data["unread"]
            for place, frame, value in codec.decode(header, [base64.b64decode(b) for b in buffers]):
                job._queue.put(JobResult(place, tuple(frame), value))
            job._detached = True
            self._detached[job.id] = job
            if job._status.ended:
                job._end(job._status, data.get("error"))
            else:
                self._jobs[job.id] = job
        return state.get("transport")

    def _shutdown_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._loop.is_running():
            self._loop.close()

    # -- API ---------------------------------------------------------------------------------

    def prepare(
        self,
        pipeline: Any,
        strategy: str | None = None,
        *,
        restrict_to_sites: str | Iterable[str] | None = None,
    ) -> PreparedPipeline:
        """Compile a pipeline (``dfm.api.Pipeline`` or its IR) for this federation.

        ``restrict_to_sites``: run operations only on these sites (a list of names, which must
        include the homesite), or ``"homesite"`` for the homesite alone; None: any site.
        """
        from dfm.compiler import compile_with_details

        ir = pipeline if isinstance(pipeline, PipelineIR) else pipeline.ir
        sites: list[str] | None = None
        if restrict_to_sites == "homesite":
            sites = [self.federation.home()]
        elif isinstance(restrict_to_sites, str):
            sites = [restrict_to_sites]
        elif restrict_to_sites is not None:
            sites = list(restrict_to_sites)
        compiled = compile_with_details(
            self.federation, ir, strategy or self.strategy, manager=self._manager, restrict_to_sites=sites
        )
        # the compiler hashed each net already: the first execution need not serialise them again
        self._net_digests.setdefault(compiled.prepared.digest, compiled.net_digests)
        return compiled.prepared

    def execute(
        self,
        prepared: PreparedPipeline | Any,
        params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        *,
        callbacks: Mapping[str, ResultCallback] | None = None,
        timeout: float | None = None,
        autostop: bool = True,
        input_params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        default_callback: ResultCallback | None = None,
        place_callbacks: Mapping[str, ResultCallback] | None = None,
    ) -> Job:
        """Start a job: one frame per parameter set. Returns at once.

        With ``timeout`` (seconds), a job that has not ended by then fails (its error names
        the sites that had not finished) and is cancelled at every site.

        With ``autostop=False`` the job stays open: :meth:`Job.send_input_params` adds
        parameter sets (frames) while it runs, and it ends only after
        :meth:`Job.send_stop_frame` once every frame is done (``params`` may then be None:
        no frame yet).

        NVIDIA DFM's forms work too: ``input_params=`` for ``params``, ``place_callbacks=``
        for ``callbacks``, ``default_callback=`` for every place without its own callback,
        a pipeline not prepared yet (prepared here), and callbacks of either shape (see
        :meth:`Job.on`). A parameter value ``PickledObject(x)`` sends ``x`` by pickle, which
        needs ``allow-pickle: true`` in the federation config.
        """
        if self._closed:
            raise DfmError("this session is closed")
        if input_params is not None:
            if params is not None:
                raise DfmError("execute() takes params or input_params, not both")
            params = input_params
        if place_callbacks is not None:
            if callbacks is not None:
                raise DfmError("execute() takes callbacks or place_callbacks, not both")
            callbacks = place_callbacks
        if not isinstance(prepared, PreparedPipeline):
            ir = prepared if isinstance(prepared, PipelineIR) else getattr(prepared, "ir", None)
            if isinstance(ir, PipelineIR) and ir.mode == "discovery":  # nothing runs: ask for advice
                return self.discover(ir, timeout=timeout or 60.0)  # type: ignore[return-value]
            prepared = self.prepare(prepared)
        if prepared.federation != self.federation.name:
            raise DfmError(
                f"pipeline was prepared for federation '{prepared.federation}', "
                f"this session is connected to '{self.federation.name}'"
            )
        sets = (
            []
            if params is None and not autostop
            else [self._unpickled(values) for values in _parameter_sets(params)]
        )
        if not sets and autostop:
            raise DfmError("execute() needs at least one parameter set")
        if timeout is not None and not (isinstance(timeout, (int, float)) and 0 < timeout < float("inf")):
            raise DfmError(f"execute() timeout must be a number of seconds > 0, not {timeout!r}")
        _check_params(prepared, sets)
        job = Job(self, uuid.uuid4().hex[:16], prepared, len(sets), open=not autostop)
        for place, callback in (callbacks or {}).items():
            job.on(place, callback)
        if default_callback is not None:
            job.on_default(default_callback)
        self._jobs[job.id] = job
        self._call_soon(self._begin, job, sets, timeout)
        return job

    def discover(self, pipeline: Any, *, timeout: float = 60.0) -> Discovery:
        """Ask every candidate site for advice on the calls of a discovery-mode pipeline.

        Nothing is placed or run: each site offering a call's operation (only the pinned site,
        or those of ``BestOf(sites=...)``, when the call names them) runs its adapter's
        ``@field_advisor`` methods and answers. Returns when every site answered, or after
        ``timeout`` seconds (a site that has not answered by then gets an error entry).
        """
        discovery = self.start_discovery(pipeline, timeout=timeout)
        discovery.wait(timeout + 5)
        return discovery

    def start_discovery(self, pipeline: Any, *, timeout: float = 60.0) -> Discovery:
        """Like :meth:`discover`, returning at once: ``Discovery.wait()`` waits for the answers."""
        if self._closed:
            raise DfmError("this session is closed")
        ir = pipeline if isinstance(pipeline, PipelineIR) else pipeline.ir
        if ir.mode != "discovery":
            raise DfmError(
                f"pipeline '{ir.name}' is in mode {ir.mode!r}; discover() takes Pipeline(mode='discovery')"
            )
        if not (isinstance(timeout, (int, float)) and 0 < timeout < float("inf")):
            raise DfmError(f"discover() timeout must be a number of seconds > 0, not {timeout!r}")
        deep = nesting_problem(ir)
        if deep is not None:
            raise DfmError(f"pipeline '{ir.name}': {deep} (the limit)")
        operations, per_site = discover_calls(self.federation, ir)
        asked = {site: [c["node"] for c in calls] for site, calls in per_site.items()}
        discovery = Discovery(uuid.uuid4().hex[:16], ir.name, operations, asked)
        self._discoveries[discovery.id] = discovery
        self._call_soon(self._begin_discovery, discovery, per_site, float(timeout))
        return discovery

    def _begin_discovery(self, discovery: Discovery, per_site: dict[str, list[Any]], timeout: float) -> None:
        self._loop.call_later(timeout, self._end_discovery, discovery, timeout)
        for site, calls in per_site.items():
            try:
                self.transport.send(site, Discover(discovery.id, calls))
            except Exception as exc:
                discovery._give_up(site, f"cannot ask site '{site}' for advice: {exc}")
        if discovery.done:
            self._discoveries.pop(discovery.id, None)

    def _end_discovery(self, discovery: Discovery, timeout: float) -> None:
        for site in list(discovery._waiting):
            discovery._give_up(site, f"site '{site}' did not answer within {timeout:g} s")
        self._discoveries.pop(discovery.id, None)

    def _advice(self, msg: Advice, sender: str) -> None:
        """Advice only from the site named, asked by a discovery still waiting for it."""
        if msg.site != sender:
            self._refused(f"application refused an Advice naming site '{msg.site}' from '{sender}'")
            return
        discovery = self._discoveries.get(msg.job)
        if discovery is None:
            self._refused(
                f"application refused an Advice of discovery {msg.job} from '{sender}': no such discovery"
            )
        elif sender not in discovery._waiting:
            self._refused(
                f"application refused an Advice of discovery {msg.job} from '{sender}': "
                "not asked, or answered already"
            )
        else:
            discovery._answer(sender, msg.nodes)
            if discovery.done:
                self._discoveries.pop(discovery.id, None)

    def _unpickled(self, values: dict[str, Any]) -> dict[str, Any]:
        """``PickledObject`` parameter values as the objects they carry (sent by pickle), if allowed."""
        out = dict(values)
        for name, value in values.items():
            if isinstance(value, PickledObject):
                if not self.federation.allow_pickle:
                    raise DfmError(
                        f"parameter '{name}' is a PickledObject, which the sites refuse without "
                        "'allow-pickle: true' in the federation config"
                    )
                out[name] = value.value
        return out

    # -- on the loop --------------------------------------------------------------------------

    def _begin(self, job: Job, sets: list[dict[str, Any]], timeout: float | None) -> None:
        """Start ``job`` at every site; any error doing so fails the job instead of leaving it waiting."""
        if job.status.ended:  # cancelled before it started
            return
        if timeout is not None:
            job._timer = self._loop.call_later(timeout, self._time_out, job, timeout)
        try:
            self._start(job, sets)
        except Exception as exc:
            log.debug("job %s could not start", job.id, exc_info=True)
            self._fail(job, f"job {job.id} could not start: {exc}")

    def _start(self, job: Job, sets: list[dict[str, Any]]) -> None:
        prepared = job.prepared
        digests = self._net_digests.get(prepared.digest)
        texts: dict[str, str] = {}  # each net's canonical JSON, hashed here and sent as it is
        if digests is None:  # each site recomputes its net's digest and installs it under that only
            texts = {s: canonical_json(n) for s, n in prepared.nets.items()}
            digests = self._net_digests[prepared.digest] = {s: text_digest(t) for s, t in texts.items()}
        for site, net in prepared.nets.items():
            if (digests[site], site) not in self._installed:
                try:
                    self.transport.send(site, Install(digests[site], net, text=texts.get(site)))
                except Exception as exc:
                    raise DfmError(f"cannot install the pipeline at site '{site}': {exc}") from exc
                self._installed.add((digests[site], site))
        for site, net in prepared.nets.items():
            params = {name: [values[name] for values in sets] for name in net.params}
            # the homesite may send `window` results before the application takes some (Credit)
            window = job._window if site == prepared.homesite else 0
            start = StartJob(job.id, digests[site], len(sets), params, not job.autostop, window)
            try:
                self.transport.send(site, start)
            except Exception as exc:
                raise DfmError(f"cannot send the job's parameters to site '{site}': {exc}") from exc

    def _more(self, job: Job, first: int, sets: list[dict[str, Any]]) -> None:
        if job.status.ended:
            return
        try:
            for site, net in job.prepared.nets.items():
                params = {name: [values[name] for values in sets] for name in net.params}
                self.transport.send(site, MoreFrames(job.id, first, len(sets), params))
        except Exception as exc:
            self._fail(job, f"job {job.id}: cannot send more parameter sets: {exc}")

    def _stop_frames(self, job: Job, total: int) -> None:
        if job.status.ended:
            return
        for site in job.prepared.nets:
            self.transport.send(site, StopFrames(job.id, total))

    def _credit(self, job: Job, allowed: int) -> None:
        if not job.status.ended and job.prepared.homesite in job.prepared.nets:
            self.transport.send(job.prepared.homesite, Credit(job.id, allowed))

    def _detach(self, job: Job) -> None:
        job._detached = True
        self._detached[job.id] = job

    def reattach(self, job_id: str) -> Job:
        """The job detached under ``job_id`` (with the results buffered meanwhile)."""
        job = self._detached.pop(job_id, None)
        if job is None:
            known = ", ".join(sorted(self._detached)) or "none"
            raise DfmError(f"no detached job '{job_id}' in this session (detached: {known})")
        job._detached = False
        return job

    def _time_out(self, job: Job, timeout: float) -> None:
        if job.status.ended:
            return
        pending = sorted(job._waiting_sites)
        self._fail(
            job,
            f"job {job.id} timed out after {timeout:g} s; site(s) not finished: {', '.join(pending)}",
        )

    def _cancel(self, job: Job) -> None:
        if job.status.ended:
            return
        job._end(JobStatus.CANCELLED)
        for site in job.prepared.nets:
            self.transport.send(site, CancelJob(job.id))
        self._jobs.pop(job.id, None)

    def _refused(self, text: str) -> None:
        security_log.warning("%s", text)
        self.refusals.append(text)

    def _deliver(self, msg: Any, sender: str) -> None:
        """A message for the application from ``sender`` (a site, or ``APP`` for the transport itself)."""
        kind = type(msg)
        if kind is Result:  # the hot path first
            job = self._jobs.get(msg.job)
            if job is not None:
                if sender != job.prepared.homesite:
                    self._refused(
                        f"application refused a Result of job {msg.job} from '{sender}': not its homesite"
                    )
                else:
                    job._result(msg)
            return
        if kind is Refused:
            who = "the application" if sender == APP else f"site '{sender}'"
            self._refused(f"{who} refused a message from '{msg.sender}': {msg.reason}")
            return
        if kind is SiteLost:
            if sender != APP:
                self._refused(f"application refused a SiteLost from site '{sender}'")
                return
            for running in list(self._jobs.values()):
                if msg.site in running.prepared.nets:
                    self._fail(running, f"site '{msg.site}' was lost: {msg.reason}")
            for discovery in list(self._discoveries.values()):
                discovery._give_up(msg.site, f"site '{msg.site}' was lost: {msg.reason}")
                if discovery.done:
                    self._discoveries.pop(discovery.id, None)
            return
        if kind is Advice:
            self._advice(msg, sender)
            return
        if kind not in (SiteDone, SiteFailed, JobStarted):
            self._refused(f"application refused a {kind.__name__} from '{sender}'")
            return
        if msg.site != sender:
            self._refused(f"application refused a {kind.__name__} naming site '{msg.site}' from '{sender}'")
            return
        job = self._jobs.get(msg.job)
        if job is None:
            return
        if sender not in job.prepared.nets:
            self._refused(
                f"application refused a {kind.__name__} of job {msg.job} from '{sender}', not part of it"
            )
            return
        if kind is JobStarted:
            job._started(msg.site)
        elif kind is SiteDone:
            job._waiting_sites.discard(msg.site)
            if not job._waiting_sites:
                job._end(JobStatus.FINISHED)
                self._jobs.pop(job.id, None)
        else:
            self._fail(job, msg.message)

    def _fail(self, job: Job, message: str) -> None:
        if job.status.ended:
            return
        job._end(JobStatus.FAILED, message)
        for site in job.prepared.nets:
            self.transport.send(site, CancelJob(job.id))
        self._jobs.pop(job.id, None)
