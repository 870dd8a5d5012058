"""Framing of messages on byte streams, with large buffers in memory-mapped files.

A frame is ``[u32 header length][u64 inline length][header JSON][inline bytes]``.
The header holds the message (as the codec's JSON-compatible data) and one
descriptor per binary buffer: ``{"n": size}`` for buffers carried inline,
``{"n": size, "f": path}`` for buffers of at least ``SPILL_BYTES``, written
once to a file in ``/dev/shm`` (or the temp dir) that the receiver maps
copy-on-write and unlinks at once. numpy arrays decoded from a mapped
buffer are views of the mapping: no pickle, no second copy.
"""

from __future__ import annotations

import asyncio
import json
import mmap
import os
import struct
import tempfile
from typing import Any

from dfm.kernel.codecs import SafeCodec
from dfm.kernel.ir.net import SiteNet
from dfm.kernel.ir.serde import from_data, to_data
from dfm.runner.messages import Install, from_wire, to_wire

SPILL_BYTES = 1 << 20
_PREFIX = struct.Struct("!IQ")
_SHM_DIR = (
    "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else tempfile.gettempdir()
)


def encode_frame(msg: Any, codec: SafeCodec) -> list[bytes | memoryview]:
    wire = to_wire(msg)
    if isinstance(msg, Install):
        wire["net"] = to_data(msg.net)
    header, buffers = codec.encode(wire)
    descriptors: list[dict[str, Any]] = []
    inline: list[bytes | memoryview] = []
    for buf in buffers:
        view = memoryview(buf).cast("B")
        if view.nbytes >= SPILL_BYTES:
            fd, path = tempfile.mkstemp(prefix="dfm-", dir=_SHM_DIR)
            try:
                with os.fdopen(fd, "wb", buffering=0) as fh:
                    written = 0
                    while written < view.nbytes:
                        written += fh.write(view[written:])
            except BaseException:
                os.unlink(path)
                raise
            descriptors.append({"n": view.nbytes, "f": path})
        else:
            descriptors.append({"n": view.nbytes})
            inline.append(view)
    head = json.dumps({"m": header, "b": descriptors}, separators=(",", ":")).encode()
    size = sum(v.nbytes if isinstance(v, memoryview) else len(v) for v in inline)
    return [_PREFIX.pack(len(head), size), head, *inline]


def _map(path: str, size: int) -> memoryview:
    # Only ever map (and unlink) our own spill files, whatever a peer claims.
    real = os.path.realpath(path)
    if os.path.dirname(real) != os.path.realpath(_SHM_DIR) or not os.path.basename(real).startswith("dfm-"):
        raise ValueError(f"refusing buffer file outside the spill directory: {path!r}")
    try:
        with open(path, "rb") as fh:
            if size == 0:
                return memoryview(b"")
            mapped = mmap.mmap(fh.fileno(), size, access=mmap.ACCESS_COPY)
    finally:
        os.unlink(path)
    return memoryview(mapped)


def decode_frame(head: bytes, inline: bytes, codec: SafeCodec) -> Any:
    data = json.loads(head)
    buffers: list[Any] = []
    pos = 0
    view = memoryview(inline)
    for desc in data["b"]:
        size = desc["n"]
        if "f" in desc:
            buffers.append(_map(desc["f"], size))
        else:
            buffers.append(view[pos : pos + size])
            pos += size
    wire = codec.decode(data["m"], buffers)
    msg = from_wire(wire)
    if isinstance(msg, Install):
        msg.net = from_data(msg.net, SiteNet)
    return msg


def discard_frame(head: bytes) -> None:
    """Remove the spill files of a frame that will not be decoded."""
    for desc in json.loads(head).get("b", ()):
        if "f" in desc:
            try:
                os.unlink(desc["f"])
            except OSError:
                pass


async def read_frame(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    prefix = await reader.readexactly(_PREFIX.size)
    head_len, inline_len = _PREFIX.unpack(prefix)
    head = await reader.readexactly(head_len)
    inline = await reader.readexactly(inline_len) if inline_len else b""
    return head, inline


_pending: dict[asyncio.StreamWriter, list[bytes | memoryview]] = {}


def write_frame(writer: asyncio.StreamWriter, parts: list[bytes | memoryview]) -> None:
    """Queue a frame; the frames queued during one loop iteration go out in one write."""
    queued = _pending.get(writer)
    if queued is None:
        _pending[writer] = list(parts)
        asyncio.get_running_loop().call_soon(_flush, writer)
    else:
        queued.extend(parts)


# A frame with an empty header: a site process's heartbeat to the application. It is
# handled by the transport itself (never decoded, never a message).
HEARTBEAT = _PREFIX.pack(0, 0)


def is_heartbeat(head: bytes) -> bool:
    return not head


def _flush(writer: asyncio.StreamWriter) -> None:
    parts = _pending.pop(writer, None)
    if parts and not writer.is_closing():
        writer.writelines(parts)
