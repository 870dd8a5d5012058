"""Ordered, batched, retried delivery between a DFM session's FLARE job processes.

A :class:`Courier` is a thread per destination, so messages to it keep their
order and are batched; :func:`rm_send` delivers one batch with FLARE's
ReliableMessage; :class:`Dedup` lets a receiver drop a batch its sender
repeated because the reply was lost.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from nvflare.apis.fl_constant import ReturnCode
from nvflare.apis.shareable import Shareable
from nvflare.apis.signal import Signal
from nvflare.apis.utils.reliable_message import ReliableMessage

from dfm.flare.topics import BATCH_BYTES, RC_REFUSED

log = logging.getLogger("dfm.flare")


def quiet_reliable_message() -> None:
    """Silence ReliableMessage's INFO line per request (thousands of lines per session)."""
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


def rm_send(
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


class Dedup:
    """Drops batches a sender repeated because it did not see our reply."""

    def __init__(self) -> None:
        self._last: dict[str, int] = {}
        self.lock = threading.Lock()

    def fresh(self, source: str, seq: Any) -> bool:
        """True the first time ``source`` sends batch ``seq`` (an unnumbered batch is always fresh)."""
        if not isinstance(seq, int):
            return True
        if seq <= self._last.get(source, 0):
            return False
        self._last[source] = seq
        return True


def payload_of(request: Shareable) -> dict[str, Any]:
    """The DFM payload of a FLARE request (empty when it has none)."""
    data = request.get("dfm")
    return data if isinstance(data, dict) else {}
