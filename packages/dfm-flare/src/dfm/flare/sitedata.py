"""The data files a site's own config names, for that site's startup kit.

A site resolves relative paths in its ``config:`` (a SQLite ``database``, a
files adapter's ``root``) against the folder of the federation config, which
on FLARE is the config's copy in its kit (``<kit>/local/custom/dfm/``). So that
a kit runs as provisioned, :func:`site_data_files` lists the files to put
beside that copy:

- every string in the site's ``config:`` and its providers' ``config:`` that
  names an existing file or folder inside the federation directory (symlinks
  resolved; absolute paths, URLs and anything outside are left alone: they are
  the site's own business on its machine);
- a folder contributes its regular files, except those another site names more
  specifically (``root: data/`` at one site does not carry ``data/b.sqlite``
  that another site names): a kit never carries another site's data;
- never a secrets file (of any site), the config and its ``$ref`` files (the
  kit has them already), or Python caches.

Only the operator's config is read here, never anything from the wire.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dfm.kernel.config.models import Federation

__all__ = ["site_data_files"]

_MAX_PATH = 1024  # longer strings are SQL, descriptions, ... not paths
_SKIPPED_PARTS = {"__pycache__", ".git"}


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


def _references(federation: Federation, site: str, root: str) -> dict[str, bool]:
    """Paths (normalised, relative to ``root``) the site's config names -> whether each is a folder."""
    spec = federation.sites[site]
    found: dict[str, bool] = {}
    configs = [spec.config, *(provider.config for provider in spec.providers.values())]
    for text in (s for config in configs for s in _strings(config)):
        if not text or len(text) > _MAX_PATH or "\x00" in text or "\n" in text or "://" in text:
            continue
        if os.path.isabs(text):
            continue
        rel = os.path.normpath(text)
        if rel == "." or rel.startswith(".."):
            continue
        real = os.path.realpath(os.path.join(root, rel))
        if os.path.commonpath([root, real]) != root or real == root:
            continue
        if os.path.isfile(real) or os.path.isdir(real):
            found[Path(rel).as_posix()] = os.path.isdir(real)
    return found


def _files_under(root: str, rel: str) -> Iterator[str]:
    top = os.path.join(root, rel)
    for folder, dirs, files in os.walk(top):  # os.walk does not follow symlinked folders
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_PARTS)
        for name in sorted(files):
            if name.endswith(".pyc"):
                continue
            path = os.path.join(folder, name)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            yield Path(os.path.relpath(path, root)).as_posix()


def _claim(refs: dict[str, bool], file: str) -> int:
    """How specifically ``refs`` name ``file``: the depth of the deepest reference to it or a folder
    above it; -1 when none does (a file named outright is deeper than any folder)."""
    best = -1
    for ref, is_dir in refs.items():
        if ref == file and not is_dir:
            return 1 << 16
        if is_dir and file.startswith(ref + "/"):
            best = max(best, ref.count("/") + 1)
    return best


def site_data_files(federation: Federation, config_path: Path, site: str) -> list[str]:
    """Paths, relative to the config's folder, of the data files ``site``'s kit carries (sorted)."""
    from dfm.kernel.config.digest import config_files

    root = os.path.realpath(config_path.parent)
    refs = {name: _references(federation, name, root) for name in federation.sites}
    mine = refs[site]
    excluded = {Path(p).as_posix() for p in config_files(config_path)}
    for spec in federation.sites.values():
        if spec.secrets.file:
            excluded.add(Path(os.path.normpath(spec.secrets.file)).as_posix())
    out: set[str] = set()
    for ref, is_dir in mine.items():
        for file in _files_under(root, ref) if is_dir else [ref]:
            if file in excluded or _SKIPPED_PARTS.intersection(file.split("/")):
                continue
            claim = _claim(mine, file)
            if all(_claim(theirs, file) <= claim for other, theirs in refs.items() if other != site):
                out.add(file)
    return sorted(out)
