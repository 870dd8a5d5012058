"""A site's root (an fsspec URL or a local path) and the paths adapters may use under it.

Every path an adapter receives is relative to the root; a path that is
absolute, holds a URL scheme or a backslash, or escapes the root (through
``..`` or, on the local file system, a symbolic link) is refused. Relative
local roots start at the federation config's folder when the runner provides
it (a ``base_dir`` attribute of ``site``), else at the working directory.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import fsspec  # type: ignore[import-untyped]
from fsspec.core import url_to_fs  # type: ignore[import-untyped]
from fsspec.implementations.local import LocalFileSystem  # type: ignore[import-untyped]

from dfm.kernel.context import site_base_dir
from dfm.kernel.errors import DfmError

__all__ = ["FilesAdapter", "FilesError"]

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


class FilesError(DfmError):
    """A files adapter refused or failed; the message names the adapter and the site."""


class FilesAdapter:
    """What every ``files.*`` adapter shares: its site's root and paths checked against it."""

    name = "files.?"

    def __init__(self, site: Any, provider: Any) -> None:
        self.site = site
        self.provider = provider

    def error(self, message: str) -> FilesError:
        """An error naming this adapter and its site."""
        return FilesError(f"{self.name} at site '{getattr(self.site, 'name', '?')}': {message}")

    def _setting(self, key: str) -> Any:
        for owner in (self.provider, self.site):
            config = getattr(owner, "config", None)
            if isinstance(config, Mapping) and key in config:
                return config[key]
        return None

    def filesystem(self, root: Any) -> tuple[fsspec.AbstractFileSystem, str]:
        """The file system and the root path in it."""
        if root is None:
            root = self._setting("root")
        if root is None:
            raise self.error("no root: bind 'root' (e.g. from-site) or set 'root' in the site's config")
        if not isinstance(root, (str, os.PathLike)) or not str(root):
            raise self.error(f"root must be a path or an fsspec URL, got {type(root).__name__}")
        text = str(root)
        if not _SCHEME.match(text):
            path = Path(text).expanduser()
            text = str((path if path.is_absolute() else site_base_dir(self.site) / path).resolve())
        fs, root_path = url_to_fs(text)
        root_path = root_path.rstrip("/") or "/"
        return fs, root_path

    def resolve(
        self, root: Any, path: Any, *, allow_root: bool = False
    ) -> tuple[fsspec.AbstractFileSystem, str]:
        """``path`` (relative to the root) as a full path in the root's file system."""
        if not isinstance(path, str):
            raise self.error(f"path must be a string, got {type(path).__name__}")
        if (
            path.startswith(("/", "~"))
            or "\\" in path
            or "\x00" in path
            or _SCHEME.match(path)
            or re.match(r"^[A-Za-z]:", path)
        ):
            raise self.error(f"path {path!r} must be relative to the site's root")
        fs, root_path = self.filesystem(root)
        full = posixpath.normpath(posixpath.join(root_path, path)) if path else root_path
        inside = full.startswith(root_path.rstrip("/") + "/") or (allow_root and full == root_path)
        if inside and isinstance(fs, LocalFileSystem):
            real_root = os.path.realpath(root_path)
            real = os.path.realpath(full)
            inside = real.startswith(real_root.rstrip(os.sep) + os.sep) or (allow_root and real == real_root)
        if not inside:
            raise self.error(f"path {path!r} escapes the site's root")
        return fs, full

    def relative(self, root_path: str, full: str) -> str:
        """``full`` as a path relative to the root."""
        return posixpath.relpath(full, root_path)
