"""Large frames as FLARE downloads: the sender offers a frame, its one receiver pulls it into a file.

A frame over ``STREAM_BYTES`` does not travel in the messages: its sender
offers it to FLARE's download service (``nvflare.fuel.f3.streaming.
download_service``) and sends, in its place in the message order, a small
*stream reference* ``{"s": ref id, "n": size, "job": job id, "h": SHA-256}``. The receiver
pulls the frame from the sender's cell in ``PIECE_BYTES`` pieces (FLARE's
cell streaming, pipelined one request ahead) into a file of its own, then
decodes it from a mapping of that file: a 100 MB array costs the receiver
~100 MB of mapped pages, not FLARE's ~13x for one large message.

Security (a peer may be hostile):

- The receiver downloads only from the cell of the sender FLARE authenticated
  for the message carrying the reference (``<client>.<job id>``, never a name
  from the payload); the reference's id is only a token sent to that cell.
- The sender serves a frame only to the requester it was offered to
  (FLARE's ORIGIN of the download request, which FLARE's server binds to the
  requester's registered identity); anyone else gets an error. Reference ids
  are FLARE's random ``R<uuid4>``.
- The declared size is bounded (``MAX_STREAM_BYTES``) and enforced: a piece
  past it, or an end before it, fails the download.
- The reference carries the frame's SHA-256 (references travel in sealed
  messages, :mod:`dfm.flare.seals`; the pieces are FLARE's own stream frames):
  a download whose bytes do not hash to it fails, so pieces injected under
  a replayed origin cannot pass for the sender's.
- The file is created by the receiver in a private 0700 folder under a random
  hex name with ``O_EXCL | O_NOFOLLOW`` and unlinked at once: nothing from the
  wire is ever a path, and a failed or cancelled download leaves no file.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import mmap
import os
import re
import secrets
import shutil
import tempfile
import threading
from collections.abc import Callable
from typing import Any

__all__ = [
    "MAX_STREAM_BYTES",
    "PIECE_BYTES",
    "STREAM_BYTES",
    "Offers",
    "admit_site_streams",
    "StreamError",
    "download",
    "inbox",
    "is_ref",
    "make_ref",
    "check_ref",
]

log = logging.getLogger("dfm.flare")

STREAM_BYTES = 8 << 20  # frames larger than this are offered for download instead of sent
PIECE_BYTES = 8 << 20  # bytes per download request (2-32 MiB measured alike here)
MAX_STREAM_BYTES = 1 << 30  # the largest frame a receiver downloads (as frames.MAX_FRAME_BYTES)
_REF_ID = re.compile(r"R[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_MAX_JOB = 128  # characters of the job id a reference names
_DIGEST = re.compile(r"[0-9a-f]{64}")


class StreamError(ValueError):
    """A stream reference or a download that is refused (bad reference, wrong size, failed transfer)."""


# -- references -------------------------------------------------------------------------------------


def make_ref(ref_id: str, size: int, job: str | None, digest: str) -> dict[str, Any]:
    """The item sent in a streamed frame's place (``digest``: the frame's SHA-256, hex)."""
    return {"s": ref_id, "n": size, "job": job, "h": digest}


def is_ref(item: Any) -> bool:
    """True for a stream reference (frames and chunks are bytes and lists)."""
    return isinstance(item, dict)


def check_ref(item: Any, max_bytes: int = MAX_STREAM_BYTES) -> tuple[str, int, str | None]:
    """(ref id, size, job) of a stream reference from a peer; :class:`StreamError` if malformed."""
    if not isinstance(item, dict) or set(item) != {"s", "n", "job", "h"}:
        raise StreamError("malformed stream reference")
    ref_id, size, job = item["s"], item["n"], item["job"]
    if not isinstance(item["h"], str) or not _DIGEST.fullmatch(item["h"]):
        raise StreamError("malformed stream digest")
    if not isinstance(ref_id, str) or not _REF_ID.fullmatch(ref_id):
        raise StreamError("malformed stream reference id")
    if type(size) is not int or not 0 < size <= max_bytes:
        raise StreamError(f"stream of {size!r} bytes is outside the limit of {max_bytes}")
    if job is not None and not (isinstance(job, str) and 0 < len(job) <= _MAX_JOB):
        raise StreamError("malformed stream job id")
    return ref_id, size, job


# -- sender side ------------------------------------------------------------------------------------


class Offers:
    """Frames this process offers for download, each to one requester (FLARE cell FQCN).

    ``timeout``: seconds without a download request after which an offer is withdrawn
    (its frame freed); ``piece``: bytes served per request.
    """

    def __init__(self, cell: Any, timeout: float, piece: int = PIECE_BYTES):
        self.cell = cell
        self.timeout = timeout
        self.piece = piece

    def offer(self, frame: bytes, allowed: Callable[[str], bool], describe: str) -> str:
        """Offer ``frame`` to the requester ``allowed(fqcn)`` accepts; returns the reference id."""
        from nvflare.fuel.f3.streaming.download_service import DownloadService

        tx = DownloadService.new_transaction(cell=self.cell, timeout=self.timeout, num_receivers=0)
        offered = _offered_class()(
            frame, allowed, self.piece, describe, lambda: DownloadService.delete_transaction(tx)
        )
        return str(DownloadService.add_object(tx, offered))


@functools.cache
def _offered_class() -> Any:
    """The ``Downloadable`` serving one offered frame (made on first use: nvflare is imported late)."""
    from nvflare.fuel.f3.streaming.download_service import Downloadable, DownloadStatus, ProduceRC

    class OfferedFrame(Downloadable):  # type: ignore[misc]
        def __init__(
            self,
            frame: bytes,
            allowed: Callable[[str], bool],
            piece: int,
            describe: str,
            done: Callable[[], None],
        ):
            super().__init__(None)
            self.view: memoryview | None = memoryview(frame)
            self.size = len(frame)
            self.allowed = allowed
            self.piece = piece
            self.describe = describe
            self.done = done
            self.refused = 0

        def produce(self, state: dict[str, Any], requester: str) -> tuple[str, Any, dict[str, Any]]:
            view = self.view
            if not self.allowed(requester):
                self.refused += 1
                if self.refused <= 3:
                    log.warning("refused a download of %s by '%s'", self.describe, requester)
                return ProduceRC.ERROR, None, {}
            at = (state or {}).get("at", 0)
            if view is None or type(at) is not int or not 0 <= at <= self.size:
                return ProduceRC.ERROR, None, {}
            if at == self.size:
                return ProduceRC.EOF, None, {}
            piece = bytes(view[at : at + self.piece])
            return ProduceRC.OK, piece, {"at": at + len(piece)}

        def downloaded_to_one(self, to_receiver: str, status: str) -> None:
            if self.allowed(to_receiver):
                if status != DownloadStatus.SUCCESS:
                    log.warning("%s was not downloaded by '%s' (%s)", self.describe, to_receiver, status)
                self.release()
                threading.Thread(target=self.done, daemon=True).start()  # not within FLARE's lock

        def transaction_done(self, transaction_id: str, status: str) -> None:
            self.release()

        def release(self) -> None:
            self.view = None

    return OfferedFrame


# -- receiver side ----------------------------------------------------------------------------------


def inbox() -> str:
    """A new private (0700) folder for this process's downloads, in memory when ``/dev/shm`` is usable."""
    from dfm.runner.spi import shm_root

    return tempfile.mkdtemp(prefix="dfm-flare-in-", dir=shm_root())


def remove_inbox(folder: str) -> None:
    """Remove a folder made by :func:`inbox` (files are unlinked on creation: it is empty)."""
    shutil.rmtree(folder, ignore_errors=True)


def download(
    cell: Any,
    source: str,
    ref: dict[str, Any],
    folder: str,
    timeout: float,
    abort: Any = None,
    max_bytes: int = MAX_STREAM_BYTES,
) -> memoryview:
    """Pull the frame ``ref`` names from the cell ``source`` (an authenticated FQCN, never from the wire).

    Returns the frame as a view of a private copy-on-write mapping (decoded arrays are views
    of it); :class:`StreamError` if the reference is malformed or the transfer fails or lies
    about its size. ``timeout`` bounds each request to the sender.
    """
    from nvflare.fuel.f3.streaming.download_service import download_object

    ref_id, size, _ = check_ref(ref, max_bytes)
    fd = _private_file(folder)
    try:
        consumer = _file_consumer(fd, size)
        try:
            download_object(
                from_fqcn=source,
                ref_id=ref_id,
                per_request_timeout=timeout,
                cell=cell,
                consumer=consumer,
                optional=True,
                abort_signal=abort,
            )
        except Exception as exc:  # FLARE's own failures (a reply that is not a message, ...)
            raise StreamError(f"download of {size} bytes failed: {type(exc).__name__}: {exc}") from None
        if consumer.error is not None:
            raise StreamError(f"download of {size} bytes failed: {consumer.error}")
        if consumer.got != size:
            raise StreamError(f"stream ended after {consumer.got} of the {size} bytes announced")
        if not hmac.compare_digest(consumer.hash.hexdigest(), ref["h"]):
            raise StreamError(f"the {size} bytes downloaded do not match the reference's digest")
        mapped = mmap.mmap(fd, size, access=mmap.ACCESS_COPY)
    finally:
        os.close(fd)
    return memoryview(mapped)


def admit_site_streams(cell: Any, origins: set[str]) -> None:
    """Let an admin session's cell take stream frames from the job cells ``origins`` (FQCNs).

    FLARE's admin cell accepts only messages carrying auth headers the server
    signed; the server validates a site's auth headers (its token, bound to the
    origin it registered from) and strips them before relaying the message, so a
    site's reply to the admin's download request would be dropped. For stream
    frames only, and only from ``origins`` (this session's site job cells), the
    server's validation stands: anything else still goes through FLARE's own
    check. ``origins`` may grow later (the caller's set is used).
    """
    from nvflare.fuel.f3.cellnet.defs import MessageHeaderKey
    from nvflare.fuel.f3.streaming.stream_const import (
        STREAM_ACK_TOPIC,
        STREAM_CHANNEL,
        STREAM_DATA_TOPIC,
        STREAM_ERROR_TOPIC,
    )

    core = cell.core_cell
    with _admitted_lock:
        known = _admitted.get(id(core))
        if known is not None and known[0] is core:
            known[1].update(origins)
            return
        _admitted[id(core)] = (core, origins)
    fallback = list(core.in_filter_reg.find("*", "*") or [])  # FLARE's check (validate_auth_headers)

    def admit(message: Any) -> Any:
        if message.get_header(MessageHeaderKey.ORIGIN) in origins:
            return None
        for cb in fallback:
            reply = cb.cb(message, *cb.args, **cb.kwargs)
            if reply is not None:
                return reply
        return None

    # the reply's frames, and the acks of our request's frames; an exact channel:topic entry wins over "*"
    for topic in (STREAM_DATA_TOPIC, STREAM_ACK_TOPIC, STREAM_ERROR_TOPIC):
        core.add_incoming_filter(channel=STREAM_CHANNEL, topic=topic, cb=admit)


_admitted: dict[int, tuple[Any, set[str]]] = {}  # admin cells given admit_site_streams: their origins
_admitted_lock = threading.Lock()


def _private_file(folder: str) -> int:
    """A new file in ``folder`` under a random name, unlinked at once (it lives as long as its fd)."""
    path = os.path.join(folder, secrets.token_hex(16))
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    os.unlink(path)
    return fd


def _file_consumer(fd: int, size: int) -> Any:
    """A download ``Consumer`` writing pieces to ``fd``, never past ``size`` bytes."""
    from nvflare.fuel.f3.streaming.download_service import Consumer

    class FileConsumer(Consumer):  # type: ignore[misc]
        supports_pipelining = True  # the state is passed back unchanged

        def __init__(self) -> None:
            super().__init__()
            self.got = 0
            self.hash = hashlib.sha256()
            self.error: str | None = None

        def consume(self, ref_id: str, state: dict[str, Any], data: Any) -> dict[str, Any]:
            if not isinstance(data, bytes) or not data:
                raise StreamError("a stream piece that is not bytes")
            if self.got + len(data) > size:
                raise StreamError(f"stream longer than the {size} bytes announced")
            self.hash.update(data)
            view = memoryview(data)
            while view:
                written = os.pwrite(fd, view, self.got)
                self.got += written
                view = view[written:]
            return state

        def download_completed(self, ref_id: str) -> None:
            pass

        def download_failed(self, ref_id: str, reason: str) -> None:
            self.error = reason

    return FileConsumer()
