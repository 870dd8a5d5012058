"""The ``flare`` transport: a session's sites run as the clients of a FLARE deployment.

``Session(fed, target="flare", options=...)`` picks it. Where the deployment is:

- ``{"poc": True}``: the one ``dfm poc start`` runs for this federation
  (``$DFM_FLARE_HOME/<federation>`` or ``~/.dfm/flare/<federation>``);
- ``{"workspace": DIR}``: a deployment directory holding ``dfm-flare.json``
  (what ``dfm fed gen provision --out DIR`` and :class:`~dfm.flare.poc.Deployment` write);
- ``{"kit": DIR, "user": NAME}``: an admin startup kit (``user`` defaults to the
  federation's project admin);
- ``{"simulator": True}`` (or a workspace folder to keep): no deployment, the job runs
  in FLARE's simulator (:mod:`dfm.flare.simulator`).

:meth:`FlareTransport.start` opens an admin session and attaches to the
deployment's DFM service job (:mod:`dfm.flare.service`: a
:class:`~dfm.flare.controller.DfmController` on the server and a
:class:`~dfm.flare.executor.DfmExecutor` per site, code from the kits), which
``dfm poc start`` submitted; if none is running (never started, or it died), it
submits it and waits until every site reports ready. Attaching opens a session
of the service: the server answers with a token that every later command
carries, and keeps this session's jobs and results apart from other
applications'. Every execution of the session then goes through that job:
messages to sites are posted with the app command ``dfm.post`` by a sender
thread; messages to the application are polled with ``dfm.fetch`` by a
receiver thread (short polls, adaptive) and handed to the session's loop.
:meth:`FlareTransport.stop` ends the session (the server cancels its jobs at
the sites) and closes the admin session; the service job runs on.
Under the simulator the job is the session's own and ends with it.

Other options: ``connect_timeout`` (30), ``ready_timeout`` (90), ``submit_attempts`` (3),
``stop_timeout`` (20), ``lost_after`` (10: seconds without heartbeat before a
site is lost), ``chunk_bytes`` (1 MiB), ``workers`` (8), ``poll_max`` (0.2:
longest pause between fetches when idle), ``active_window`` (2: seconds after
the last message during which fetches follow each other within 10 ms),
``heartbeat`` (1: seconds between a site's heartbeats to the server) and the
other job settings apply when this transport starts the service job; ``app_timeout``
(60: seconds the server keeps a session whose application went silent), ``probe_timeout``
(5: seconds to find the server's port answering before FLARE is asked to connect, so
that a deployment that is down fails in seconds), ``progress`` (a callable given one
line per slow step of start and stop, e.g. :class:`dfm.runner.Steps`).

Outliving the application: :meth:`FlareTransport.keep` (used by
``Session.suspend``) stops talking to the service without ending the session
and returns what a later transport needs to attach to it (option ``attach``):
the FLARE job id, the session's token (a secret: whoever holds it is the
session) and how far the application had fetched. The server then keeps the
session up to ``keep_timeout`` (option, default 3600 s); what sites send
meanwhile is buffered by the server (``buffer_bytes`` per session).

Who sent what: the server tags every message it buffers for the application
with the DFM site FLARE authenticated as its sender (see
:func:`~dfm.flare.identity.flare_sender`); the application's own commands
reach the server through FLARE's admin API (mTLS, and FLARE's authorization of
the ``app_command`` right: project admins only with the default policy),
and within the service only its session's token lets it post to, cancel or
read its jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import logging
import queue
import threading
import time
import warnings
from pathlib import Path
from typing import Any

from dfm.flare.frames import (
    CHUNK_BYTES,
    FrameError,
    Reassembler,
    frame_job,
    item_from_json,
    item_size,
    item_to_json,
    pack,
    split,
    unpack,
)
from dfm.flare.layout import (
    DeploymentState,
    FlareSetupError,
    StaleKitsWarning,
    admin_name,
    client_names,
    poc_home,
    require_nvflare,
)
from dfm.flare.streams import (
    STREAM_BYTES,
    StreamError,
    admit_site_streams,
    download,
    inbox,
    remove_inbox,
)
from dfm.flare.topics import BATCH_BYTES, CMD_ATTACH, CMD_FETCH, CMD_KEEP, CMD_POST, CMD_STOP
from dfm.kernel.codecs import codec_for
from dfm.runner.spi import APP, Refused, SiteFailed, SiteLost, Transport, TransportError

__all__ = ["FlareTransport"]

log = logging.getLogger("dfm.flare")
_RETRYABLE_FOR = 10.0  # seconds an app command is retried while the job is running
_ENDED = ("FINISHED", "ABORTED", "FAILED", "ABANDONED")


class _JobEnded(TransportError):
    """The session's FLARE job is over (``status`` is FLARE's, e.g. ``FINISHED:FAILED_TO_RUN``)."""

    def __init__(self, message: str, status: str):
        super().__init__(message)
        self.status = status


def _quiet(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call an nvflare API function that prints progress ("Connecting to FLARE ...") to stdout."""
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args, **kwargs)


class FlareTransport(Transport):
    """The ``flare`` transport: the sites are the clients of a FLARE deployment, whose DFM service job
    this session attaches to (see the module docstring).
    """

    name = "flare"

    # -- start ----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect to the FLARE deployment named by the options and attach to its DFM service (started
        if it is not running); raises ``TransportError`` if FLARE is missing or unreachable.
        """
        try:
            require_nvflare()
        except FlareSetupError as exc:
            raise TransportError(str(exc)) from None
        self.codec = codec_for(self.federation)
        self.sites = client_names(self.federation)
        self.chunk_bytes = int(self.options.get("chunk_bytes", CHUNK_BYTES))
        self.poll_max = float(self.options.get("poll_max", 0.2))
        self.active_window = float(self.options.get("active_window", 2.0))
        self._activity = 0.0
        self._wake = threading.Event()
        self.session: Any = None
        self.job_id: str | None = None
        self._token: str | None = None  # this session's capability at the service (never logged)
        self._closing = threading.Event()
        self._failed: str | None = None  # why the job is gone, once it is
        self._outbox: queue.SimpleQueue[tuple[str, Any] | None] = queue.SimpleQueue()
        self._post_seq = itertools.count(1)
        self._kept = False
        self._fetched = 0
        self._lost_seen: set[str] = set()
        self._lock = threading.Lock()
        self._refused_seen = 0
        self._threads: list[threading.Thread] = []
        self._inbox: str | None = None  # private folder of downloads (made on the first)
        await asyncio.get_running_loop().run_in_executor(None, self._start_blocking)
        for target, name in ((self._sender, "dfm-flare-send"), (self._receiver, "dfm-flare-recv")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def _step(self, message: str) -> None:
        """Report a slow step to the ``progress`` option (a callable taking one line), if given."""
        report = self.options.get("progress")
        if callable(report):
            with contextlib.suppress(Exception):
                report(message)

    def _locate(self) -> tuple[str, Path]:
        """(admin user, admin kit dir) from the options."""
        opts = self.options
        if opts.get("kit"):
            kit = Path(opts["kit"]).expanduser()
            return str(opts.get("user") or admin_name(self.federation)), kit
        if opts.get("workspace"):
            workspace = Path(opts["workspace"]).expanduser()
        elif opts.get("poc"):
            workspace = poc_home(self.federation.name)
        else:
            raise TransportError(
                "the flare target needs to know where FLARE runs: options {'poc': True} "
                f"(after 'dfm poc start {self.federation.name}'), {{'workspace': DIR}} "
                "or {'kit': ADMIN_KIT_DIR} (on the command line: --poc, --workspace DIR, --kit DIR, "
                "or a federation registered with --project-path)"
            )
        try:
            state = DeploymentState.load(workspace)
        except FlareSetupError as exc:
            hint = (
                f"; run 'dfm poc prepare {self.federation.name}' and 'dfm poc start'"
                if opts.get("poc")
                else ""
            )
            raise TransportError(f"{exc}{hint}") from None
        stale = state.out_of_date()
        if stale:
            warnings.warn(stale, StaleKitsWarning, stacklevel=2)
        if state.federation != self.federation.name:
            raise TransportError(
                f"the FLARE deployment in {workspace} runs federation '{state.federation}', "
                f"not '{self.federation.name}'"
            )
        return state.admin, state.admin_kit

    def _start_blocking(self) -> None:
        attach = self.options.get("attach")
        if attach:
            self._open_admin_session()
            try:
                self._attach(attach)
            except BaseException:
                self._close_session()
                raise
            return
        if self.options.get("simulator"):
            from dfm.flare.simulator import Simulator

            where = self.options["simulator"]
            try:
                self.session = Simulator(
                    self.federation, self.config_path, None if where is True else Path(where).expanduser()
                )
            except FlareSetupError as exc:
                raise TransportError(str(exc)) from None
        else:
            self._open_admin_session()
        try:
            self._join_service()
        except BaseException:
            if self.options.get("simulator"):
                self._end_job()
            self._close_session()
            raise

    def _open_admin_session(self) -> None:
        from dfm.flare.admin import connect
        from dfm.flare.deploy import probe

        user, kit = self._locate()
        if not (kit / "startup" / "fed_admin.json").is_file():
            raise TransportError(
                f"FLARE admin startup kit not found: {kit} (expected startup/fed_admin.json)"
            )
        timeout = float(self.options.get("connect_timeout", 30))
        self._step(f"connecting to the FLARE server ({kit.name})")
        try:  # seconds, not FLARE's connect timeout, and none of its connector's noise when it is down
            probe(
                kit,
                timeout=min(timeout, float(self.options.get("probe_timeout", 5))),
                federation=self.federation.name,
            )
        except FlareSetupError as exc:
            raise TransportError(str(exc)) from None
        try:
            self.session = connect(user, kit, timeout)
        except Exception as exc:
            raise TransportError(
                f"cannot reach the FLARE server with the admin kit {kit} within {timeout:g} s "
                f"({type(exc).__name__}: {exc}); is it running ('dfm poc status {self.federation.name}')?"
            ) from None

    def _join_service(self) -> None:
        """Attach to the running service job; start it first when none runs (or none listed answers)."""
        from dfm.flare.service import running_services, service_name

        simulating = bool(self.options.get("simulator"))  # the simulator runs this application's job
        if not simulating:
            for job_id in running_services(self.session, service_name(self.federation.name)):
                if self._try_service(job_id, time.monotonic() + 3.0):
                    return
        self._start_service()
        if simulating or not self._defer_to_older():
            self._open_service_session({}, time.monotonic() + float(self.options.get("ready_timeout", 90)))

    def _try_service(self, job_id: str, deadline: float) -> bool:
        """Attach to the service job ``job_id`` if it is live; False if it ended or is a leftover."""
        mine, self.job_id = self.job_id, job_id
        try:
            # a live service answers in milliseconds (~1 s right after it started)
            self._open_service_session({}, deadline)
            return True
        except _JobEnded:  # ended since it was listed
            pass
        except TransportError as exc:
            # listed RUNNING but not answering (running_services leaves out what an earlier server
            # run left): a slow but live service is reported, not replaced
            if "JobNotRunning" not in str(exc):
                raise
            log.info("FLARE lists DFM service job %s as running, but it is not", job_id)
        self.job_id = mine
        return False

    def _defer_to_older(self) -> bool:
        """After starting a service: if another application started one before ours (both found none),
        attach to the older and abort ours, so that every application converges on one service.
        """
        from dfm.flare.service import running_services, service_name

        mine = self.job_id
        deadline = time.monotonic() + float(self.options.get("ready_timeout", 90))
        for job_id in running_services(self.session, service_name(self.federation.name), pending=True):
            if job_id == mine:
                return False
            # FLARE refuses app commands for ~1 s after a job starts; the sites' readiness is waited for apart
            if self._started(job_id, deadline) and self._try_service(job_id, time.monotonic() + 10.0):
                log.info("another application started DFM service job %s first: using it", job_id)
                with contextlib.suppress(Exception):
                    self.session.abort_job(mine)
                return True
        return False

    def _started(self, job_id: str, deadline: float) -> bool:
        """Wait until FLARE runs the submitted job ``job_id``; False if it ends or ``deadline`` passes."""
        while True:
            status = self._status(job_id)
            if status.startswith("RUNNING"):
                return True
            if not status.startswith(("SUBMITTED", "DISPATCHED")) or time.monotonic() > deadline:
                return False
            time.sleep(0.2)

    def _start_service(self) -> None:
        from dfm.flare.service import ServiceError, service_name, start_service

        self._step("checking that every site is connected")
        connected = {c.name for c in self.session.get_connected_client_list()}
        missing = sorted(site for site, client in self.sites.items() if client not in connected)
        if missing:
            raise TransportError(
                f"site(s) {', '.join(missing)} of federation '{self.federation.name}' are not connected "
                f"to the FLARE server (connected: {', '.join(sorted(connected)) or 'none'})"
            )
        simulating = bool(self.options.get("simulator"))
        timeouts = {
            "per_msg_timeout": float(self.options.get("per_msg_timeout", 10)),
            "tx_timeout": float(self.options.get("tx_timeout", 60)),
        }
        controller = {
            "lost_after": float(self.options.get("lost_after", 10)),
            "heartbeat": float(self.options.get("heartbeat", 1.0)),
            "app_timeout": float(self.options.get("app_timeout", 60)),
            # the simulator runs this application's own job, with a socket for app commands
            "service": not simulating,
            "app_socket": getattr(self.session, "socket_path", None),
            **timeouts,
        }
        executor = {
            "workers": int(self.options.get("workers", 8)),
            "heartbeat": float(self.options.get("heartbeat", 1.0)),
            "chunk_bytes": self.chunk_bytes,
            "stream_bytes": int(self.options.get("stream_bytes", STREAM_BYTES)),
            **timeouts,
        }
        # within the session's own start timeout, so that our error is the one reported
        timeout = min(
            float(self.options.get("ready_timeout", 90)), float(self.options.get("start_timeout", 120)) - 10
        )
        try:
            self.job_id = start_service(
                self.session,
                service_name(self.federation.name),
                self.sites,
                controller=controller,
                executor=executor,
                timeout=timeout,
                attempts=int(self.options.get("submit_attempts", 3)),
                step=self._step,
            )
        except ServiceError as exc:
            raise TransportError(str(exc)) from None

    def _open_service_session(self, state: dict[str, Any], deadline: float) -> None:
        """Open (or, with ``state["token"]``, resume) this application's session at the service."""
        timeout = float(self.options.get("app_timeout", 60))
        request = {"token": state["token"]} if state.get("token") else {"timeout": timeout}
        reply = None
        while reply is None:
            reply = self._command(CMD_ATTACH, request, deadline)
        self._token = str(reply["token"])
        self._post_seq = itertools.count(int(reply.get("post_seq", 0)) + 1)
        errors = [str(error) for error in (reply.get("ready") or {}).values() if error]
        if not errors and set(self.sites) - set(reply.get("ready") or {}):
            # a service another application has just started: its sites are still coming up
            from dfm.flare.service import ServiceError, wait_ready

            wait = float(self.options.get("ready_timeout", 90))
            try:
                wait_ready(self.session, str(self.job_id), self.sites, time.monotonic() + wait, self._step)
            except ServiceError as exc:
                errors = [str(exc)]
        if errors:
            with contextlib.suppress(TransportError):
                self._command(CMD_STOP, self._with_token({}))
            raise TransportError("; ".join(errors))

    def _with_token(self, data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "token": self._token}

    def _attach(self, state: dict[str, Any]) -> None:
        """Resume the session another application kept (see :meth:`keep`) at the running service."""
        self.job_id = str(state.get("flare_job") or "")
        status = self._status()
        if not status.startswith("RUNNING"):
            raise TransportError(f"cannot attach to FLARE job {self.job_id}: it is {status}")
        if not state.get("token"):
            raise TransportError("the attach state holds no session token (it was written by an older dfm)")
        self._fetched = int(state.get("fetched", 0))
        self._refused_seen = int(state.get("refused_seen", 0))
        deadline = time.monotonic() + float(self.options.get("ready_timeout", 90))
        self._open_service_session(state, deadline)
        self._command(
            CMD_KEEP, self._with_token({"timeout": float(self.options.get("app_timeout", 60))}), deadline
        )

    def keep(self, timeout: float | None = None) -> dict[str, Any]:
        """Stop using the service without ending this session; return the state :meth:`start` attaches with.

        Everything the application sent is posted first; fetching stops at a frame boundary
        (what was fetched has been delivered to the session's loop). The state holds the
        session's token: keep it secret (``Session.suspend`` writes it mode 0600).
        """
        self._kept = True
        self._outbox.put(None)
        for thread in self._threads[:1]:
            thread.join(10.0)
        self._closing.set()
        self._wake.set()
        for thread in self._threads[1:]:
            thread.join(10.0)
        if self._failed is not None:
            raise TransportError(f"the FLARE job cannot be kept: {self._failed}")
        if self.options.get("simulator"):
            raise TransportError("a simulated session cannot be kept (its job ends with this application)")
        keep_for = float(timeout if timeout is not None else self.options.get("keep_timeout", 3600))
        reply = self._command(CMD_KEEP, self._with_token({"timeout": keep_for}))
        if not (reply or {}).get("kept"):
            raise TransportError(f"the DFM service refused to keep this session for {keep_for:g} s")
        self._close_session()
        return {
            "flare_job": self.job_id,
            "token": self._token,
            "fetched": self._fetched,
            "refused_seen": self._refused_seen,
        }

    # -- app commands -----------------------------------------------------------------------------

    def _status(self, job_id: str | None = None) -> str:
        try:
            return str(self.session.get_job_status(job_id or self.job_id))
        except Exception as exc:
            return f"unknown ({type(exc).__name__})"

    def _command(
        self, topic: str, data: dict[str, Any], deadline: float | None = None
    ) -> dict[str, Any] | None:
        """One app command, retried while FLARE is not ready for it; None while the job is still starting.

        Raises :class:`TransportError` once the job has ended or ``deadline`` passed.
        """
        from nvflare.fuel.flare_api.api_spec import JobNotRunning, NoReply

        if deadline is None:
            deadline = time.monotonic() + _RETRYABLE_FOR
        error: Exception | None = None
        while True:
            try:
                reply = self.session.do_app_command(self.job_id, topic, data)
            except (NoReply, JobNotRunning, Exception) as exc:
                error = exc
            else:
                if isinstance(reply, dict) and "error" in reply:
                    raise TransportError(f"the DFM service refused '{topic}': {reply['error']}")
                return reply  # type: ignore[no-any-return]
            status = self._status()
            if any(status.startswith(ended) for ended in _ENDED):
                raise _JobEnded(f"the DFM service job {self.job_id} of this session ended ({status})", status)
            if isinstance(error, (NoReply, JobNotRunning)) or status in (
                "SUBMITTED",
                "DISPATCHED",
                "RUNNING",
            ):
                if time.monotonic() > deadline:
                    raise TransportError(
                        f"FLARE job {self.job_id} ({status}) did not answer '{topic}': "
                        f"{type(error).__name__}: {error}"
                    )
                if status != "RUNNING":
                    time.sleep(0.1)
                    return None
                time.sleep(0.05)
                continue
            raise TransportError(f"FLARE app command '{topic}' failed: {type(error).__name__}: {error}")

    # -- the two threads ----------------------------------------------------------------------------

    def send(self, site: str, msg: Any) -> None:
        """Queue ``msg`` for ``site`` on the sender thread; an unknown or lost site, or a failed job, is
        reported as ``SiteLost``.
        """
        if self._failed is not None:
            self.loop.call_soon(self.deliver, SiteLost(site, self._failed), APP)
            return
        if site not in self.sites:
            self.loop.call_soon(self.deliver, SiteLost(site, "not a site of this federation"), APP)
            return
        if site in self._lost_seen:
            why = "it was lost earlier in this session; restart the session (Session(...)) to use it again"
            self.loop.call_soon(self.deliver, SiteLost(site, why), APP)
            return
        try:
            items = split(pack(msg, self.codec), self.chunk_bytes)
        except Exception as exc:
            job = getattr(msg, "job", None)
            if job is not None:
                self.loop.call_soon(
                    self.deliver, SiteFailed(job, site, f"cannot send to site '{site}': {exc}"), site
                )
            return
        for item in items:
            self._outbox.put((site, item))

    def _sender(self) -> None:
        pending: tuple[str, Any] | None = None
        while True:
            if pending is None:
                first = self._outbox.get()
                if first is not None:
                    time.sleep(0.002)  # let the rest of the burst (Install + StartJob per site) join
            else:
                first = pending
            pending = None
            if first is None:
                return
            batch = [first]
            total = item_size(first[1])
            while total < BATCH_BYTES:
                try:
                    nxt = self._outbox.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    pending = None
                    self._post(batch)
                    return
                if total + item_size(nxt[1]) > BATCH_BYTES:
                    pending = nxt
                    break
                batch.append(nxt)
                total += item_size(nxt[1])
            self._post(batch)

    def _post(self, batch: list[tuple[str, Any]]) -> None:
        if self._failed is not None:
            self._lose({site for site, _ in batch}, self._failed)
            return
        data = {"seq": next(self._post_seq), "items": [[site, item_to_json(item)] for site, item in batch]}
        data["token"] = self._token
        try:
            while self._command(CMD_POST, data) is None:
                pass
        except TransportError as exc:
            self._job_lost(str(exc))
            return
        self._activity = time.monotonic()
        self._wake.set()

    def _poll_delay(self, empty: int) -> float:
        """Pause before the next fetch: short while messages flow, growing to ``poll_max`` when idle.

        FLARE's server handles one app command at a time (for every job), so
        the server never holds a fetch open; the application polls instead.
        """
        if empty == 0:
            return 0.0
        if time.monotonic() - self._activity < self.active_window:
            return min(0.001 * 2.0**empty, 0.01)
        return min(0.01 * 2.0 ** (empty - 1), self.poll_max)

    def _receiver(self) -> None:
        reassemblers: dict[str, Reassembler] = {}  # per sending site: no site can feed another's stream
        empty = 0
        drain_until = None
        while True:
            if self._closing.is_set():
                # stop at a frame boundary: a kept job is fetched again from here by the next application
                if not self._kept or not any(r.parts for r in reassemblers.values()):
                    return
                if drain_until is None:
                    drain_until = time.monotonic() + 10.0
                elif time.monotonic() > drain_until:
                    return
            if self._wake.wait(self._poll_delay(empty)):
                self._wake.clear()
                empty = min(empty, 1)
            request = {"after": self._fetched, "token": self._token}
            try:
                reply = self._command(CMD_FETCH, request)
            except TransportError as exc:
                if not self._closing.is_set():
                    self._job_lost(str(exc))
                return
            if reply is None:
                continue
            items = reply.get("items") or []
            empty = 0 if items else min(empty + 1, 16)
            if items:
                self._activity = time.monotonic()
            for seq, data, site in items:
                if seq <= self._fetched:
                    continue
                self._fetched = seq
                if site not in self.sites:
                    continue  # the server attributes every item to a site of this session
                frame: bytes | memoryview | None
                try:
                    item = item_from_json(data)
                    if isinstance(item, dict):  # a stream reference
                        frame = self._download(site, item)
                    else:
                        frame = reassemblers.setdefault(site, Reassembler()).feed(item)
                except FrameError as exc:
                    self._refuse(site, f"a chunk from site '{site}': {exc}")
                    continue
                except StreamError as exc:
                    self._stream_failed(site, item if isinstance(item, dict) else {}, exc)
                    continue
                if frame is None:
                    continue
                try:
                    msg = unpack(frame, self.codec)
                except Exception as exc:  # a site sent what the application refuses to decode
                    job = frame_job(frame)
                    if isinstance(job, str):
                        # as if the site had failed the job itself: the session takes it only if
                        # that site is part of the job
                        failed = SiteFailed(job, site, f"the application refused data from '{site}': {exc}")
                        self.loop.call_soon_threadsafe(self.deliver, failed, site)
                    else:
                        self._refuse(site, f"an undecodable frame from site '{site}': {exc}")
                    continue
                self.loop.call_soon_threadsafe(self.deliver, msg, site)
            for seq, sender, reason in reply.get("refused") or []:
                if int(seq) > self._refused_seen:
                    self._refused_seen = int(seq)
                    self._refuse(str(sender), str(reason), where="server")
            lost = reply.get("lost") or {}
            for site in sorted(set(lost) - self._lost_seen):
                self._lost_seen.add(site)
                self.loop.call_soon_threadsafe(self.deliver, SiteLost(site, str(lost[site])), APP)

    def _download(self, site: str, ref: dict[str, Any]) -> memoryview:
        """Pull a frame ``site`` offered to the application, from that site's job cell, with the admin
        session's cell (see :mod:`dfm.flare.streams`).
        """
        cell = getattr(getattr(self.session, "api", None), "cell", None)
        if cell is None:
            raise StreamError("this FLARE session has no admin cell to download with")
        if self._inbox is None:
            self._inbox = inbox()
            admit_site_streams(cell, {f"{client}.{self.job_id}" for client in self.sites.values()})
        source = f"{self.sites[site]}.{self.job_id}"  # the site the server authenticated, never the payload
        timeout = float(self.options.get("per_msg_timeout", 10))
        try:
            return download(cell, source, ref, self._inbox, timeout)
        except StreamError:
            raise
        except Exception as exc:  # never let the receiver thread die
            raise StreamError(f"{type(exc).__name__}: {exc}") from None

    def _stream_failed(self, site: str, ref: dict[str, Any], exc: Exception) -> None:
        """A frame ``site`` offered could not be downloaded: its job fails (if ``site`` is part of it)."""
        job = ref.get("job")
        if isinstance(job, str):
            why = f"the application could not download data from '{site}': {exc}"
            self.loop.call_soon_threadsafe(self.deliver, SiteFailed(job, site, why), site)
        else:
            self._refuse(site, f"a stream from site '{site}': {exc}")

    def _refuse(self, sender: str, reason: str, where: str = "application") -> None:
        refused = Refused(where, sender, reason)
        self.loop.call_soon_threadsafe(self.deliver, refused, APP)

    def _job_lost(self, reason: str) -> None:
        """The session's FLARE job is gone: fail every running job, naming the site that was lost.

        FLARE 2.9 ends a whole job when one client's job process dies (the client reports the
        failure and the server fails the run). FLARE aborts the server's job process first: it
        then names the sites whose heartbeats had stopped (the others still send theirs) and
        waits for the application to fetch that. Jobs using those sites fail naming them; every
        other running job fails because its sites went down with the FLARE job. The session
        cannot run anything more: every later job fails at once, saying so.
        """
        with self._lock:
            if self._failed is not None:
                return
            self._failed = reason  # until the full text below
        # the sites the server saw stop (no heartbeat) before FLARE ended the job
        stopped = sorted(self._lost_seen)
        restart = "restart the session (Session(...)) to go on"
        if stopped:
            names = ", ".join(f"'{site}'" for site in stopped)
            self._failed = (
                f"this session's FLARE job ended after site(s) {names} stopped ({reason}); {restart}"
            )
        else:
            self._failed = f"{reason}; {restart}"
        others = set(self.sites) - set(stopped)
        self._lose(others, self._failed)

    def _lose(self, sites: set[str], reason: str) -> None:
        for site in sorted(sites):
            self.loop.call_soon_threadsafe(self.deliver, SiteLost(site, reason), APP)

    # -- stop -------------------------------------------------------------------------------------

    async def stop(self) -> None:
        """End this session at the service (its jobs are cancelled) and stop the transport's threads,
        unless the session is kept for the next application.
        """
        if self._kept:
            return  # the session stays at the service for the next application (keep)
        await asyncio.get_running_loop().run_in_executor(None, self._stop_blocking)

    def _stop_blocking(self) -> None:
        self._outbox.put(None)
        for thread in self._threads[:1]:  # let the sender flush what the session sent last (cancels)
            thread.join(5.0)
        self._closing.set()
        self._wake.set()
        for thread in self._threads[1:]:
            thread.join(5.0)
        if self._token is not None and self._failed is None and self.session is not None:
            self._step("ending this session at the DFM service")
            with contextlib.suppress(Exception):
                self.session.do_app_command(self.job_id, CMD_STOP, self._with_token({}))
        if self.options.get("simulator"):
            self._end_job()
        self._close_session()

    def _end_job(self) -> None:
        """Under the simulator: wait for the session's own job to end (it does once its session ended)."""
        if self.session is None or self.job_id is None:
            return
        deadline = time.monotonic() + float(self.options.get("stop_timeout", 20))
        if self._failed is None and self._token is not None:
            self._step(f"stopping FLARE job {self.job_id}")
            while time.monotonic() < deadline:
                status = self._status()
                if any(status.startswith(ended) for ended in _ENDED):
                    return
                time.sleep(0.2)
        with contextlib.suppress(Exception):
            self.session.abort_job(self.job_id)

    def _close_session(self) -> None:
        if getattr(self, "_inbox", None) is not None:
            remove_inbox(self._inbox)  # type: ignore[arg-type]
            self._inbox = None
        if self.session is not None:
            with contextlib.suppress(Exception):
                self.session.close()
            self.session = None
