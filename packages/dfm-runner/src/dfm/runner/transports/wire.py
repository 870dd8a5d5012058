"""Framing of messages on byte streams, with large buffers in memory-mapped files.

A frame is ``[u32 header length][u64 inline length][header JSON][inline bytes]``.
The header holds the message (as the codec's JSON-compatible data) and one
descriptor per binary buffer: ``{"n": size}`` for buffers carried inline,
``{"n": size, "f": name}`` for buffers of at least ``SPILL_BYTES``, written
once to a file that the receiver maps copy-on-write and unlinks at once.
numpy arrays decoded from a mapped buffer are views of the mapping: no
pickle, no second copy. A long ``str`` is encoded to UTF-8 a chunk at a time
straight into its file; ``bytes`` are read from the file into the new object
(never through the mapping), so a large value is held about once on each side.

Spill files live in the receiver's inbox, one folder per sender
(``<inbox of receiver>/<sender>/``, inside the session's private folder).
``name`` is 32 hex digits and never a path: the receiver looks for it only
in the folder of the sender the transport authenticated, opens it without
following links, and maps it only if it is a regular file of the announced
size. A peer can therefore only ever make a receiver read (and unlink) a
file that peer itself spilled for it. Header and inline sizes are bounded.
"""

from __future__ import annotations

import asyncio
import json
import mmap
import os
import re
import secrets
import stat
import struct
from pathlib import Path
from typing import Any

from dfm.kernel.codecs import Codec, SafeCodec
from dfm.kernel.codecs.safe import TextBuffer
from dfm.kernel.ir.net import SiteNet
from dfm.kernel.ir.serde import canonical_json, from_data
from dfm.runner.messages import Install, from_wire, to_wire

SPILL_BYTES = 1 << 20
MAX_HEAD_BYTES = 64 << 20  # a header is JSON of the message without its buffers
MAX_INLINE_BYTES = 256 << 20  # buffers under SPILL_BYTES each, carried in the frame
MAX_SPILL_BYTES = 64 << 30
_PREFIX = struct.Struct("!IQ")
_SPILL_NAME = re.compile(r"[0-9a-f]{32}")


class FrameError(ValueError):
    """A frame that breaks the framing rules (sizes, spill names): the connection is dropped."""


def shm_root() -> str:
    """Where private folders holding spill files go: ``/dev/shm`` (memory) when usable."""
    import tempfile

    return (
        "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else tempfile.gettempdir()
    )


def encode_frame(msg: Any, codec: Codec, spill_dir: Path) -> list[bytes | memoryview]:
    """Frame ``msg``; buffers of ``SPILL_BYTES`` or more go to files in ``spill_dir``.

    ``spill_dir`` is the receiver's inbox folder for this sender.
    """
    wire = to_wire(msg)
    if isinstance(msg, Install) and not isinstance(msg.net, str):
        # the text whose SHA-256 is the digest: the receiver hashes exactly what it gets
        wire["net"] = msg.text if msg.text is not None else canonical_json(msg.net)
    # the safe codec can hand out large strings lazily, encoded chunk by chunk into the spill file
    if type(codec) is SafeCodec:  # exactly ours: a subclass may override encode() without it
        header, buffers = codec.encode(wire, lazy_text=True)
    else:
        header, buffers = codec.encode(wire)
    descriptors: list[dict[str, Any]] = []
    inline: list[bytes | memoryview] = []
    for buf in buffers:
        if type(buf) is TextBuffer:
            if len(buf.text) >= SPILL_BYTES:  # UTF-8 has at least a byte per character
                descriptors.append(_spill(spill_dir, buf.chunks()))
                continue
            buf = bytes(buf)
        view = memoryview(buf).cast("B")
        if view.nbytes >= SPILL_BYTES:
            descriptors.append(_spill(spill_dir, (view,)))
        else:
            descriptors.append({"n": view.nbytes})
            inline.append(view)
    head = json.dumps({"m": header, "b": descriptors}, separators=(",", ":")).encode()
    size = sum(v.nbytes if isinstance(v, memoryview) else len(v) for v in inline)
    return [_PREFIX.pack(len(head), size), head, *inline]


def _spill(spill_dir: Path, chunks: Any) -> dict[str, Any]:
    """Write ``chunks`` (bytes-like) to a new spill file in ``spill_dir``: its descriptor."""
    name = secrets.token_hex(16)
    path = spill_dir / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    size = 0
    try:
        with os.fdopen(fd, "wb", buffering=0) as fh:
            for chunk in chunks:  # written straight from the value's memory: no copy here
                view = memoryview(chunk).cast("B")
                written = 0
                while written < view.nbytes:
                    written += fh.write(view[written:])
                size += view.nbytes
                del view
    except BaseException:
        os.unlink(path)
        raise
    return {"n": size, "f": name}


class SpillMap(mmap.mmap):
    """A spill file mapped copy-on-write (numpy arrays decoded from it are views of it).

    ``bytes(spill)`` reads the file into the new bytes object instead of copying the
    mapping, so decoding a large ``bytes`` value never holds its mapped pages as well.
    """

    fd = -1

    def __bytes__(self) -> bytes:
        size = len(self)
        if size <= _MAX_READ:
            data = os.pread(self.fd, size, 0)
            if len(data) == size:
                return data
        out = bytearray(size)  # over 2 GiB (one read's limit): read in parts, then copy once
        view = memoryview(out)
        pos = 0
        while pos < size:
            got = os.preadv(self.fd, [view[pos : pos + _MAX_READ]], pos)
            if got <= 0:
                raise FrameError("a spill file shrank while it was read")
            pos += got
        del view
        return bytes(out)


_MAX_READ = 0x7FFFF000  # Linux reads at most this much at once


def _spill_path(spill_dir: Path, name: Any) -> Path:
    if not isinstance(name, str) or not _SPILL_NAME.fullmatch(name):
        raise FrameError("a spill file name must be 32 hex digits")
    return spill_dir / name


def _map(spill_dir: Path, name: Any, size: int, fds: list[int]) -> SpillMap | memoryview:
    """Map a spill file; its descriptor joins ``fds`` (closed by the caller once decoded)."""
    path = _spill_path(spill_dir, name)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise FrameError(f"spill file {name} not found in the sender's folder ({exc.strerror})") from None
    keep = False
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size < size:
            raise FrameError(f"spill file {name} is not a regular file of {size} bytes")
        if size == 0:
            return memoryview(b"")
        mapped = SpillMap(fd, size, access=mmap.ACCESS_COPY)
        mapped.fd = fd
        fds.append(fd)
        keep = True
    finally:
        if not keep:
            os.close(fd)
        os.unlink(path)
    return mapped


def _descriptors(data: Any) -> list[dict[str, Any]]:
    if not isinstance(data, dict) or not isinstance(data.get("b"), list):
        raise FrameError("a frame header must be a mapping with a buffer list")
    descs: list[dict[str, Any]] = data["b"]
    for desc in descs:
        size = desc.get("n") if isinstance(desc, dict) else None
        if type(size) is not int or not 0 <= size <= MAX_SPILL_BYTES:
            raise FrameError("a buffer descriptor needs a size")
    return descs


def decode_frame(head: bytes, inline: bytes, codec: Codec, spill_dir: Path | None) -> Any:
    """Decode a frame received from the sender whose inbox folder here is ``spill_dir``.

    With ``spill_dir=None`` every buffer must be inline.
    """
    try:
        data = json.loads(head)
    except ValueError:
        raise FrameError("a frame header is not JSON") from None
    buffers: list[Any] = []
    pos = 0
    view = memoryview(inline)
    fds: list[int] = []
    try:
        for desc in _descriptors(data):
            size = desc["n"]
            if "f" in desc:
                if spill_dir is None:
                    raise FrameError("this channel carries no spill files")
                buffers.append(_map(spill_dir, desc["f"], size, fds))
            else:
                if pos + size > len(view):
                    raise FrameError("inline buffers overrun the frame")
                buffers.append(view[pos : pos + size])
                pos += size
        wire = codec.decode(data.get("m"), buffers)
    finally:
        for fd in fds:
            os.close(fd)
        del buffers  # mappings no decoded value refers to are unmapped now
    msg = from_wire(wire)
    if isinstance(msg, Install) and not isinstance(msg.net, str):
        msg.net = from_data(msg.net, SiteNet)  # JSON data (FLARE frames): a text is the site's to parse
    return msg


def frame_job(head: bytes) -> Any:
    """The job a frame's message names, read without decoding it (None if none)."""
    try:
        message = json.loads(head).get("m")
        return message.get("job") if isinstance(message, dict) else None
    except (ValueError, AttributeError):
        return None


def discard_frame(head: bytes, spill_dir: Path) -> None:
    """Remove the spill files of a frame that will not be decoded (only valid names, only there)."""
    try:
        descs = _descriptors(json.loads(head))
    except (ValueError, FrameError):
        return
    for desc in descs:
        try:
            os.unlink(_spill_path(spill_dir, desc.get("f")))
        except (OSError, FrameError):
            pass


async def read_frame(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One frame's header and inline bytes; :class:`FrameError` if its sizes break the bounds."""
    prefix = await reader.readexactly(_PREFIX.size)
    head_len, inline_len = _PREFIX.unpack(prefix)
    if head_len > MAX_HEAD_BYTES or inline_len > MAX_INLINE_BYTES:
        raise FrameError(f"a frame of {head_len} + {inline_len} bytes is over the bounds")
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
    """Whether a frame with header head is a heartbeat (its header is empty)."""
    return not head


def _flush(writer: asyncio.StreamWriter) -> None:
    parts = _pending.pop(writer, None)
    if parts and not writer.is_closing():
        writer.writelines(parts)
