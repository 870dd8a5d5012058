"""The server side of a DFM session's FLARE job: the application's buffer and the relay of its messages.

Message routing (every payload is a frame of :mod:`dfm.flare.frames`)::

    app --app command dfm.post--> server --ReliableMessage dfm.deliver--> site
    site --ReliableMessage dfm.deliver--> site        (FLARE relays it through the server)
    site --ReliableMessage dfm.to_app--> server buffer <--app command dfm.fetch (polled)-- app

The controller never decodes DFM payloads. Sites send it heartbeats; a site
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
from dfm.flare.topics import (
    AUX_HEARTBEAT,
    BATCH_BYTES,
    CMD_FETCH,
    CMD_KEEP,
    CMD_POST,
    CMD_STOP,
    RC_REFUSED,
    RM_DELIVER,
    RM_READY,
    RM_TO_APP,
)

log = logging.getLogger("dfm.flare")


class DfmController(Controller):
    """Server side of a DFM session: the application's buffer and the relay of its messages.

    Args:
        sites: DFM site name -> FLARE client name.
        lost_after: seconds without a heartbeat after which a ready site is reported lost.
        heartbeat: seconds between the sites' heartbeats (when FLARE aborts this job, a site
            silent for 1.5 heartbeats is one whose process stopped).
        app_timeout: seconds without a fetch from the application after which the job ends
            (the application died without stopping its session).
        per_msg_timeout, tx_timeout: ReliableMessage timeouts towards sites.
        buffer_bytes: messages held for the application before sites are slowed down.
        app_socket: under FLARE's simulator only, which has no admin API: a unix socket path
            on which the application sends its commands (:mod:`dfm.flare.simulator`).
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
        app_socket: str | None = None,
    ):
        super().__init__()
        self.app_socket = app_socket
        self._app_listener: socket.socket | None = None
        self.sites = dict(sites)
        self.lost_after = lost_after
        self.heartbeat = heartbeat
        self._lost_told = threading.Event()  # the application fetched the lost sites
        self.app_timeout = app_timeout
        self._app_seen = time.monotonic()
        self.per_msg_timeout = per_msg_timeout
        self.tx_timeout = tx_timeout
        self.buffer_bytes = buffer_bytes
        self._clients = {client: site for site, client in self.sites.items()}
        self._cond = threading.Condition()
        # (seq, json item, bytes, DFM site that sent it)
        self._buffer: collections.deque[tuple[int, Any, int, str]] = collections.deque()
        self._buffered = 0
        self._seq = 0
        self._post_seq = -1
        self._ready: dict[str, str | None] = {}  # site -> error text (None: ready)
        self._lost: dict[str, str] = {}
        self._seen: dict[str, float] = {}
        self._couriers: dict[str, Courier] = {}
        self._stop = threading.Event()
        self._abort = Signal()
        self._dedup = Dedup()
        self._simulating = False
        self._refused: collections.deque[list[str]] = collections.deque(maxlen=100)
        self._refused_seq = 0

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
        engine.register_app_command(CMD_POST, self._on_post)
        engine.register_app_command(CMD_FETCH, self._on_fetch)
        engine.register_app_command(CMD_STOP, self._on_stop)
        engine.register_app_command(CMD_KEEP, self._on_keep)
        engine.register_aux_message_handler(AUX_HEARTBEAT, self._on_heartbeat)
        ReliableMessage.register_request_handler(RM_TO_APP, self._on_to_app, fl_ctx)
        ReliableMessage.register_request_handler(RM_READY, self._on_ready, fl_ctx)
        if self.app_socket:
            self._listen_for_app(fl_ctx)
        timeouts = (self.per_msg_timeout, self.tx_timeout)
        for site, client in self.sites.items():
            self._couriers[site] = self._site_courier(engine, site, client, timeouts)

    def _site_courier(self, engine: Any, site: str, client: str, timeouts: tuple[float, float]) -> Courier:
        def send(batch: list[Any], seq: int) -> str | None:
            payload = {"from": SERVER_NAME, "seq": seq, "items": batch}
            return rm_send(engine, client, RM_DELIVER, payload, timeouts, self._abort)

        return Courier(
            f"server-{site}", send, lambda batch, reason: self._mark_lost(site, reason), size=item_size
        )

    def control_flow(self, abort_signal: Signal, fl_ctx: FLContext) -> None:
        """Run until stopped, aborted or the application is silent for ``app_timeout`` seconds, checking
        the sites' heartbeats.
        """
        self._app_seen = time.monotonic()
        while not abort_signal.triggered and not self._stop.is_set():
            self._stop.wait(0.5)
            self._check_heartbeats()
            if time.monotonic() - self._app_seen > self.app_timeout:
                self.log_warning(fl_ctx, f"no word from the application for {self.app_timeout:g} s: ending")
                break
        if abort_signal.triggered and not self._stop.is_set():
            self._name_stopped_sites()
        self.log_info(fl_ctx, "DFM session ended" + (" (aborted)" if abort_signal.triggered else ""))

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
        """FLARE aborts this job: name the sites that had stopped, and let the application hear it.

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
        if self._lost:
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

    def _site_of(self, request: Shareable, fl_ctx: FLContext, claim: str, value: Any) -> str | None:
        """The DFM site that sent ``request`` (FLARE's authenticated sender); None when refused.

        ``value`` is what the payload says under ``claim``: it must agree (a consistency check).
        """
        sender = flare_sender(request, fl_ctx, self._clients, simulating=self._simulating)
        site = self._clients.get(sender) if sender is not None else None
        expected = site if claim == "site" else sender
        if site is None or value != expected:
            self._refuse(site or sender or "?", f"a message claiming {claim} '{value}'")
            return None
        return site

    def _refuse(self, sender: str, what: str) -> None:
        log.warning("DFM server refused %s from FLARE sender '%s'", what, sender)
        with self._cond:
            self._refused_seq += 1
            self._refused.append([str(self._refused_seq), sender, f"the server refused {what}"])

    def _on_heartbeat(self, topic: str, request: Shareable, fl_ctx: FLContext) -> Shareable:
        site = self._site_of(request, fl_ctx, "site", payload_of(request).get("site"))
        if site is None:
            return make_reply(RC_REFUSED)
        self._seen[site] = time.monotonic()
        return make_reply(ReturnCode.OK)

    def _on_ready(self, topic: str, request: Shareable, fl_ctx: FLContext) -> Shareable:
        data = payload_of(request)
        site = self._site_of(request, fl_ctx, "site", data.get("site"))
        if site is None:
            return make_reply(RC_REFUSED)
        error = data.get("error")
        with self._cond:
            self._ready[site] = None if error is None else str(error)
            self._seen[site] = time.monotonic()
            self._cond.notify_all()
        return make_reply(ReturnCode.OK)

    def _on_to_app(self, topic: str, request: Shareable, fl_ctx: FLContext) -> Shareable:
        data = payload_of(request)
        site = self._site_of(request, fl_ctx, "from", data.get("from"))
        if site is None:
            return make_reply(RC_REFUSED)
        source = self.sites[site]
        self._seen[site] = time.monotonic()
        items = data.get("items")
        if not isinstance(items, list):
            return make_reply(ReturnCode.BAD_REQUEST_DATA)
        with self._cond:
            if not self._dedup.fresh(source, data.get("seq")):
                return make_reply(ReturnCode.OK)
            deadline = time.monotonic() + self.per_msg_timeout / 2
            while self._buffered > self.buffer_bytes and not self._stop.is_set():  # backpressure
                if not self._cond.wait(max(0.0, deadline - time.monotonic())):
                    break
            for item in items:
                try:
                    size = item_size(item)
                    encoded = item_to_json(item)
                except Exception:  # not an item: the application's reassembler would refuse it anyway
                    self._refuse(site, "a malformed item")
                    continue
                self._seq += 1
                self._buffer.append((self._seq, encoded, size, site))
                self._buffered += size
            self._cond.notify_all()
        return make_reply(ReturnCode.OK)

    # -- application --------------------------------------------------------------------------

    def _on_post(self, topic: str, data: Any, fl_ctx: FLContext | None) -> dict[str, Any]:
        data = data or {}
        seq = int(data.get("seq", 0))
        with self._cond:
            if seq <= self._post_seq:  # a retry of a post already relayed
                return {"seq": seq, "duplicate": True}
            self._post_seq = seq
        per_site: dict[str, list[Item]] = collections.defaultdict(list)
        unknown = set()
        for site, item in data.get("items") or []:
            if site in self._couriers:
                per_site[site].append(item_from_json(item))
            else:
                unknown.add(site)
        for site, items in per_site.items():
            self._couriers[site].put(items)
        return {"seq": seq, "unknown": sorted(unknown)}

    def _on_fetch(self, topic: str, data: Any, fl_ctx: FLContext | None) -> dict[str, Any]:
        # Never block here: FLARE's server runs one app command at a time, for every job.
        data = data or {}
        self._app_seen = time.monotonic()
        after = int(data.get("after", 0))
        limit = int(data.get("max", BATCH_BYTES))
        with self._cond:
            while self._buffer and self._buffer[0][0] <= after:
                self._buffered -= self._buffer.popleft()[2]
            self._cond.notify_all()
            items: list[list[Any]] = []
            total = 0
            for seq, item, size, site in self._buffer:
                if items and total + size > limit:
                    break
                items.append([seq, item, site])
                total += size
            self._lost_told.set()
            return {
                "items": items,
                "ready": dict(self._ready),
                "lost": dict(self._lost),
                "refused": list(self._refused),
                "stopping": self._stop.is_set(),
                "post_seq": self._post_seq,  # an application attaching later goes on from here
            }

    def _on_keep(self, topic: str, data: Any, fl_ctx: FLContext | None) -> dict[str, Any]:
        """The application detaches: keep this job (and its buffer) up to ``timeout`` s without a fetch."""
        timeout = float((data or {}).get("timeout", self.app_timeout))
        if not 0 < timeout <= 30 * 86400:
            return {"kept": False}
        self.app_timeout = timeout
        self._app_seen = time.monotonic()
        return {"kept": True, "timeout": timeout}

    def _on_stop(self, topic: str, data: Any, fl_ctx: FLContext | None) -> dict[str, Any]:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        return {"stopping": True}

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
        handlers = {
            CMD_POST: self._on_post,
            CMD_FETCH: self._on_fetch,
            CMD_STOP: self._on_stop,
            CMD_KEEP: self._on_keep,
        }
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
