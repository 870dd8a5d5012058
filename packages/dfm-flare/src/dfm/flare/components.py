"""The FLARE job components of a DFM session: one controller on the server, one executor per site.

Both are installed at the sites (dfm-flare is in every kit's requirements) and
allowed by the ``dfm.`` entry the provisioning builder adds to
``class_allow_list``, so the job carries no code (not BYOC).

Message routing (every payload is a frame of :mod:`dfm.flare.frames`)::

    app --app command dfm.post--> server --ReliableMessage dfm.deliver--> site
    site --ReliableMessage dfm.deliver--> site        (FLARE relays it through the server)
    site --ReliableMessage dfm.to_app--> server buffer <--app command dfm.fetch (polled)-- app

The controller hosts the application's buffer and relays what the
application sends; it never decodes DFM payloads. Each executor hosts its
site's :class:`~dfm.runner.site.SiteRuntime` on an asyncio loop in a thread,
from the job's ``START_RUN`` to its ``END_RUN``: one FLARE job serves any
number of pipeline executions. Senders are :class:`Courier` threads, one per
destination, so messages to a destination keep their order and are batched.
Sites send a heartbeat to the server; a site that stops sending them, or
that cannot be reached, is reported to the application as lost.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import secrets
import socket
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nvflare.apis.event_type import EventType
from nvflare.apis.executor import Executor
from nvflare.apis.fl_constant import FLContextKey, ReturnCode
from nvflare.apis.fl_context import FLContext
from nvflare.apis.impl.controller import Controller
from nvflare.apis.shareable import Shareable, make_reply
from nvflare.apis.signal import Signal
from nvflare.apis.utils.reliable_message import TOPIC_RELIABLE_REQUEST, ReliableMessage

from dfm.flare.frames import (
    CHUNK_BYTES,
    FrameError,
    Item,
    Reassembler,
    frame_job,
    item_from_json,
    item_size,
    item_to_json,
    item_to_wire,
    pack,
    split,
    unpack,
)
from dfm.flare.layout import SERVER_NAME, SITE_DESCRIPTOR

# Topics. App commands (admin -> server job):
CMD_POST = "dfm.post"
CMD_FETCH = "dfm.fetch"
CMD_STOP = "dfm.stop"
CMD_KEEP = "dfm.keep"  # the application goes away and comes back later: wait that long for it
# ReliableMessage (job <-> job) and aux:
RM_DELIVER = "dfm.deliver"
RM_TO_APP = "dfm.to_app"
RM_READY = "dfm.ready"
AUX_HEARTBEAT = "dfm.hb"
# Our reply to a message whose sender is not who it must be (not retried by honest senders)
RC_REFUSED = "DFM_REFUSED"

BATCH_BYTES = 4 << 20

log = logging.getLogger("dfm.flare")


def _quiet_reliable_message() -> None:
    # ReliableMessage logs every request at INFO: thousands of lines per session.
    logging.getLogger(ReliableMessage.__module__ + ".ReliableMessage").setLevel(logging.WARNING)


class Courier:
    """A thread that sends queued items to one destination in order, batched up to ``batch_bytes``.

    ``send(items, seq) -> None | str`` delivers one batch (``seq`` counts batches) and returns an error
    text on failure; ``on_failure(items, reason)`` is then told which items
    were not delivered. ``idle(...)`` is called when nothing was sent for
    ``idle_every`` seconds (heartbeats). A message arriving at an idle courier
    waits ``linger`` seconds for the rest of its burst (a result and the
    site's "done" usually follow each other within microseconds).
    """

    def __init__(
        self,
        name: str,
        send: Callable[[list[Any], int], str | None],
        on_failure: Callable[[list[Any], str], None],
        *,
        batch_bytes: int = BATCH_BYTES,
        size: Callable[[Any], int] = lambda item: 1,
        idle: Callable[[], None] | None = None,
        idle_every: float = 1.0,
        linger: float = 0.002,
    ):
        self.name = name
        self._send = send
        self._on_failure = on_failure
        self._batch_bytes = batch_bytes
        self._size = size
        self._idle = idle
        self._idle_every = idle_every
        self._linger = linger
        self._queue: collections.deque[Any] = collections.deque()
        self._cond = threading.Condition()
        self._closed = False
        self._busy = False
        self._seq = 0
        self._thread = threading.Thread(target=self._run, name=f"dfm-courier-{name}", daemon=True)
        self._thread.start()

    def put(self, items: list[Any]) -> None:
        """Queue ``items`` to be sent (by the courier's thread)."""
        with self._cond:
            self._queue.extend(items)
            self._cond.notify()

    def flush(self, timeout: float) -> bool:
        """Wait until everything queued so far was sent (or failed)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Stop the courier once what is queued was sent; waits up to ``timeout`` seconds for its thread."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout)

    def _take(self) -> list[Any] | None:
        with self._cond:
            last = time.monotonic()
            waited = False
            while not self._queue:
                if self._closed:
                    return None
                waited = True
                self._cond.wait(self._idle_every if self._idle else None)
                if not self._queue and self._idle and time.monotonic() - last >= self._idle_every:
                    return []
            if waited and self._linger:
                # the first message of a burst: let the rest of the burst join its batch
                self._cond.wait(self._linger)
            batch = [self._queue.popleft()]
            total = self._size(batch[0])
            while self._queue and total + self._size(self._queue[0]) <= self._batch_bytes:
                item = self._queue.popleft()
                total += self._size(item)
                batch.append(item)
            self._busy = True
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            if not batch:
                try:
                    if self._idle:
                        self._idle()
                except Exception:
                    log.debug("idle callback of courier %s failed", self.name, exc_info=True)
                continue
            self._seq += 1
            try:
                error = self._send(batch, self._seq)
            except Exception as exc:  # never let the sender thread die
                error = f"{type(exc).__name__}: {exc}"
            if error is not None:
                try:
                    self._on_failure(batch, error)
                except Exception:
                    log.exception("failure callback of courier %s raised", self.name)
            with self._cond:
                self._busy = False
                self._cond.notify_all()


def _rm_send(
    engine: Any,
    target: str,
    topic: str,
    payload: dict[str, Any],
    timeouts: tuple[float, float],
    abort: Signal,
) -> str | None:
    """Deliver one message with ReliableMessage, retrying until ``timeouts[1]``; None when delivered.

    Each attempt is ReliableMessage in its single-message mode (one aux
    request and its reply): its full mode (ack, then a separate reply, then
    queries) costs ~130 ms server->client here against ~13 ms. Retries are
    ours: every batch carries its courier's sequence number, so a receiver
    that got an attempt whose reply was lost drops the repeat.
    """
    per_msg, total = timeouts
    deadline = time.monotonic() + total
    delay = 0.05
    rc: Any = None
    while True:
        request = Shareable()
        request["dfm"] = payload
        with engine.new_context() as fl_ctx:
            reply = ReliableMessage.send_request(
                target=target,
                topic=topic,
                request=request,
                per_msg_timeout=per_msg,
                tx_timeout=per_msg,
                abort_signal=abort,
                fl_ctx=fl_ctx,
            )
        rc = reply.get_return_code() if isinstance(reply, Shareable) else "no reply"
        if rc == ReturnCode.OK:
            return None
        if rc == RC_REFUSED:
            return f"'{target}' refused the message from this sender"
        if abort.triggered or time.monotonic() + delay > deadline:
            return f"FLARE could not deliver to '{target}' within {total:g} s ({rc})"
        time.sleep(delay)
        delay = min(delay * 2, 1.0)


class _Dedup:
    """Drops batches a sender repeated because it did not see our reply."""

    def __init__(self) -> None:
        self._last: dict[str, int] = {}
        self.lock = threading.Lock()

    def fresh(self, source: str, seq: Any) -> bool:
        if not isinstance(seq, int):
            return True
        if seq <= self._last.get(source, 0):
            return False
        self._last[source] = seq
        return True


def _payload(request: Shareable) -> dict[str, Any]:
    data = request.get("dfm")
    return data if isinstance(data, dict) else {}


# -- who sent a message -------------------------------------------------------------------------
#
# FLARE hands a message handler a "peer context" (fl_ctx.get_peer_context()), but that is
# the sender's own FLContext props, carried in the payload's __peer_props__ header: a site's
# process sets it to whatever it likes. What FLARE does authenticate is the cell message's
# ORIGIN header: with secure_train (provisioned mTLS), the server's cell checks every message it
# receives or relays against the sending client's token (issued at registration, bound to its
# certificate name) and the FQCN that client registered from (nvflare.private.fed.authenticator.
# validate_auth_headers). A message from site "alpha"'s job process arrives with ORIGIN
# "alpha.<job id>"; one from the server's job process with "server.<job id>".
#
# That header stays at the cell layer, so each job process wraps FLARE's callback for the aux
# topics we take and copies ORIGIN into the request under a header name drawn at random in
# this process (a sender cannot preset it). Handlers read the sender from there, never from
# the payload.

ORIGIN_KEY = f"__dfm_origin_{secrets.token_hex(8)}__"


def stamp_origins(engine: Any, topics: list[str]) -> bool:
    """Copy the authenticated cell ORIGIN of aux requests on ``topics`` into their Shareable.

    Returns False when this engine has no cell to wrap (then no message gets a stamp).
    """
    from nvflare.fuel.f3.cellnet.defs import CellChannel, MessageHeaderKey

    get_cell = getattr(engine, "get_cell", None)
    cell = get_cell() if callable(get_cell) else None
    core = getattr(cell, "core_cell", None)
    registry = getattr(core, "req_reg", None)
    if cell is None or registry is None:
        return False
    channel = CellChannel.AUX_COMMUNICATION
    for topic in topics:
        found = registry.find(channel, topic)
        if found is None:
            return False
        if getattr(found.cb, "dfm_stamp", False):
            continue

        def stamp(request: Any, *args: Any, _cb: Any = found, **kwargs: Any) -> Any:
            payload = request.payload
            if isinstance(payload, Shareable):
                payload.set_header(ORIGIN_KEY, request.get_header(MessageHeaderKey.ORIGIN))
            return _cb.cb(request, *_cb.args, **_cb.kwargs)

        stamp.dfm_stamp = True  # type: ignore[attr-defined]
        # an exact channel:topic registration wins over FLARE's "aux_communication:*" (cellnet Registry)
        cell.register_request_cb(channel=channel, topic=topic, cb=stamp)
    return True


def flare_sender(request: Shareable, fl_ctx: FLContext, clients: Any, *, simulating: bool) -> str | None:
    """The FLARE name (client name, or SERVER_NAME) of who sent ``request``; None when unknown.

    Only a sender of this FLARE job counts (ORIGIN ``<name>.<this job id>``). The peer context's
    identity must agree (a consistency check only). Under FLARE's simulator, which has no
    authentication anyway, a message without a stamp falls back to the peer context (a name
    that is not one of ``clients`` is the server's).
    """
    peer = fl_ctx.get_peer_context()
    claimed = peer.get_identity_name() if isinstance(peer, FLContext) else None
    origin = request.get_header(ORIGIN_KEY)
    name = None
    if isinstance(origin, str) and origin:
        parts = origin.split(".")
        if len(parts) >= 2 and parts[-1] == fl_ctx.get_job_id():
            name = parts[-2]
    if simulating and name not in clients and name != SERVER_NAME:
        return claimed if claimed in clients else SERVER_NAME
    if name is None:
        return None
    if name != SERVER_NAME and claimed != name:
        return None
    return name


def check_descriptor(descriptor: dict[str, Any], site: str, client: str, *, simulating: bool) -> None:
    """Refuse to run ``site`` on FLARE client ``client`` unless the site descriptor says so.

    A kit's descriptor names its one site. A simulation descriptor (one for
    every simulated client, :mod:`dfm.flare.simulator`) maps client names to
    sites and counts only where FLARE says it simulates.
    """
    if descriptor.get("role") == "simulation":
        if not simulating:
            raise RuntimeError("this site's descriptor is for FLARE's simulator only: refused")
        kit_site = (descriptor.get("sites") or {}).get(client)
    else:
        kit_site = descriptor.get("site")
    if kit_site != site:
        raise RuntimeError(f"this FLARE client's kit is for site '{kit_site}', the job asked for '{site}'")


# -- server ---------------------------------------------------------------------------------


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
        self._dedup = _Dedup()
        self._simulating = False
        self._refused: collections.deque[list[str]] = collections.deque(maxlen=100)
        self._refused_seq = 0

    # -- lifecycle -------------------------------------------------------------------------

    def start_controller(self, fl_ctx: FLContext) -> None:
        """Register the app commands and message handlers and start a courier per site; panics if site
        messages cannot be attributed to their senders.
        """
        _quiet_reliable_message()
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
            return _rm_send(engine, client, RM_DELIVER, payload, timeouts, self._abort)

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
        site = self._site_of(request, fl_ctx, "site", _payload(request).get("site"))
        if site is None:
            return make_reply(RC_REFUSED)
        self._seen[site] = time.monotonic()
        return make_reply(ReturnCode.OK)

    def _on_ready(self, topic: str, request: Shareable, fl_ctx: FLContext) -> Shareable:
        data = _payload(request)
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
        data = _payload(request)
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


# -- sites -------------------------------------------------------------------------------------


class DfmExecutor(Executor):
    """Client side of a DFM session: hosts one site's runtime for the whole FLARE job.

    Args:
        site: the DFM site this FLARE client runs (checked against the kit's descriptor).
        sites: DFM site name -> FLARE client name (where to send site-to-site messages).
        workers: threads for the site's synchronous adapters.
        heartbeat: seconds between heartbeats to the server.
        per_msg_timeout, tx_timeout: ReliableMessage timeouts.
        chunk_bytes: frames larger than this travel in chunks of this size.
    """

    def __init__(
        self,
        site: str,
        sites: dict[str, str],
        workers: int = 8,
        heartbeat: float = 1.0,
        per_msg_timeout: float = 10.0,
        tx_timeout: float = 60.0,
        chunk_bytes: int = CHUNK_BYTES,
    ):
        super().__init__()
        self.site = site
        self.sites = dict(sites)
        self.workers = workers
        self.heartbeat = heartbeat
        self.per_msg_timeout = per_msg_timeout
        self.tx_timeout = tx_timeout
        self.chunk_bytes = chunk_bytes
        self._me = self.sites.get(site, site)  # this site's FLARE client name
        self._peers = {client: name for name, client in self.sites.items()}
        self._runtime: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._couriers: dict[str, Courier] = {}
        self._lock = threading.Lock()
        self._reassemblers: dict[str, Reassembler] = collections.defaultdict(Reassembler)
        self._abort = Signal()
        self._engine_ref: Any = None
        self._codec: Any = None
        self._dedup = _Dedup()
        self._simulating = False
        self._refusals: collections.Counter[str] = collections.Counter()

    def execute(
        self, task_name: str, shareable: Shareable, fl_ctx: FLContext, abort_signal: Signal
    ) -> Shareable:
        """Answer ``TASK_UNKNOWN``: DFM work arrives as messages, not tasks."""
        return make_reply(ReturnCode.TASK_UNKNOWN)  # DFM work arrives as messages, not tasks

    def handle_event(self, event_type: str, fl_ctx: FLContext) -> None:
        """Start the site on ``START_RUN``, shut it down on ``END_RUN``."""
        if event_type == EventType.START_RUN:
            self._start(fl_ctx)
        elif event_type == EventType.END_RUN:
            self._shutdown()

    # -- start and stop -------------------------------------------------------------------------

    def _start(self, fl_ctx: FLContext) -> None:
        _quiet_reliable_message()
        engine = fl_ctx.get_engine()
        self._engine_ref = engine
        self._simulating = bool(fl_ctx.get_prop(FLContextKey.SIMULATE_MODE, False))
        stamped = stamp_origins(engine, [TOPIC_RELIABLE_REQUEST, RM_DELIVER])
        ReliableMessage.register_request_handler(RM_DELIVER, self._on_deliver, fl_ctx)
        timeouts = (self.per_msg_timeout, self.tx_timeout)
        self._couriers[SERVER_NAME] = Courier(
            f"{self.site}-server",
            lambda batch, seq: _rm_send(
                engine,
                SERVER_NAME,
                RM_TO_APP,
                {"from": self._me, "seq": seq, "items": batch},
                timeouts,
                self._abort,
            ),
            lambda batch, reason: log.error(
                "site %s lost messages for the application: %s", self.site, reason
            ),
            size=item_size,
            idle=self._send_heartbeat,
            idle_every=self.heartbeat,
        )
        error = None
        try:
            if not stamped and not self._simulating:
                raise RuntimeError("cannot see who sends messages in this FLARE job process")
            self._open_runtime(fl_ctx)
        except Exception as exc:
            error = f"site '{self.site}' could not start: {type(exc).__name__}: {exc}"
            log.error("%s\n%s", error, traceback.format_exc())
        threading.Thread(target=self._report_ready, args=(error,), daemon=True).start()

    def _open_runtime(self, fl_ctx: FLContext) -> None:
        from dfm.kernel.codecs import codec_for
        from dfm.kernel.config import load_config
        from dfm.runner.site import SiteRuntime

        workspace = fl_ctx.get_engine().get_workspace()
        custom = Path(workspace.get_site_custom_dir())
        descriptor_path = custom / SITE_DESCRIPTOR
        if not descriptor_path.is_file():
            raise RuntimeError(
                f"{descriptor_path} is missing: this startup kit was not provisioned by dfm-flare"
            )
        descriptor = json.loads(descriptor_path.read_text())
        check_descriptor(
            descriptor,
            self.site,
            fl_ctx.get_identity_name(),
            simulating=bool(fl_ctx.get_prop(FLContextKey.SIMULATE_MODE, False)),
        )
        config = custom / descriptor["config"]
        federation = load_config(config)
        self._codec = codec_for(federation)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"dfm-site-{self.site}", daemon=True
        )
        self._thread.start()
        self._runtime = SiteRuntime(
            federation,
            self.site,
            config.parent,
            self._send,
            self._to_app,
            loop=self._loop,
            workers=self.workers,
        )

    def _report_ready(self, error: str | None) -> None:
        _rm_send(
            self._engine_ref,
            SERVER_NAME,
            RM_READY,
            {"site": self.site, "error": error},
            (self.per_msg_timeout, self.tx_timeout),
            self._abort,
        )

    def _send_heartbeat(self) -> None:
        request = Shareable()
        request["dfm"] = {"site": self.site}
        with self._engine_ref.new_context() as fl_ctx:
            self._engine_ref.send_aux_request(
                targets=[SERVER_NAME], topic=AUX_HEARTBEAT, request=request, timeout=2.0, fl_ctx=fl_ctx
            )

    def _shutdown(self) -> None:
        self._abort.trigger(True)
        for courier in self._couriers.values():
            courier.close(timeout=2.0)
        loop, runtime = self._loop, self._runtime
        if loop is not None and runtime is not None:
            done = threading.Event()

            def close() -> None:
                try:
                    runtime.close()
                finally:
                    done.set()

            loop.call_soon_threadsafe(close)
            done.wait(5.0)
            loop.call_soon_threadsafe(loop.stop)
            if self._thread is not None:
                self._thread.join(5.0)
        self._runtime = None

    # -- outgoing (called on the site's loop) ------------------------------------------------------

    def _encode(self, msg: Any) -> list[Item] | None:
        try:
            return split(pack(msg, self._codec), self.chunk_bytes)
        except Exception as exc:
            job = getattr(msg, "job", None)
            if job is not None and self._runtime is not None:
                from dfm.runner.messages import SiteFailed

                if isinstance(msg, SiteFailed):
                    raise
                self._to_app(
                    SiteFailed(job, self.site, self._runtime.vault.scrub(f"site '{self.site}': {exc}"))
                )
            return None

    def _courier(self, site: str) -> Courier:
        client = self.sites[site]  # FLARE names: never "server", so no clash with the courier to the server
        with self._lock:
            courier = self._couriers.get(client)
            if courier is None:
                timeouts = (self.per_msg_timeout, self.tx_timeout)
                engine = self._engine_ref
                courier = self._couriers[client] = Courier(
                    f"{self.site}-{site}",
                    lambda batch, seq: _rm_send(
                        engine,
                        client,
                        RM_DELIVER,
                        {"from": self._me, "seq": seq, "items": batch},
                        timeouts,
                        self._abort,
                    ),
                    lambda batch, reason: self._undeliverable(site, batch, reason),
                    size=item_size,
                )
            return courier

    def _send(self, site: str, msg: Any) -> None:
        items = self._encode(msg)
        if items is not None:
            self._courier(site).put([item_to_wire(i) for i in items])

    def _to_app(self, msg: Any) -> None:
        items = self._encode(msg)
        if items is not None:
            self._couriers[SERVER_NAME].put([item_to_wire(i) for i in items])

    def _undeliverable(self, site: str, batch: list[Any], reason: str) -> None:
        from dfm.runner.messages import SiteFailed

        jobs = set()
        for item in batch:
            if isinstance(item, bytes):
                job = frame_job(item)
                if job:
                    jobs.add(job)
        for job in sorted(jobs):
            self._to_app(
                SiteFailed(job, self.site, f"site '{self.site}' could not reach site '{site}': {reason}")
            )

    # -- incoming (FLARE's threads) -----------------------------------------------------------------

    def _on_deliver(self, topic: str, request: Shareable, fl_ctx: FLContext) -> Shareable:
        runtime, loop = self._runtime, self._loop
        if runtime is None or loop is None:
            return make_reply(ReturnCode.SERVICE_UNAVAILABLE)
        from dfm.runner.messages import APP

        data = _payload(request)
        source = flare_sender(request, fl_ctx, self._peers, simulating=self._simulating)
        if source == SERVER_NAME:
            sender = APP  # the server relays the application's messages, and only those
        elif source is not None and source in self._peers:
            sender = self._peers[source]
        else:
            self._refuse("?", f"a message from FLARE sender '{source or '?'}', not part of this session")
            return make_reply(RC_REFUSED)
        if data.get("from") != source:
            self._refuse(sender, f"a message from '{source}' claiming to come from '{data.get('from')}'")
            return make_reply(RC_REFUSED)
        items = data.get("items")
        if not isinstance(items, list):
            self._refuse(sender, "a message without items")
            return make_reply(ReturnCode.BAD_REQUEST_DATA)
        with self._dedup.lock:  # keyed by the authenticated FLARE name: "server" or a client
            if self._dedup.fresh(source, data.get("seq")):
                self._accept(source, sender, items)
        return make_reply(ReturnCode.OK)

    def _refuse(self, sender: str, what: str) -> None:
        """Report a message refused before it reached the site's runtime (at most 20 per sender)."""
        log.warning("site %s refused %s", self.site, what)
        self._refusals[sender] += 1
        if self._refusals[sender] <= 20 and self._runtime is not None:
            from dfm.runner.messages import Refused

            self._to_app(Refused(self.site, sender, f"site '{self.site}' refused {what}"))

    def _accept(self, source: str, sender: str, items: list[Any]) -> None:
        runtime, loop = self._runtime, self._loop
        assert runtime is not None and loop is not None
        reassembler = self._reassemblers[source]
        for item in items:
            try:
                frame = reassembler.feed(item)
            except FrameError as exc:
                self._refuse(sender, f"a chunk from '{sender}': {exc}")
                continue
            if frame is None:
                continue
            try:
                msg = unpack(frame, self._codec)
            except Exception as exc:
                # the job fails only if the sender takes part in it here; else a Refused
                reason = runtime.vault.scrub(f"{type(exc).__name__}: {exc}")
                loop.call_soon_threadsafe(runtime.refuse_frame, frame_job(frame), sender, reason)
                continue
            loop.call_soon_threadsafe(runtime.handle, msg, sender)


def export_session_job(
    out_dir: str,
    name: str,
    sites: dict[str, str],
    *,
    controller: dict[str, Any],
    executor: dict[str, Any],
) -> str:
    """Write a DFM session's FLARE job into ``out_dir``; return its folder.

    One :class:`DfmController` on the server and one :class:`DfmExecutor` per
    site (``sites``: DFM site -> FLARE client), with these keyword arguments.
    The job carries no code: the components come from the sites' installs.
    """
    from nvflare.job_config.api import FedJob

    name = name[:60]
    job = FedJob(name=name, min_clients=len(sites), mandatory_clients=list(sites.values()))
    job.set_app_packages(["dfm"])  # not BYOC
    job.to_server(DfmController(sites, **controller))
    for site, client in sites.items():
        job.to(DfmExecutor(site, sites, **executor), client, tasks=["dfm.*"])
    job.export_job(out_dir)
    return os.path.join(out_dir, name)
