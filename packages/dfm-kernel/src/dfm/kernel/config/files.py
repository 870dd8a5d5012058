"""Reading config files without trusting them: limits and the one bounded file reader.

A config and every file it pulls in through ``$ref`` are read by
:func:`read_regular_file`, which reads only regular files of bounded size:

- ``os.stat`` first (never blocks, reads nothing): anything but a regular file
  (a directory, FIFO, socket, character or block device such as ``/dev/zero``)
  is refused, and so is a file larger than the limit;
- then ``os.open`` with ``O_NONBLOCK | O_NOFOLLOW | O_NOCTTY`` on the resolved
  path, and ``os.fstat`` of the opened descriptor must show the same regular
  file (a path swapped for a FIFO or a symlink in between is refused);
- at most ``max_bytes + 1`` bytes are read, whatever the file claims.

:class:`Limits` holds the caps. Only the caller can widen them
(``load_config(path, ref_allow=[...], max_bytes=...)`` or the environment
variables :data:`REF_ALLOW_ENV` and :data:`MAX_BYTES_ENV`); a config file cannot
widen its own limits, since a hostile one would simply allow ``/``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable

import attrs

from dfm.kernel.config.yamlmarks import MAX_DEPTH, MAX_NODES
from dfm.kernel.errors import ConfigError, ConfigIssue

DEFAULT_MAX_BYTES = 10 * 1024 * 1024  # per file: the config and each $ref target
DEFAULT_MAX_TOTAL_BYTES = 32 * 1024 * 1024  # all files of one config together
REF_ALLOW_ENV = "DFM_CONFIG_REF_ALLOW"  # extra folders $ref may read from, os.pathsep-separated
MAX_BYTES_ENV = "DFM_CONFIG_MAX_BYTES"  # per-file size limit in bytes

_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)  # a FIFO swapped in after the stat must not block the open
    | getattr(os, "O_NOFOLLOW", 0)  # the path is resolved already: a symlink now is a swap
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


@attrs.frozen
class Limits:
    """Caps on what loading one config may read and build."""

    max_bytes: int = DEFAULT_MAX_BYTES  # size of each file (the config and each $ref target)
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES  # all files together
    max_nodes: int = MAX_NODES  # YAML nodes after expanding aliases and references
    max_depth: int = MAX_DEPTH  # nesting of YAML collections in one file
    # folders besides the federation directory (the top-level config's folder) $ref may read
    ref_allow: tuple[str, ...] = ()

    @classmethod
    def make(
        cls,
        limits: Limits | None = None,
        *,
        ref_allow: Iterable[str | os.PathLike[str]] = (),
        max_bytes: int | None = None,
        environ: dict[str, str] | None = None,
    ) -> Limits:
        """``limits`` (or the defaults) with the keyword arguments and the environment applied."""
        env = os.environ if environ is None else environ
        base = limits or cls()
        allow = [*base.ref_allow, *(os.fspath(p) for p in ref_allow)]
        allow += [p for p in env.get(REF_ALLOW_ENV, "").split(os.pathsep) if p.strip()]
        size = base.max_bytes
        if max_bytes is not None:
            size = max_bytes
        elif limits is None and env.get(MAX_BYTES_ENV, "").strip().isdigit():
            size = int(env[MAX_BYTES_ENV])
        return attrs.evolve(base, ref_allow=tuple(allow), max_bytes=size)


class Refused(Exception):
    """A file that is not read; ``reason`` completes "the file ...": "is not a regular file"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def size_text(size: int) -> str:
    """``10 MiB``, ``1.5 KiB``, ``12 bytes``."""
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= factor:
            value = size / factor
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{size} bytes"


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    return "not a regular file"


def _too_big(size: int, max_bytes: int, over: bool = False) -> Refused:
    said = f"more than {size_text(max_bytes)}" if over else size_text(size)
    return Refused(f"is {said}, over the limit of {size_text(max_bytes)}")


def read_regular_file(path: str, max_bytes: int) -> bytes:
    """The bytes of the regular file at ``path`` (resolved by the caller), at most ``max_bytes``.

    Raises :class:`FileNotFoundError` if nothing is there, :class:`Refused` for anything
    that is not read (not a regular file, too large, changed under us, unreadable).
    """
    try:
        before = os.stat(path)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise Refused(f"cannot be read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(before.st_mode):
        raise Refused(f"is not a regular file ({_kind(before.st_mode)})")
    if before.st_size > max_bytes:
        raise _too_big(before.st_size, max_bytes)
    try:
        fd = os.open(path, _FLAGS)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise Refused(f"cannot be read: {exc.strerror or exc}") from None
    try:
        after = os.fstat(fd)
        if not stat.S_ISREG(after.st_mode) or (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino):
            raise Refused("changed while it was opened (it is no longer the same regular file)")
        if after.st_size > max_bytes:
            raise _too_big(after.st_size, max_bytes)
        chunks: list[bytes] = []
        left = max_bytes + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as exc:
        raise Refused(f"cannot be read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > max_bytes:  # it grew after the stat
        raise _too_big(len(data), max_bytes, over=True)
    return data


def decode_utf8(data: bytes) -> tuple[str | None, tuple[int, int, int] | None]:
    """``(text, None)``, or ``(None, (line, column, byte))`` of the first byte that is not UTF-8."""
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        start = exc.start
        line_start = data.rfind(b"\n", 0, start) + 1
        column = len(data[line_start:start].decode("utf-8", "replace")) + 1
        return None, (data.count(b"\n", 0, start) + 1, column, data[start])


def inside(real: str, folder: str) -> bool:
    """Whether the resolved path ``real`` is ``folder`` (resolved) or below it."""
    real, folder = os.path.normcase(real), os.path.normcase(folder)
    return real == folder or real.startswith(folder.rstrip(os.sep) + os.sep)


def read_config_text(file: str, limits: Limits) -> str:
    """The text of the top-level config ``file``, read within ``limits``; raise :class:`ConfigError`."""
    try:
        data = read_regular_file(os.path.realpath(file), limits.max_bytes)
    except FileNotFoundError:
        raise ConfigError([ConfigIssue(file, 0, 0, "", "config file not found")]) from None
    except Refused as exc:
        raise ConfigError(
            [ConfigIssue(file, 0, 0, "", f"cannot read the config: the file {exc.reason}")]
        ) from None
    text, bad = decode_utf8(data)
    if text is None:
        assert bad is not None
        line, column, byte = bad
        message = f"cannot read the config: it is not UTF-8 text (byte 0x{byte:02x})"
        raise ConfigError([ConfigIssue(file, line, column, "", message)])
    return text
