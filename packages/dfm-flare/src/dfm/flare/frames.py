"""Runner messages as self-contained byte frames, and frames as bounded chunks.

A frame is ``[u32 header length][header JSON][buffers]``: the same header as
:mod:`dfm.runner.transports.wire` (the safe codec's JSON-compatible data plus
one ``{"n": size}`` descriptor per binary buffer) with every buffer inline, so
it can travel inside a FLARE ``Shareable`` (FLARE refuses custom classes at the
receiver; bytes are always accepted). Decoding reuses the runner's
:func:`~dfm.runner.transports.wire.decode_frame`; a frame that points at
files is refused.

Frames larger than the chunk size travel as ``[stream id, index, count,
bytes]`` pieces that a :class:`Reassembler` joins, so no single FLARE message
is ever large (FLARE inflates a received message to ~13x its size).
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import struct
from typing import Any

from dfm.kernel.codecs import SafeCodec
from dfm.kernel.ir.serde import to_data
from dfm.runner.messages import Install, to_wire
from dfm.runner.transports.wire import decode_frame

__all__ = ["CHUNK_BYTES", "Reassembler", "frame_job", "item_size", "pack", "split", "unpack"]

CHUNK_BYTES = 1 << 20
_LEN = struct.Struct("!I")
_ids = itertools.count(1)
_prefix = os.urandom(4).hex()

Item = bytes | list[Any]  # a whole frame, or [stream id, index, count, bytes]


class FrameError(ValueError):
    """A frame that cannot be decoded (truncated, or pointing outside itself)."""


def pack(msg: Any, codec: SafeCodec) -> bytes:
    """Encode a runner message into one frame (no pickle unless the codec allows it)."""
    wire = to_wire(msg)
    if isinstance(msg, Install):
        wire["net"] = to_data(msg.net)
    header, buffers = codec.encode(wire)
    views = [memoryview(buf).cast("B") for buf in buffers]
    head = json.dumps({"m": header, "b": [{"n": v.nbytes} for v in views]}, separators=(",", ":")).encode()
    return b"".join([_LEN.pack(len(head)), head, *views])


def _split_head(frame: bytes | memoryview) -> tuple[bytes, memoryview]:
    view = memoryview(frame)
    if view.nbytes < _LEN.size:
        raise FrameError("truncated frame")
    (size,) = _LEN.unpack(view[: _LEN.size])
    end = _LEN.size + size
    if view.nbytes < end:
        raise FrameError("truncated frame header")
    return bytes(view[_LEN.size : end]), view[end:]


def unpack(frame: bytes | memoryview, codec: SafeCodec) -> Any:
    """Decode a frame made by :func:`pack` into a runner message."""
    head, inline = _split_head(frame)
    descriptors = json.loads(head).get("b", [])
    if any("f" in d for d in descriptors):
        raise FrameError("frame refers to files; only inline buffers are accepted")
    if sum(int(d.get("n", 0)) for d in descriptors) > inline.nbytes:
        raise FrameError("frame shorter than its buffers")
    return decode_frame(head, inline, codec, None)  # type: ignore[arg-type]


def frame_job(frame: bytes | memoryview) -> str | None:
    """The job id in a frame's header, when it has one (to report a frame that fails to decode)."""
    try:
        head, _ = _split_head(frame)
        job = json.loads(head).get("m", {}).get("job")
    except (FrameError, ValueError, AttributeError):
        return None
    return job if isinstance(job, str) else None


def split(frame: bytes, chunk: int = CHUNK_BYTES) -> list[Item]:
    """The frame itself when small, else its chunks (views, not copies)."""
    if len(frame) <= chunk:
        return [frame]
    view = memoryview(frame)
    count = (len(frame) + chunk - 1) // chunk
    sid = f"{_prefix}-{next(_ids)}"
    return [[sid, i, count, view[i * chunk : (i + 1) * chunk]] for i in range(count)]


def item_size(item: Item) -> int:
    return len(item) if isinstance(item, (bytes, bytearray)) else memoryview(item[3]).nbytes


def item_to_json(item: Item) -> Any:
    """An item for an app command (JSON only: bytes become base64)."""
    if isinstance(item, (bytes, bytearray)):
        return base64.b64encode(item).decode("ascii")
    sid, index, count, data = item
    return [sid, index, count, base64.b64encode(data).decode("ascii")]


def item_from_json(data: Any) -> Item:
    if isinstance(data, str):
        return base64.b64decode(data)
    sid, index, count, payload = data
    return [str(sid), int(index), int(count), base64.b64decode(payload)]


def item_to_wire(item: Item) -> Item:
    """An item for a FLARE Shareable (bytes, never memoryviews)."""
    if isinstance(item, (bytes, bytearray)):
        return bytes(item)
    sid, index, count, data = item
    return [sid, index, count, bytes(data)]


class Reassembler:
    """Joins chunked frames; bounded by the number of streams in flight."""

    def __init__(self, max_streams: int = 64):
        self.parts: dict[str, list[bytes | None]] = {}
        self.max_streams = max_streams

    def feed(self, item: Item) -> bytes | None:
        """The whole frame when ``item`` completes one, else None."""
        if isinstance(item, (bytes, bytearray, memoryview)):
            return bytes(item)
        sid, index, count, data = item
        parts = self.parts.get(sid)
        if parts is None:
            if len(self.parts) >= self.max_streams:
                self.parts.pop(next(iter(self.parts)))  # drop the oldest unfinished stream
            parts = self.parts[sid] = [None] * int(count)
        parts[int(index)] = bytes(data)
        if any(p is None for p in parts):
            return None
        del self.parts[sid]
        return b"".join(parts)  # type: ignore[arg-type]
