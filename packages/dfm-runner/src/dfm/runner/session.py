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
import collections
import enum
import itertools
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

from dfm.kernel.config import config_source, load_config
from dfm.kernel.config.models import Federation
from dfm.kernel.errors import DfmError, JobError
from dfm.kernel.fedregistry import resolve_federation
from dfm.kernel.ir.net import PreparedPipeline
from dfm.kernel.ir.pipeline import PipelineIR
from dfm.kernel.ir.serde import digest as ir_digest
from dfm.kernel.plugins import DfmPluginManager, get_plugin_manager
from dfm.runner.messages import (
    APP,
    CancelJob,
    Install,
    JobStarted,
    Refused,
    Result,
    SiteDone,
    SiteFailed,
    SiteLost,
    StartJob,
)
from dfm.runner.transports.base import Transport

log = logging.getLogger("dfm.runner")
security_log = logging.getLogger("dfm.runner.security")


class JobStatus(enum.Enum):
    SUBMITTED = "SUBMITTED"
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def ended(self) -> bool:
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


class Job:
    """One execution of a prepared pipeline (possibly over many parameter sets)."""

    def __init__(self, session: Session, job_id: str, prepared: PreparedPipeline, frames: int):
        self.id = job_id
        self.prepared = prepared
        self.frames = frames
        self._session = session
        self._status = JobStatus.SUBMITTED
        self._ended = False
        self._error: str | None = None
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._done = threading.Event()
        self._waiting_sites = set(prepared.nets)
        self._started_sites: set[str] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._callbacks: dict[str | None, list[Callable[[JobResult], None]]] = {}
        self.started_at = time.monotonic()
        self.ended_at: float | None = None
        self._counts: dict[str, int] = {}  # results per place (the progress display)
        self._drained: list[JobResult] | None = None  # every result, once a table was asked for

    def __repr__(self) -> str:
        return f"<Job {self.id} {self._status.value}>"

    @property
    def status(self) -> JobStatus:
        return self._status

    @property
    def error(self) -> str | None:
        """Why the job failed (site, operation and the adapter's message), or None."""
        return self._error

    def on(self, place: str | None, callback: Callable[[JobResult], None]) -> None:
        """Call ``callback(result)`` for each result of ``place`` (None: every place).

        Callbacks run on the session's event loop thread; keep them short.
        Results delivered before registration are not replayed.
        """
        self._callbacks.setdefault(place, []).append(callback)

    def results(self, timeout: float | None = None) -> Iterator[JobResult]:
        """Yield results as they arrive until the job ends.

        Raises :class:`JobError` at the end if the job failed or was cancelled,
        and ``TimeoutError`` if no result or end arrives within ``timeout`` seconds.
        """
        while True:
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                raise TimeoutError(f"job {self.id}: no result within {timeout} s") from None
            if item is _END:
                self._queue.put(_END)  # later calls end at once too
                if self._status is JobStatus.FAILED:
                    raise JobError(f"job {self.id} failed: {self._error}")
                if self._status is JobStatus.CANCELLED:
                    raise JobError(f"job {self.id} was cancelled")
                return
            yield item

    def result_batches(self, timeout: float | None = None, limit: int = 4096) -> Iterator[list[JobResult]]:
        """Like :meth:`results`, but yield every result already arrived at once (at most ``limit``).

        A batch is yielded as soon as one result is there, so nothing waits for more to
        come; a fast stream of results costs one wake-up per batch instead of per result.
        """
        get_nowait = self._queue.get_nowait
        while True:
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
                yield batch
            if item is _END:
                self._queue.put(_END)  # later calls end at once too
                if self._status is JobStatus.FAILED:
                    raise JobError(f"job {self.id} failed: {self._error}")
                if self._status is JobStatus.CANCELLED:
                    raise JobError(f"job {self.id} was cancelled")
                return

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
        if self._callbacks:
            for key in (msg.place, None):
                for callback in self._callbacks.get(key, ()):
                    try:
                        callback(result)
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
        self._jobs: dict[str, Job] = {}
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
        self.transport: Transport = transport_cls(
            self.federation, self.config_path, self._loop, self._deliver, dict(options or {})
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

    def _shutdown_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._loop.is_running():
            self._loop.close()

    # -- API ---------------------------------------------------------------------------------

    def prepare(self, pipeline: Any, strategy: str | None = None) -> PreparedPipeline:
        """Compile a pipeline (``dfm.api.Pipeline`` or its IR) for this federation."""
        from dfm.compiler import compile_pipeline

        ir = pipeline if isinstance(pipeline, PipelineIR) else pipeline.ir
        return compile_pipeline(self.federation, ir, strategy or self.strategy, manager=self._manager)

    def execute(
        self,
        prepared: PreparedPipeline,
        params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        *,
        callbacks: Mapping[str, Callable[[JobResult], None]] | None = None,
        timeout: float | None = None,
    ) -> Job:
        """Start a job: one frame per parameter set. Returns at once.

        With ``timeout`` (seconds), a job that has not ended by then fails (its error names
        the sites that had not finished) and is cancelled at every site.
        """
        if self._closed:
            raise DfmError("this session is closed")
        if prepared.federation != self.federation.name:
            raise DfmError(
                f"pipeline was prepared for federation '{prepared.federation}', "
                f"this session is connected to '{self.federation.name}'"
            )
        sets = _parameter_sets(params)
        if not sets:
            raise DfmError("execute() needs at least one parameter set")
        if timeout is not None and not (isinstance(timeout, (int, float)) and 0 < timeout < float("inf")):
            raise DfmError(f"execute() timeout must be a number of seconds > 0, not {timeout!r}")
        wanted = set(prepared.pipeline.params)
        for i, values in enumerate(sets):
            missing = sorted(wanted - set(values))
            if missing:
                where = f"parameter set {i}: " if len(sets) > 1 else ""
                raise DfmError(f"{where}missing value(s) for PlaceParam {', '.join(missing)}")
        job = Job(self, uuid.uuid4().hex[:16], prepared, len(sets))
        for place, callback in (callbacks or {}).items():
            job.on(place, callback)
        self._jobs[job.id] = job
        self._call_soon(self._begin, job, sets, timeout)
        return job

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
        if digests is None:  # each site recomputes its net's digest and installs it under that only
            digests = self._net_digests[prepared.digest] = {s: ir_digest(n) for s, n in prepared.nets.items()}
        for site, net in prepared.nets.items():
            if (digests[site], site) not in self._installed:
                try:
                    self.transport.send(site, Install(digests[site], net))
                except Exception as exc:
                    raise DfmError(f"cannot install the pipeline at site '{site}': {exc}") from exc
                self._installed.add((digests[site], site))
        for site, net in prepared.nets.items():
            params = {name: [values[name] for values in sets] for name in net.params}
            try:
                self.transport.send(site, StartJob(job.id, digests[site], len(sets), params))
            except Exception as exc:
                raise DfmError(f"cannot send the job's parameters to site '{site}': {exc}") from exc

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
