"""Runner messages as self-contained byte frames, and frames as bounded chunks.

A frame is ``[u32 header length][header JSON][buffers]``: the same header as
:mod:`dfm.runner.spi` frames (the safe codec's JSON-compatible data plus
one ``{"n": size}`` descriptor per binary buffer) with every buffer inline, so
it can travel inside a FLARE ``Shareable`` (FLARE refuses custom classes at the
receiver; bytes are always accepted). Decoding reuses the runner's
:func:`~dfm.runner.spi.decode_frame`; a frame that points at
files is refused.

Frames larger than the chunk size travel as ``[stream id, index, count,
bytes]`` pieces that a :class:`Reassembler` joins, so no single FLARE message
is ever large (FLARE inflates a received message to ~13x its size).

A frame over the streaming threshold is not in the messages at all: a *stream
reference* (a dict, :mod:`dfm.flare.streams`) takes its place, and the
receiver downloads the frame from its sender.

Everything here comes from a peer that may be hostile: nothing in a frame or a
chunk is ever used as a path (a frame that names files is refused), and a
reassembler holds at most ``max_streams`` unfinished frames, ``max_frame`` bytes
in all, in at most ``MAX_CHUNKS`` non-empty chunks of at most ``MAX_CHUNK_BYTES``
each (an honest sender's chunks come one frame after the other); a chunk that
breaks these bounds, or contradicts its stream, is refused with
:class:`FrameError` and its stream dropped.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import struct
from typing import Any

from dfm.kernel.codecs import Codec
from dfm.kernel.ir.serde import to_data
from dfm.runner.spi import Install, decode_frame, to_wire

__all__ = [
    "CHUNK_BYTES",
    "FrameError",
    "Reassembler",
    "frame_job",
    "item_job",
    "item_size",
    "pack",
    "split",
    "unpack",
]

CHUNK_BYTES = 1 << 20
MAX_CHUNK_BYTES = 16 << 20  # the largest chunk accepted (senders use CHUNK_BYTES unless configured)
MAX_FRAME_BYTES = 1 << 30  # the largest frame a reassembler joins
MAX_STREAMS = 16  # unfinished chunked frames held per sender
MAX_STREAM_ID = 64  # characters
MAX_CHUNKS = 1 << 16  # chunks in one frame
_LEN = struct.Struct("!I")
_ids = itertools.count(1)
_prefix = os.urandom(4).hex()

# a whole frame, [stream id, index, count, bytes] (a chunk), or a stream reference (dict, see streams)
Item = bytes | list[Any] | dict[str, Any]
REF_BYTES = 128  # what a stream reference counts for in batches


class FrameError(ValueError):
    """A frame that cannot be decoded (truncated, or pointing outside itself)."""


def pack(msg: Any, codec: Codec) -> bytes:
    """Encode a runner message into one frame (no pickle unless the codec allows it)."""
    wire = to_wire(msg)
    if isinstance(msg, Install):
        wire["net"] = to_data(msg.net)
    header, buffers = codec.encode(wire)
    views = [memoryview(buf).cast("B") for buf in buffers]
    head = json.dumps({"m": header, "b": [{"n": v.nbytes} for v in views]}, separators=(",", ":")).encode()
    return b"".join([_LEN.pack(len(head)), head, *views])


def _split_head(frame: bytes | bytearray | memoryview) -> tuple[bytes, memoryview]:
    view = memoryview(frame)
    if view.nbytes < _LEN.size:
        raise FrameError("truncated frame")
    (size,) = _LEN.unpack(view[: _LEN.size])
    end = _LEN.size + size
    if view.nbytes < end:
        raise FrameError("truncated frame header")
    return bytes(view[_LEN.size : end]), view[end:]


def unpack(frame: bytes | memoryview, codec: Codec) -> Any:
    """Decode a frame made by :func:`pack` into a runner message."""
    head, inline = _split_head(frame)
    try:
        data = json.loads(head)
    except ValueError:
        raise FrameError("frame header is not JSON") from None
    descriptors = data.get("b", []) if isinstance(data, dict) else None
    if not isinstance(descriptors, list) or not all(isinstance(d, dict) for d in descriptors):
        raise FrameError("malformed frame header")
    if any("f" in d for d in descriptors):
        raise FrameError("frame refers to files; only inline buffers are accepted")
    sizes = [d.get("n") for d in descriptors]
    if not all(type(n) is int and n >= 0 for n in sizes):
        raise FrameError("malformed buffer sizes")
    if sum(sizes) > inline.nbytes:
        raise FrameError("frame shorter than its buffers")
    return decode_frame(head, inline, codec, None)  # type: ignore[arg-type]


def frame_job(frame: bytes | bytearray | memoryview) -> str | None:
    """The job id in a frame's header, when it has one (to report a frame that fails to decode)."""
    try:
        head, _ = _split_head(frame)
        job = json.loads(head).get("m", {}).get("job")
    except (FrameError, ValueError, AttributeError):
        return None
    return job if isinstance(job, str) else None


def item_job(item: Any) -> str | None:
    """The job id an item names, as its sender claims it: a whole frame's header, or a stream
    reference's ``job`` (chunks name none). For reports and attribution to a session, never trust.
    """
    if isinstance(item, dict):
        job = item.get("job")
        return job if isinstance(job, str) else None
    if isinstance(item, (bytes, bytearray, memoryview)):
        return frame_job(item)
    return None


def split(frame: bytes, chunk: int = CHUNK_BYTES) -> list[Item]:
    """The frame itself when small, else its chunks (views, not copies)."""
    if len(frame) <= chunk:
        return [frame]
    view = memoryview(frame)
    count = (len(frame) + chunk - 1) // chunk
    sid = f"{_prefix}-{next(_ids)}"
    return [[sid, i, count, view[i * chunk : (i + 1) * chunk]] for i in range(count)]


def item_size(item: Item) -> int:
    """The bytes an item carries: a whole frame, or the data of one chunk (a stream reference: few)."""
    if isinstance(item, dict):
        return REF_BYTES
    return len(item) if isinstance(item, (bytes, bytearray)) else memoryview(item[3]).nbytes


def _ref(item: dict[str, Any]) -> dict[str, Any]:
    from dfm.flare.streams import StreamError, check_ref

    try:
        check_ref(item)
    except StreamError as exc:
        raise FrameError(str(exc)) from None
    return dict(item)  # check_ref admits exactly the reference's fields


def item_to_json(item: Item) -> Any:
    """An item for an app command (JSON only: bytes become base64)."""
    if isinstance(item, (bytes, bytearray)):
        return base64.b64encode(item).decode("ascii")
    if isinstance(item, dict):
        return _ref(item)
    sid, index, count, data = item
    return [sid, index, count, base64.b64encode(data).decode("ascii")]


def item_from_json(data: Any) -> Item:
    """The inverse of :func:`item_to_json`; :class:`FrameError` for anything else."""
    try:
        if isinstance(data, str):
            return base64.b64decode(data, validate=True)
        if isinstance(data, dict):
            return _ref(data)
        sid, index, count, payload = data
        if not isinstance(payload, str):
            raise FrameError("malformed chunk")
        return [sid, index, count, base64.b64decode(payload, validate=True)]
    except (TypeError, ValueError) as exc:
        raise FrameError(f"malformed item: {type(exc).__name__}") from None


def item_to_wire(item: Item) -> Item:
    """An item for a FLARE Shareable (bytes, never memoryviews)."""
    if isinstance(item, (bytes, bytearray)):
        return bytes(item)
    if isinstance(item, dict):
        return dict(item)
    sid, index, count, data = item
    return [sid, index, count, bytes(data)]


class Reassembler:
    """Joins chunked frames from one sender, within bounds (see the module's doc)."""

    def __init__(self, max_streams: int = MAX_STREAMS, max_frame: int = MAX_FRAME_BYTES):
        self.parts: dict[str, dict[int, bytes]] = {}
        self._counts: dict[str, int] = {}
        self._sizes: dict[str, int] = {}
        self.max_streams = max_streams
        self.max_frame = max_frame

    def feed(self, item: Any) -> bytes | None:
        """The whole frame when ``item`` completes one, else None; :class:`FrameError` if refused."""
        if isinstance(item, (bytes, bytearray, memoryview)):
            frame = bytes(item)
            if len(frame) > self.max_frame:
                raise FrameError(f"frame of {len(frame)} bytes is over the limit of {self.max_frame}")
            return frame
        if isinstance(item, dict):
            raise FrameError("a stream reference is not a chunk")  # callers take references first
        if not isinstance(item, (list, tuple)) or len(item) != 4:
            raise FrameError("malformed chunk")
        sid, index, count, data = item
        if not isinstance(sid, str) or not 0 < len(sid) <= MAX_STREAM_ID:
            raise FrameError("malformed chunk stream id")
        if (
            type(index) is not int
            or type(count) is not int
            or not isinstance(data, (bytes, bytearray, memoryview))
        ):
            raise FrameError("malformed chunk")
        size = memoryview(data).nbytes
        parts = self.parts.get(sid)
        try:
            if not 1 < count <= MAX_CHUNKS or not 0 <= index < count:
                raise FrameError(f"chunk {index} of {count} is out of bounds")
            if not 0 < size <= MAX_CHUNK_BYTES:
                raise FrameError(f"chunk of {size} bytes is over the limit of {MAX_CHUNK_BYTES}")
            if parts is None:
                if len(self.parts) >= self.max_streams:
                    self._drop(next(iter(self.parts)))  # the oldest unfinished frame is given up
                parts = self.parts[sid] = {}
                self._counts[sid] = count
                self._sizes[sid] = 0
            elif self._counts[sid] != count:
                raise FrameError("chunk count changed within a stream")
            if index in parts:
                raise FrameError(f"chunk {index} sent twice")
            self._sizes[sid] += size
            if sum(self._sizes.values()) > self.max_frame:
                raise FrameError(f"chunked frames over the limit of {self.max_frame} bytes")
        except FrameError:
            self._drop(sid)
            raise
        parts[index] = bytes(data)
        if len(parts) < count:
            return None
        self._drop(sid)
        return b"".join(parts[i] for i in range(count))

    def _drop(self, sid: str) -> None:
        self.parts.pop(sid, None)
        self._counts.pop(sid, None)
        self._sizes.pop(sid, None)
