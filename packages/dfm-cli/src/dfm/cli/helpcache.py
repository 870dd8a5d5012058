"""A cached command listing for ``dfm --help``: no plugin manager, pluggy or attrs.

Building the command table loads every plugin module through the plugin manager
(pluggy, the attrs records); that costs more than click itself. ``dfm --help``
(``-h``, or ``dfm`` alone) only lists names and summaries, so the listing of the
last table is kept in a file under the user cache folder and reused while
nothing it was built from has changed. Its **fingerprint** is:

- the interpreter (``sys.version``, ``sys.executable``) and ``sys.path`` in order;
- every ``*.dist-info`` / ``*.egg-info`` folder name in each ``sys.path`` folder,
  with its modification time (installing, upgrading or removing a distribution
  changes them);
- every ``DFM_*`` environment variable (the plugin controls among them);
- the source file and modification time of each plugin module that was loaded
  (an edited plugin in a source checkout).

Only a healthy table is stored (no plugin that failed to load, no conflict, no
warning); ``DFM_TRACE_PLUGINS`` bypasses the cache. The listing is trusted for
nothing but the help text: running any command builds the real table. Every
failure to read or write the file is ignored (the table is then built as
before). Folder: ``$DFM_CACHE_DIR``, else ``$XDG_CACHE_HOME/dfm`` or
``~/.cache/dfm`` (``~/Library/Caches/dfm`` on macOS, ``%LOCALAPPDATA%\\dfm\\cache``
on Windows); one file per interpreter.
"""

from __future__ import annotations

import marshal
import os
import sys
from typing import Any

__all__ = ["CachedListing", "ListedCommand", "cache_file", "fingerprint", "load", "store"]

_FORMAT = 1
_SUFFIXES = (".dist-info", ".egg-info")


class ListedCommand:
    """What the help listing shows of one command record."""

    __slots__ = ("distribution", "name", "parent", "source", "summary")

    def __init__(self, name: str, parent: str | None, summary: str, source: str, distribution: str) -> None:
        self.name = name
        self.parent = parent
        self.summary = summary
        self.source = source
        self.distribution = distribution


class CachedListing:
    """The part of :class:`dfm.cli.group.CommandTable` that help listings read."""

    def __init__(self, commands: list[ListedCommand]) -> None:
        self.commands = commands

    def children(self, path: str) -> dict[str, ListedCommand]:
        """The cached commands mounted at the command path ``path``, by name."""
        return {c.name: c for c in self.commands if (c.parent or "") == path}

    def broken_children(self, path: str) -> dict[str, Any]:
        """Always empty: only healthy command tables are cached."""
        return {}  # only healthy tables are stored


def cache_file() -> str | None:
    """This interpreter's cache file, or None when no cache folder can be named."""
    folder = os.environ.get("DFM_CACHE_DIR")
    if not folder:
        if sys.platform == "win32":
            base = os.environ.get("LOCALAPPDATA")
            folder = os.path.join(base, "dfm", "cache") if base else ""
        elif sys.platform == "darwin":
            folder = os.path.join(os.path.expanduser("~"), "Library", "Caches", "dfm")
        else:
            base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
            folder = os.path.join(base, "dfm")
    if not folder or folder.startswith("~"):
        return None
    from zlib import crc32

    tag = crc32(f"{sys.executable}\0{sys.prefix}".encode("utf-8", "surrogatepass"))
    return os.path.join(folder, f"cli-help-{tag:08x}.marshal")


def fingerprint() -> list[str]:
    """The state a cached listing is valid for (see the module docstring); plugin files excluded."""
    parts = [str(_FORMAT), sys.version, sys.executable]
    parts.extend(f"env {k}={v}" for k, v in sorted(os.environ.items()) if k.startswith("DFM_"))
    for entry in sys.path:
        path = entry or os.curdir
        try:
            names = sorted(os.listdir(path))
        except OSError:
            parts.append(f"path {entry} -")
            continue
        parts.append(f"path {entry}")
        for name in names:
            if name.endswith(_SUFFIXES):
                try:
                    mtime = os.stat(os.path.join(path, name)).st_mtime_ns
                except OSError:
                    mtime = -1
                parts.append(f"{name} {mtime}")
    return parts


def _mtime(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return -1


def load() -> CachedListing | None:
    """The cached listing if it is still valid, else None."""
    if os.environ.get("DFM_TRACE_PLUGINS"):
        return None
    path = cache_file()
    if path is None:
        return None
    try:
        with open(path, "rb") as fh:
            data = marshal.load(fh)
        if data["fingerprint"] != fingerprint():
            return None
        for file, mtime in data["files"]:
            if _mtime(file) != mtime:
                return None
        return CachedListing([ListedCommand(*row) for row in data["commands"]])
    except Exception:  # missing, unreadable, another format: build the table instead
        return None


def store(table: Any) -> None:
    """Save the listing of a healthy :class:`~dfm.cli.group.CommandTable` (errors ignored)."""
    if table.broken or table.notes or os.environ.get("DFM_TRACE_PLUGINS"):
        return
    path = cache_file()
    if path is None:
        return
    try:
        files = []
        for info in table.manager.infos.values():
            module = sys.modules.get(info.entry_point.partition(":")[0].strip())
            file = getattr(module, "__file__", None)
            if info.status == "active" and not file:
                return  # a plugin we cannot watch: do not cache
            if file:
                files.append((file, _mtime(file)))
        commands = [
            (
                entry.name,
                entry.parent,
                entry.summary,
                entry.source,
                entry.provenance.distribution if entry.provenance else "",
            )
            for entry in table.entries.values()
        ]
        data = {"fingerprint": fingerprint(), "files": files, "commands": commands}
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as fh:
            marshal.dump(data, fh)
        os.replace(tmp, path)
    except Exception:
        return
