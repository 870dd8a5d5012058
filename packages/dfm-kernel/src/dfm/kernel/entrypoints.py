"""Entry points of installed distributions, read without importing ``importlib.metadata``.

Importing ``importlib.metadata`` costs ~50 ms (it pulls in ``email``,
``zipfile``, ``pathlib``...): a third of ``dfm --help``. DFM needs one
group's entry points with their distribution's name and version, which
installers write as plain files, so this module reads them directly, the
way ``importlib.metadata`` finds them: the folders of ``sys.path`` in order,
``*.dist-info`` and ``*.egg-info`` folders in each, and the first
distribution of a (normalized) name wins. It reads ``entry_points.txt``
and, only for distributions with entries in the group, the ``Name`` and
``Version`` headers of ``METADATA`` (``PKG-INFO`` for egg-info).
Distributions inside zip files on ``sys.path`` are not seen.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any, NamedTuple

from dfm.kernel.records import load_target

__all__ = ["EntryPoint", "canonical_name", "entry_points"]

_SUFFIXES = (".dist-info", ".egg-info")


class EntryPoint(NamedTuple):
    """One entry point: ``name = value`` in ``group`` of distribution ``dist_name`` ``dist_version``."""

    name: str
    value: str  # "module:attr.path", maybe with "[extras]"
    group: str
    dist_name: str
    dist_version: str

    def load(self) -> Any:
        """Import the module and return the named attribute (or the module itself)."""
        return load_target(self.value)


def canonical_name(name: str) -> str:
    """A distribution name in its normalized form (PEP 503): ``Dfm_Adapter.SQL`` -> ``dfm-adapter-sql``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _folder_name(folder: str) -> str:
    """The normalized distribution name of ``name-version.dist-info`` / ``name.egg-info``."""
    return canonical_name(folder.rsplit(".", 1)[0].partition("-")[0])


def _parse_entry_points(text: str, group: str) -> list[tuple[str, str]]:
    """``(name, value)`` pairs of ``[group]`` in an ``entry_points.txt``."""
    out = []
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1].strip()
        elif current == group and "=" in line:
            name, _, value = line.partition("=")
            out.append((name.strip(), value.strip()))
    return out


def _headers(folder: str) -> tuple[str, str]:
    """``(Name, Version)`` from the folder's ``METADATA`` or ``PKG-INFO`` (empty strings if unreadable)."""
    for filename in ("METADATA", "PKG-INFO"):
        try:
            with open(os.path.join(folder, filename), encoding="utf-8", errors="replace") as fh:
                name = version = ""
                for line in fh:
                    if not line.strip():
                        break  # the headers end at the first blank line
                    key, _, value = line.partition(":")
                    if key == "Name":
                        name = value.strip()
                    elif key == "Version":
                        version = value.strip()
                return name, version
        except OSError:
            continue
    return "", ""


def entry_points(group: str) -> list[EntryPoint]:
    """The entry points of ``group`` of every distribution on ``sys.path``."""
    seen: set[str] = set()
    found: list[EntryPoint] = []
    for entry in sys.path:
        path = entry or os.curdir
        try:
            names = sorted(os.listdir(path))
        except OSError:  # missing, a file, a zip archive
            continue
        for folder_name in names:
            if not folder_name.endswith(_SUFFIXES):
                continue
            dist = _folder_name(folder_name)
            if dist in seen:
                continue
            folder = os.path.join(path, folder_name)
            if not os.path.isdir(folder):  # an old-style egg-info file
                continue
            seen.add(dist)
            try:
                with open(os.path.join(folder, "entry_points.txt"), encoding="utf-8") as fh:
                    pairs = _parse_entry_points(fh.read(), group)
            except OSError:
                continue
            if not pairs:
                continue
            dist_name, dist_version = _headers(folder)
            for name, value in pairs:
                found.append(EntryPoint(name, value, group, dist_name or dist, dist_version or "unknown"))
    return found
