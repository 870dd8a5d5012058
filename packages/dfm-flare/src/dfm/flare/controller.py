"""The server side of the DFM service job: the applications' sessions and the relay of their messages.

One service job runs per deployment (submitted by ``dfm poc start`` /
:meth:`dfm.flare.poc.Deployment.start`, or by the first application that finds
none running) and serves every application. Each application attaches
(``dfm.attach``) and gets a session token that every later command carries;
the sessions' jobs are kept apart by :class:`~dfm.flare.sessions.SessionTable`.

Message routing (every payload is a frame of :mod:`dfm.flare.frames`)::

    app --app command dfm.post--> server --ReliableMessage dfm.deliver--> site
    site --ReliableMessage dfm.deliver--> site        (FLARE relays it through the server)
    site --ReliableMessage dfm.to_app--> server, buffer of the job's session <--app command dfm.fetch-- app
    server --ReliableMessage dfm.cancel--> site       (the jobs of a session that ended)

The controller never decodes DFM payloads beyond a frame header's job id. Sites send it heartbeats; a site
that stops sending them, or that cannot be reached, is reported to the
application as lost. The controller is installed at the server (dfm-flare is in
every kit's requirements) and allowed by the ``dfm.`` entry the provisioning
builder adds to ``class_allow_list``, so the job carries no code (not BYOC).
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import os
import socket
import threading
import time
from typing import Any

from nvflare.apis.fl_constant import ReturnCode
from nvflare.apis.fl_context import FLContext
from nvflare.apis.impl.controller import Controller
from nvflare.apis.shareable import Shareable, make_reply
from nvflare.apis.signal import Signal
from nvflare.apis.utils.reliable_message import TOPIC_RELIABLE_REQUEST, ReliableMessage

from dfm.flare.courier import Courier, Dedup, payload_of, quiet_reliable_message, rm_send
from dfm.flare.frames import Item, item_from_json, item_size, item_to_json
from dfm.flare.identity import flare_sender, stamp_origins
from dfm.flare.layout import SERVER_NAME
from dfm.flare.seals import Seals
from dfm.flare.sessions import JobFinder, Session, SessionError, SessionTable
from dfm.flare.topics import (
    AUX_HEARTBEAT,
    BATCH_BYTES,
    CMD_ATTACH,
    CMD_FETCH,
    CMD_KEEP,
    CMD_POST,
    CMD_STATUS,
    CMD_STOP,
    RC_REFUSED,
    RM_CANCEL,
    RM_DELIVER,
    RM_READY,
    RM_TO_APP,
)

log = logging.getLogger("dfm.flare")

MAX_KEEP = 30 * 86400  # the longest an application may ask its session to be kept (seconds)


class DfmController(Controller):  # type: ignore[misc]  # nvflare ships no types
    """Server side of the DFM service: the applications' sessions and the relay of their messages.

    Args:
        sites: DFM site name -> FLARE client name.
        lost_after: seconds without a heartbeat after which a ready site is reported lost.
        heartbeat: seconds between the sites' heartbeats (when FLARE aborts this job, a site
            silent for 1.5 heartbeats is one whose process stopped).
        app_timeout: seconds without a command from an application after which its session is
            dropped and its jobs cancelled (the application died without stopping its session);
            an application that detaches asks for longer (``dfm.keep``).
        per_msg_timeout, tx_timeout: ReliableMessage timeouts towards sites.
        buffer_bytes: bytes held per session for its application; sites are slowed down while it
            is full, and a session that stays full is dropped.
        max_sessions: sessions at once (applications attached or kept).
        max_jobs: jobs per session.
        service: run until FLARE aborts the job (the deployment's service). False: end when the
            last session ends (one application's job, as under the simulator).
        app_socket: under FLARE's simulator only, which has no admin API: a unix socket path
            on which the application sends its commands (:mod:`dfm.flare.simulator`).
        keys: FLARE client name -> the key this server job shares with that site: every message
            either way carries its seal (:mod:`dfm.flare.seals`); without keys the job refuses to run.
    """

    def __init__(
        self,
        sites: dict[str, str],
        lost_after: float = 10.0,
        heartbeat: float = 1.0,
        app_timeout: float = 60.0,
        per_msg_timeout: float = 10.0,
        tx_timeout: float = 60.0,
        buffer_bytes: int = 256 << 20,
        max_sessions: int = 64,
        max_jobs: int = 100_000,
        service: bool = True,
        app_socket: str | None = None,
        keys: dict[str, str] | None = None,
    ):
        super().__init__()
        self.keys = dict(keys or {})  # an attribute of the argument's name: FLARE's job export reads it
        self._seals = Seals(SERVER_NAME, self.keys)
        self.app_socket = app_socket
        self._app_listener: socket.socket | None = None
        self.sites = dict(sites)
        self.lost_after = lost_after
        self.heartbeat = heartbeat
        self._lost_told = threading.Event()  # an application fetched the lost sites
        self.app_timeout = app_timeout
        self.per_msg_timeout = per_msg_timeout
        self.tx_timeout = tx_timeout
        self.buffer_bytes = buffer_bytes
        self.max_sessions = max_sessions
        self.max_jobs = max_jobs
        self.service = service
        self._clients = {client: site for site, client in self.sites.items()}
        self._cond = threading.Condition()
        self._table = SessionTable(max_sessions=max_sessions, max_jobs=max_jobs, buffer_bytes=buffer_bytes)
        self._had_session = False
        self._from_sites: dict[str, JobFinder] = {site: JobFinder() for site in self.sites}
        self._posts: dict[tuple[str, str], JobFinder] = {}  # (session, site) -> its posted items
        self._ready: dict[str, str | None] = {}  # site -> error text (None: ready)
        self._lost: dict[str, str] = {}
        self._seen: dict[str, float] = {}
        self._couriers: dict[str, Courier] = {}
        self._stop = threading.Event()
        self._abort = Signal()
        self._dedup = Dedup()
        self._simulating = False
        self._engine_ref: Any = None

    # -- lifecycle -------------------------------------------------------------------------

    def start_controller(self, fl_ctx: FLContext) -> None:
        """Register the app commands and message handlers and start a courier per site; panics if site
        messages cannot be attributed to their senders.
        """
        quiet_reliable_message()
        engine = fl_ctx.get_engine()
        self._engine_ref = engine
        from nvflare.private.fed.simulator.simulator_server import SimulatorServerEngine

        self._simulating = isinstance(engine, SimulatorServerEngine)
        topics = [TOPIC_RELIABLE_REQUEST, RM_TO_APP, RM_READY, AUX_HEARTBEAT]
        if not stamp_origins(engine, topics) and not self._simulating:
            # without the stamp no site message can be attributed: refuse to run rather than trust payloads
            self.system_panic("dfm: cannot see who sends messages on this FLARE server", fl_ctx)
            return
        if not self.keys:
            self.system_panic("dfm: this service job carries no pair keys (export it with dfm-flare)", fl_ctx)
            return
        for topic, handler in self._app_commands().items():
            engine.register_app_command(topic, handler)
        engine.register_aux_message_handler(AUX_HEARTBEAT, self._on_heartbeat)
        ReliableMessage.register_request_handler(RM_TO_APP, self._on_to_app, fl_ctx)
        ReliableMessage.register_request_handler(RM_READY, self._on_ready, fl_ctx)
        if self.app_socket:
            self._listen_for_app(fl_ctx)
        timeouts = (self.per_msg_timeout, self.tx_timeout)
        for site, client in self.sites.items():
            self._couriers[site] = self._site_courier(engine, site, client, timeouts)

    def _app_commands(self) -> dict[str, Any]:
        return {
            CMD_ATTACH: self._on_attach,
            CMD_POST: self._on_post,
            CMD_FETCH: self._on_fetch,
            CMD_STOP: self._on_stop,
            CMD_KEEP: self._on_keep,
            CMD_STATUS: self._on_status,
        }

    def _site_courier(self, engine: Any, site: str, client: str, timeouts: tuple[float, float]) -> Courier:
        def send(batch: list[Any], seq: int) -> str | None:
            payload = self._seals.seal(client, RM_DELIVER, {"from": SERVER_NAME, "seq": seq, "items": batch})
            return rm_send(engine, client, RM_DELIVER, payload, timeouts, self._abort)

        return Courier(
            f"server-{site}", send, lambda batch, reason: self._mark_lost(site, reason), size=item_size
        )

    def control_flow(self, abort_signal: Signal, fl_ctx: FLContext) -> None:
        """Run until aborted (or, not as a service, until the last session ended), checking the sites'
        heartbeats and dropping sessions whose application went silent.
        """
        while not abort_signal.triggered and not self._stop.is_set():
            self._stop.wait(0.5)
            self._check_heartbeats()
            self._expire_sessions()
            if not self.service and self._had_session and not len(self._table):
                break
        if abort_signal.triggered and not self._stop.is_set():
            self._name_stopped_sites()
        what = "DFM service" if self.service else "DFM session"  # (a simulated session's own job)
        self.log_info(fl_ctx, f"{what} ended" + (" (aborted)" if abort_signal.triggered else ""))

    def stop_controller(self, fl_ctx: FLContext) -> None:
        """Stop: abort pending sends, close the couriers and the application's socket."""
        self._stop.set()
        self._abort.trigger(True)
        for courier in self._couriers.values():
            courier.close(timeout=2.0)
        with self._cond:
            self._cond.notify_all()
        if self._app_listener is not None:
            self._app_listener.close()
            if self.app_socket:
                with contextlib.suppress(OSError):
                    os.unlink(self.app_socket)

    def process_result_of_unknown_task(
        self, client: Any, task_name: str, client_task_id: str, result: Shareable, fl_ctx: FLContext
    ) -> None:
        """Ignored: DFM sends no tasks."""
        pass

    # -- sites --------------------------------------------------------------------------------

    def _mark_lost(self, site: str, reason: str) -> None:
        with self._cond:
            if site in self._lost or self._stop.is_set():
                return
            self._lost[site] = reason
            self._lost_told.clear()
            self._cond.notify_all()

    def _name_stopped_sites(self) -> None:
        """FLARE aborts this job: name the sites that had stopped, and let the applications hear it.

        FLARE 2.9 ends the whole job when one client's job process dies, and aborts this
        (server) process before the other clients' processes: those still send heartbeats now.
        """
        now = time.monotonic()
        ages = {site: now - self._seen.get(site, now) for site in self._ready if site not in self._lost}
        oldest = max(ages.values(), default=0.0)
        # the one(s) silent longest, if clearly silent: a loaded machine delays others' heartbeats too
        quiet = [
            site
            for site, age in ages.items()
            if oldest > max(1.5 * self.heartbeat, 1.0) and age > oldest - 0.5 * self.heartbeat
        ]
        for site in quiet:
            self._mark_lost(site, "its FLARE job process stopped (no heartbeat), and FLARE ended the job")
        if self._lost and len(self._table):
            self._lost_told.wait(3.0)  # app commands are still served while the workflow winds down

    def _check_heartbeats(self) -> None:
        now = time.monotonic()
        for site in list(self._ready):
            seen = self._seen.get(site)
            if seen is not None and now - seen > self.lost_after:
                self._mark_lost(
                    site,
                    f"no heartbeat for {self.lost_after:g} s (its FLARE job process is gone or unreachable)",
                )

    def _site_of(
        self, request: Shareable, fl_ctx: FLContext, topic: str, claim: str, value: Any
    ) -> str | None:
        """The DFM site that sent ``request`` on ``topic`` (FLARE's authenticated sender, whose seal
        the payload must carry); None when refused.

        ``value`` is what the payload says under ``claim``: it must agree (a consistency check).
        """
        sender = flare_sender(request, fl_ctx, self._clients, simulating=self._simulating)
        site = self._clients.get(sender) if sender is not None else None
        if site is not None and not self._seals.check(sender, topic, payload_of(request)):
            self._refuse(site, f"a message on '{topic}' without the seal of site '{site}'")
            return None
        expected = site if claim == "site" else sender
        if site is None or value != expected:
            self._refuse(site or sender or "?", f"a message claiming {claim} '{value}'")
            return None
        return site

    def _refuse(self, sender: str, what: str, session: Session | None = None) -> None:
        """Log a refusal and report it to ``session``, or to every session when it concerns none."""
        log.warning("DFM server refused %s from '%s'", what, sender)
        with self._cond:
            for each in [session] if session is not None else self._table.everyone():
                each.report(sender, f"the server refused {what}")

    def _on_heartbeat(self, topic: str, request: Shareable, fl_ctx: FLContext) -> Shareable:
        site = self._site_of(request, fl_ctx, AUX_HEARTBEAT, "site", payload_of(request).get("site"))
        if site is None:
            return make_reply(RC_REFUSED)
        self._heard(site)
        return make_reply(ReturnCode.OK)

    def _heard(self, site: str) -> None:
        """``site`` is alive: a site lost earlier (silent or unreachable a while) is back for new sessions.

        The service outlives many sessions; one that saw the loss keeps it (its jobs failed).
        """
        self._seen[site] = time.monotonic()
        if site in self._lost:
            with self._cond:
                if self._lost.pop(site, None) is not None:
                    log.warning("DFM site %s is back", site)

    def _on_ready(self, topic: str, request: Shareable, fl_ctx: FLContext) -> Shareable:
        data = payload_of(request)
        site = self._site_of(request, fl_ctx, RM_READY, "site", data.get("site"))
        if site is None:
            return make_reply(RC_REFUSED)
        error = data.get("error")
        with self._cond:
            self._ready[site] = None if error is None else str(error)
            self._heard(site)
            self._cond.notify_all()
        return make_reply(ReturnCode.OK)

    def _on_to_app(self, topic: str, request: Shareable, fl_ctx: FLContext) -> Shareable:
        data = payload_of(request)
        site = self._site_of(request, fl_ctx, RM_TO_APP, "from", data.get("from"))
        if site is None:
            return make_reply(RC_REFUSED)
        source = self.sites[site]
        self._heard(site)
        items = data.get("items")
        if not isinstance(items, list):
            return make_reply(ReturnCode.BAD_REQUEST_DATA)
        with self._cond:
            if not self._dedup.fresh(source, data.get("seq")):
                return make_reply(ReturnCode.OK)
            deadline = time.monotonic() + self.per_msg_timeout / 2
            while self._full() and not self._stop.is_set():  # backpressure
                if not self._cond.wait(max(0.0, deadline - time.monotonic())):
                    break
            for session in [s for s in self._table if s.buffered > self.buffer_bytes]:
                self._end(session, "its application did not fetch what sites sent (its buffer is full)")
            for item in items:
                try:
                    routed = self._from_sites[site].feed(item)
                    encoded = [(job, [(item_to_json(i), item_size(i)) for i in its]) for job, its in routed]
                except Exception as exc:  # not an item: the application's reassembler would refuse it anyway
                    self._refuse(site, f"a malformed item ({exc})")
                    continue
                for job, parts in encoded:
                    owner = self._table.owner(job) if job is not None else None
                    if job is not None and owner is None:
                        continue  # a job whose session ended: nobody may read it
                    for session in [owner] if owner is not None else self._table.everyone():
                        for json_item, size in parts:
                            session.add(json_item, size, site)
            self._cond.notify_all()
        return make_reply(ReturnCode.OK)

    def _full(self) -> bool:
        return any(s.buffered > self.buffer_bytes for s in self._table)

    # -- sessions ------------------------------------------------------------------------------

    def _session(self, data: Any) -> Session:
        if not isinstance(data, dict):
            raise SessionError("unknown session")
        return self._table.get(data.get("token"))

    def _end(self, session: Session, why: str) -> None:
        """Drop ``session`` (with ``self._cond`` held) and cancel its jobs at the sites."""
        jobs = self._table.close(session, why)
        for key in [k for k in self._posts if k[0] == session.sid]:
            del self._posts[key]
        log.info("DFM session %s ended (%s): cancelling %d job(s)", session.sid, why, len(jobs))
        self._cond.notify_all()
        if jobs and self._engine_ref is not None:
            threading.Thread(target=self._cancel, args=(jobs,), name="dfm-cancel", daemon=True).start()

    def _cancel(self, jobs: list[str]) -> None:
        """Tell every site to cancel ``jobs``, after what was posted for them (the couriers keep order)."""
        timeouts = (self.per_msg_timeout, self.tx_timeout)
        for site, client in self.sites.items():
            courier = self._couriers.get(site)
            if courier is not None:
                courier.flush(timeouts[0])
            payload = self._seals.seal(client, RM_CANCEL, {"jobs": jobs})
            error = rm_send(self._engine_ref, client, RM_CANCEL, payload, timeouts, self._abort)
            if error is not None:
                log.warning("could not cancel %d job(s) at site %s: %s", len(jobs), site, error)

    def _expire_sessions(self) -> None:
        with self._cond:
            for session in self._table.expired():
                self._end(session, f"no word from its application for {session.timeout:g} s")

    # -- application --------------------------------------------------------------------------

    def _on_status(self, topic: str, data: Any, fl_ctx: FLContext | None) -> dict[str, Any]:
        """The service's state for whoever may send app commands: sites ready or lost, sessions open."""
        with self._cond:
            return {"ready": dict(self._ready), "lost": dict(self._lost), "sessions": len(self._table)}

    def _on_attach(self, topic: str, data: Any, fl_ctx: FLContext | None) -> dict[str, Any]:
        """Open a session (``{"timeout": seconds}``, optional), or resume one (``{"token": ...}``): its
        token and where it stands.
        """
        with self._cond:
            try:
                if isinstance(data, dict) and data.get("token") is not None:
                    token = str(data["token"])
                    session = self._session(data)
                else:
                    asked = data.get("timeout") if isinstance(data, dict) else None
                    timeout = self.app_timeout if asked is None else float(asked)
                    if not 0 < timeout <= MAX_KEEP:
                        return {"error": f"a session's timeout must be within (0, {MAX_KEEP}] s"}
                    token, session = self._table.open(timeout)
                    self._had_session = True
            except (SessionError, TypeError, ValueError) as exc:
                return {"error": str(exc)}
            log.info("DFM session %s attached (%d session(s))", session.sid, len(self._table))
            return {"token": token, "post_seq": session.post_seq, "ready": dict(self._ready)}

    def _on_post(self, topic: str, data: Any, fl_ctx: FLContext | None) -> dict[str, Any]:
        with self._cond:
            try:
                session = self._session(data)
            except SessionError as exc:
                return {"error": str(exc)}
            seq = int(data.get("seq", 0))
            if seq <= session.post_seq:  # a retry of a post already relayed
                return {"seq": seq, "duplicate": True}
            session.post_seq = seq
            per_site: dict[str, list[Item]] = collections.defaultdict(list)
            unknown = set()
            for site, item in data.get("items") or []:
                if site not in self._couriers:
                    unknown.add(site)
                    continue
                finder = self._posts.setdefault((session.sid, site), JobFinder())
                try:
                    routed = finder.feed(item_from_json(item))
                except Exception as exc:
                    self._refuse("the application", f"an item for site '{site}' ({exc})", session)
                    continue
                for job, items in routed:
                    if job is None or self._table.claim(session, job):
                        per_site[site].extend(items)
                    else:  # another session's job, or one too many: not this application's to control
                        self._refuse(
                            "the application", f"a message about job '{job}', not this session's", session
                        )
        for site, items in per_site.items():
            self._couriers[site].put(items)
        return {"seq": seq, "unknown": sorted(unknown)}

    def _on_fetch(self, topic: str, data: Any, fl_ctx: FLContext | None) -> dict[str, Any]:
        # Never block here: FLARE's server runs one app command at a time, for every job.
        with self._cond:
            try:
                session = self._session(data)
            except SessionError as exc:
                return {"error": str(exc)}
            after = int(data.get("after", 0))
            limit = int(data.get("max", BATCH_BYTES))
            session.ack(after)
            self._cond.notify_all()
            items: list[list[Any]] = []
            total = 0
            for seq, item, size, site in session.buffer:
                if items and total + size > limit:
                    break
                items.append([seq, item, site])
                total += size
            self._lost_told.set()
            return {
                "items": items,
                "ready": dict(self._ready),
                "lost": dict(self._lost),
                "refused": list(session.refused),
                "stopping": self._stop.is_set(),
                "post_seq": session.post_seq,  # an application attaching later goes on from here
            }

    def _on_keep(self, topic: str, data: Any, fl_ctx: FLContext | None) -> dict[str, Any]:
        """The application detaches: keep its session (and buffer) up to ``timeout`` s without a command."""
        with self._cond:
            try:
                session = self._session(data)
                timeout = float(data.get("timeout", self.app_timeout))
            except (SessionError, TypeError, ValueError) as exc:
                return {"error": str(exc)}
            if not 0 < timeout <= MAX_KEEP:
                return {"kept": False}
            session.timeout = timeout
            return {"kept": True, "timeout": timeout}

    def _on_stop(self, topic: str, data: Any, fl_ctx: FLContext | None) -> dict[str, Any]:
        """The application ends its session: its jobs are cancelled at the sites."""
        with self._cond:
            try:
                session = self._session(data)
            except SessionError as exc:
                return {"error": str(exc)}
            self._end(session, "its application stopped it")
        return {"stopped": True}

    # -- the application's socket, under the simulator ---------------------------------------------

    def _listen_for_app(self, fl_ctx: FLContext) -> None:
        from nvflare.private.fed.simulator.simulator_server import SimulatorServerEngine

        assert self.app_socket
        if not isinstance(fl_ctx.get_engine(), SimulatorServerEngine):
            # a deployed server takes the application's commands through the admin API only
            self.system_panic("app_socket is refused outside FLARE's simulator", fl_ctx)
            return
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(self.app_socket)
        os.chmod(self.app_socket, 0o600)
        listener.listen()
        self._app_listener = listener
        threading.Thread(
            target=self._accept_app, args=(listener,), name="dfm-app-socket", daemon=True
        ).start()

    def _accept_app(self, listener: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve_app, args=(conn,), daemon=True).start()

    def _serve_app(self, conn: socket.socket) -> None:
        """JSON lines: ``{"topic", "data"}`` in, ``{"result"}`` or ``{"error"}`` out, like app commands."""
        handlers = self._app_commands()
        with conn, conn.makefile("rwb") as stream:
            for line in stream:
                reply: dict[str, Any]
                try:
                    request = json.loads(line)
                    topic = request["topic"]
                    reply = {"result": handlers[topic](topic, request.get("data"), None)}
                except Exception as exc:
                    reply = {"error": f"{type(exc).__name__}: {exc}"}
                try:
                    stream.write(json.dumps(reply).encode() + b"\n")
                    stream.flush()
                except OSError:
                    return
