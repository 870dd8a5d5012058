"""The site side of a DFM session's FLARE job: one executor per site hosts its site's runtime.

Each :class:`DfmExecutor` runs its site's :class:`~dfm.runner.spi.SiteRuntime`
on an asyncio loop in a thread, from the job's ``START_RUN`` to its
``END_RUN``: one FLARE job serves any number of pipeline executions.
Messages to other sites and to the application leave through one
:class:`~dfm.flare.courier.Courier` per destination; the site sends the server
a heartbeat when it has nothing else to send. A frame over ``stream_bytes``
is offered for download instead (:mod:`dfm.flare.streams`): its reference
takes its place in the order of messages, and the receiver pulls it before
handling what its sender sent after it.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import json
import logging
import threading
import traceback
from pathlib import Path
from typing import Any

from nvflare.apis.event_type import EventType
from nvflare.apis.executor import Executor
from nvflare.apis.fl_constant import FLContextKey, ReturnCode
from nvflare.apis.fl_context import FLContext
from nvflare.apis.shareable import Shareable, make_reply
from nvflare.apis.signal import Signal
from nvflare.apis.utils.reliable_message import TOPIC_RELIABLE_REQUEST, ReliableMessage

from dfm.flare.courier import Courier, Dedup, payload_of, quiet_reliable_message, rm_send
from dfm.flare.frames import (
    CHUNK_BYTES,
    FrameError,
    Item,
    Reassembler,
    frame_job,
    item_job,
    item_size,
    item_to_wire,
    pack,
    split,
    unpack,
)
from dfm.flare.identity import check_descriptor, flare_sender, stamp_origins
from dfm.flare.layout import SERVER_NAME, SITE_DESCRIPTOR
from dfm.flare.seals import Seals
from dfm.flare.streams import (
    STREAM_BYTES,
    Offers,
    StreamError,
    check_ref,
    download,
    inbox,
    is_ref,
    make_ref,
    remove_inbox,
)
from dfm.flare.topics import AUX_HEARTBEAT, RC_REFUSED, RM_CANCEL, RM_DELIVER, RM_READY, RM_TO_APP

log = logging.getLogger("dfm.flare")


class DfmExecutor(Executor):  # type: ignore[misc]  # nvflare ships no types
    """Client side of a DFM session: hosts one site's runtime for the whole FLARE job.

    Args:
        site: the DFM site this FLARE client runs (checked against the kit's descriptor).
        sites: DFM site name -> FLARE client name (where to send site-to-site messages).
        workers: threads for the site's synchronous adapters.
        heartbeat: seconds between heartbeats to the server.
        per_msg_timeout, tx_timeout: ReliableMessage timeouts.
        chunk_bytes: frames larger than this travel in chunks of this size.
        stream_bytes: frames larger than this are offered for download (0: never).
        stream_timeout: seconds an offered frame waits for its receiver's first or next request.
        keys: FLARE name (``server`` or a client) -> the key this site shares with it: every
            message either way carries its seal (:mod:`dfm.flare.seals`); without keys the site
            refuses to start.
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
        stream_bytes: int = STREAM_BYTES,
        stream_timeout: float = 600.0,
        keys: dict[str, str] | None = None,
    ):
        super().__init__()
        self.site = site
        self.sites = dict(sites)
        self.workers = workers
        self.heartbeat = heartbeat
        self.per_msg_timeout = per_msg_timeout
        self.tx_timeout = tx_timeout
        self.chunk_bytes = chunk_bytes
        self.stream_bytes = stream_bytes
        self.stream_timeout = stream_timeout
        self._offers: Offers | None = None
        self._inbox: str | None = None
        self._job_id = ""
        self._lines: dict[str, _Line] = collections.defaultdict(_Line)
        self._me = self.sites.get(site, site)  # this site's FLARE client name
        self.keys = dict(keys or {})  # an attribute of the argument's name: FLARE's job export reads it
        self._seals = Seals(self._me, self.keys)
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
        self._dedup = Dedup()
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
        quiet_reliable_message()
        engine = fl_ctx.get_engine()
        self._engine_ref = engine
        self._simulating = bool(fl_ctx.get_prop(FLContextKey.SIMULATE_MODE, False))
        self._job_id = str(fl_ctx.get_job_id())
        if self.stream_bytes > 0 and not self._simulating:  # the simulator: chunks only (untried there)
            self._offers = Offers(engine.get_cell(), self.stream_timeout)
        stamped = stamp_origins(engine, [TOPIC_RELIABLE_REQUEST, RM_DELIVER, RM_CANCEL])
        ReliableMessage.register_request_handler(RM_DELIVER, self._on_deliver, fl_ctx)
        ReliableMessage.register_request_handler(RM_CANCEL, self._on_cancel, fl_ctx)
        timeouts = (self.per_msg_timeout, self.tx_timeout)
        self._couriers[SERVER_NAME] = Courier(
            f"{self.site}-server",
            lambda batch, seq: rm_send(
                engine,
                SERVER_NAME,
                RM_TO_APP,
                self._seals.seal(SERVER_NAME, RM_TO_APP, {"from": self._me, "seq": seq, "items": batch}),
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
            if not self.keys:
                raise RuntimeError("this service job carries no pair keys (export it with dfm-flare)")
            self._open_runtime(fl_ctx)
        except Exception as exc:
            error = f"site '{self.site}' could not start: {type(exc).__name__}: {exc}"
            log.error("%s\n%s", error, traceback.format_exc())
        threading.Thread(target=self._report_ready, args=(error,), daemon=True).start()

    def _open_runtime(self, fl_ctx: FLContext) -> None:
        from dfm.kernel.codecs import codec_for
        from dfm.kernel.config import load_config
        from dfm.runner.spi import SiteRuntime

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
        rm_send(
            self._engine_ref,
            SERVER_NAME,
            RM_READY,
            self._seals.seal(SERVER_NAME, RM_READY, {"site": self.site, "error": error}),
            (self.per_msg_timeout, self.tx_timeout),
            self._abort,
        )

    def _send_heartbeat(self) -> None:
        request = Shareable()
        request["dfm"] = self._seals.seal(SERVER_NAME, AUX_HEARTBEAT, {"site": self.site})
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
        if self._inbox is not None:
            remove_inbox(self._inbox)

    # -- outgoing (called on the site's loop) ------------------------------------------------------

    def _encode(self, msg: Any, receiver: str | None) -> list[Item] | None:
        """``msg`` as items for ``receiver`` (a FLARE client name, or None for the application)."""
        try:
            frame = pack(msg, self._codec)
            if self._offers is not None and 0 < self.stream_bytes < len(frame):
                if receiver is not None:  # only that client's job process may download it
                    fqcn = f"{receiver}.{self._job_id}"
                    return self._offer(frame, fqcn.__eq__, f"a frame for '{receiver}'")
                from nvflare.fuel.utils.admin_name_utils import is_valid_admin_client_name

                # the application downloads with its admin session's cell
                return self._offer(frame, _admin(is_valid_admin_client_name), "a frame for the application")
            return split(frame, self.chunk_bytes)
        except Exception as exc:
            job = getattr(msg, "job", None)
            if job is not None and self._runtime is not None:
                from dfm.runner.spi import SiteFailed

                if isinstance(msg, SiteFailed):
                    raise
                self._to_app(
                    SiteFailed(job, self.site, self._runtime.vault.scrub(f"site '{self.site}': {exc}"))
                )
            return None

    def _offer(self, frame: bytes, allowed: Any, describe: str) -> list[Item]:
        """The stream reference of ``frame`` offered to ``allowed``; its chunks if FLARE refuses the offer."""
        assert self._offers is not None
        try:
            ref = self._offers.offer(frame, allowed, f"{describe} from site '{self.site}'")
        except Exception:  # FLARE's download service refused: the frame goes in chunks instead
            log.exception("site %s could not offer %s; sending it in chunks", self.site, describe)
            return split(frame, self.chunk_bytes)
        return [make_ref(ref, len(frame), frame_job(frame), hashlib.sha256(frame).hexdigest())]

    def _courier(self, site: str) -> Courier:
        client = self.sites[site]  # FLARE names: never "server", so no clash with the courier to the server
        with self._lock:
            courier = self._couriers.get(client)
            if courier is None:
                timeouts = (self.per_msg_timeout, self.tx_timeout)
                engine = self._engine_ref
                courier = self._couriers[client] = Courier(
                    f"{self.site}-{site}",
                    lambda batch, seq: rm_send(
                        engine,
                        client,
                        RM_DELIVER,
                        self._seals.seal(client, RM_DELIVER, {"from": self._me, "seq": seq, "items": batch}),
                        timeouts,
                        self._abort,
                    ),
                    lambda batch, reason: self._undeliverable(site, batch, reason),
                    size=item_size,
                )
            return courier

    def _send(self, site: str, msg: Any) -> None:
        items = self._encode(msg, self.sites.get(site))
        if items is not None:
            self._courier(site).put([item_to_wire(i) for i in items])

    def _to_app(self, msg: Any) -> None:
        items = self._encode(msg, None)
        if items is not None:
            self._couriers[SERVER_NAME].put([item_to_wire(i) for i in items])

    def _undeliverable(self, site: str, batch: list[Any], reason: str) -> None:
        from dfm.runner.spi import SiteFailed

        jobs = set()
        for item in batch:
            job = item_job(item)
            if job:
                jobs.add(job)
        for job in sorted(jobs):
            self._to_app(
                SiteFailed(job, self.site, f"site '{self.site}' could not reach site '{site}': {reason}")
            )

    # -- incoming (FLARE's threads) -----------------------------------------------------------------

    def _sealed(self, source: str | None, topic: str, data: Any) -> bool:
        """True when ``data`` carries the seal of ``source`` (a known sender); refusals are reported.

        An unknown sender is left to the caller's own refusal.
        """
        if source is None or (source != SERVER_NAME and source not in self._peers):
            return True
        if self._seals.check(source, topic, data):
            return True
        who = "the application's relay" if source == SERVER_NAME else f"site '{self._peers[source]}'"
        self._refuse(self._peers.get(source, "?"), f"a message on '{topic}' without the seal of {who}")
        return False

    def _on_deliver(self, topic: str, request: Shareable, fl_ctx: FLContext) -> Shareable:
        runtime, loop = self._runtime, self._loop
        if runtime is None or loop is None:
            return make_reply(ReturnCode.SERVICE_UNAVAILABLE)
        from dfm.runner.spi import APP

        data = payload_of(request)
        source = flare_sender(request, fl_ctx, self._peers, simulating=self._simulating)
        if not self._sealed(source, topic, data):
            return make_reply(RC_REFUSED)
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

    def _on_cancel(self, topic: str, request: Shareable, fl_ctx: FLContext) -> Shareable:
        """The server cancels the jobs of a session that ended (its application is gone)."""
        runtime, loop = self._runtime, self._loop
        if runtime is None or loop is None:
            return make_reply(ReturnCode.SERVICE_UNAVAILABLE)
        source = flare_sender(request, fl_ctx, self._peers, simulating=self._simulating)
        jobs = payload_of(request).get("jobs")
        if source != SERVER_NAME:  # a control: the server's (for the application) only
            self._refuse(self._peers.get(source or "", "?"), f"a job cancellation from '{source or '?'}'")
            return make_reply(RC_REFUSED)
        if not self._sealed(source, topic, payload_of(request)):
            return make_reply(RC_REFUSED)
        if not isinstance(jobs, list) or not all(isinstance(job, str) for job in jobs):
            return make_reply(ReturnCode.BAD_REQUEST_DATA)
        from dfm.runner.spi import APP, CancelJob

        for job in jobs:
            loop.call_soon_threadsafe(runtime.handle, CancelJob(job), APP)
        return make_reply(ReturnCode.OK)

    def _refuse(self, sender: str, what: str) -> None:
        """Report a message refused before it reached the site's runtime (at most 20 per sender)."""
        log.warning("site %s refused %s", self.site, what)
        self._refusals[sender] += 1
        if self._refusals[sender] <= 20 and self._runtime is not None:
            from dfm.runner.spi import Refused

            self._to_app(Refused(self.site, sender, f"site '{self.site}' refused {what}"))

    def _accept(self, source: str, sender: str, items: list[Any]) -> None:
        """Take a batch from ``source`` (under the dedup lock), in order: items after a stream
        reference wait (in its line) until the stream is downloaded.
        """
        line = self._lines[source]
        with line.lock:
            if line.busy:
                self._queue(line, sender, items)
                return
            for i, item in enumerate(items):
                if is_ref(item):
                    line.busy = True
                    self._queue(line, sender, items[i:])
                    threading.Thread(
                        target=self._drain, args=(source, sender, line), name=f"dfm-in-{source}", daemon=True
                    ).start()
                    return
                self._take(source, sender, item)

    def _queue(self, line: _Line, sender: str, items: list[Any]) -> None:
        for item in items:
            size = item_size(item) if isinstance(item, (bytes, list, dict)) else 0
            if line.queued + size > _MAX_QUEUED:
                self._refuse(
                    sender, f"messages from '{sender}' beyond {_MAX_QUEUED} bytes waiting for a stream"
                )
                continue
            line.queued += size
            line.items.append((item, size))

    def _drain(self, source: str, sender: str, line: _Line) -> None:
        while True:
            with line.lock:
                if not line.items:
                    line.busy = False
                    return
                item, size = line.items.popleft()
                line.queued -= size
            try:
                if is_ref(item):
                    self._fetch(source, sender, item)
                else:
                    self._take(source, sender, item)
            except Exception:  # never leave the line busy
                log.exception("site %s could not take a message from '%s'", self.site, sender)

    def _fetch(self, source: str, sender: str, ref: Any) -> None:
        """Download the frame a stream reference names from ``source``'s job cell (authenticated)."""
        runtime, loop = self._runtime, self._loop
        assert runtime is not None and loop is not None
        try:
            if source == SERVER_NAME:
                raise StreamError("the application's messages do not stream")
            _, _, job = check_ref(ref)
        except StreamError as exc:
            self._refuse(sender, f"a stream reference from '{sender}': {exc}")
            return
        try:
            if self._offers is None:
                raise StreamError("this site takes no streams (stream_bytes is 0)")
            if self._inbox is None:  # made on the first stream: most jobs never need one
                self._inbox = inbox()
            cell = self._engine_ref.get_cell()
            frame = download(
                cell, f"{source}.{self._job_id}", ref, self._inbox, self.per_msg_timeout, self._abort
            )
        except Exception as exc:
            reason = f"site '{self.site}' could not download a frame from '{sender}': {exc}"
            loop.call_soon_threadsafe(runtime.refuse_frame, job, sender, runtime.vault.scrub(reason))
            return
        self._deliver(frame, sender)

    def _take(self, source: str, sender: str, item: Any) -> None:
        try:
            frame = self._reassemblers[source].feed(item)
        except FrameError as exc:
            self._refuse(sender, f"a chunk from '{sender}': {exc}")
            return
        if frame is not None:
            self._deliver(frame, sender)

    def _deliver(self, frame: bytes | memoryview, sender: str) -> None:
        runtime, loop = self._runtime, self._loop
        assert runtime is not None and loop is not None
        try:
            msg = unpack(frame, self._codec)
        except Exception as exc:
            # the job fails only if the sender takes part in it here; else a Refused
            reason = runtime.vault.scrub(f"{type(exc).__name__}: {exc}")
            loop.call_soon_threadsafe(runtime.refuse_frame, frame_job(frame), sender, reason)
            return
        loop.call_soon_threadsafe(runtime.handle, msg, sender)


_MAX_QUEUED = 512 << 20  # bytes from one sender held while a stream of theirs downloads


class _Line:
    """What one sender sent after a stream that is still downloading (kept in order)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.busy = False
        self.items: collections.deque[tuple[Any, int]] = collections.deque()
        self.queued = 0


def _admin(is_admin: Any) -> Any:
    """A requester check: an application's admin cell (FLARE authenticates admin sessions by login)."""

    def allowed(requester: str) -> bool:
        return isinstance(requester, str) and "." not in requester and bool(is_admin(requester))

    return allowed
