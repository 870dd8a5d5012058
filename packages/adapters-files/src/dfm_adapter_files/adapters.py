"""``files.*``: list, read and write files and tables under a root the site configures.

The root is an fsspec URL or a local path (the default protocol), bound with
``root: {from-site: <key>}`` or taken from the ``root`` key of the provider's
or site's config. Every path an adapter receives is relative to that root; a
path that is absolute, holds a URL scheme or a backslash, or escapes the root
(through ``..`` or, on the local file system, a symbolic link) is refused.
Relative local roots start at the federation config's folder when the runner
provides it (a ``base_dir`` attribute of ``site``), else at the working
directory.

Roots and path checks are in :mod:`dfm_adapter_files.roots`, table formats in
:mod:`dfm_adapter_files.formats`.
"""

from __future__ import annotations

import fnmatch
import json
import posixpath
from typing import Any

import fsspec  # type: ignore[import-untyped]

from dfm_adapter_files.formats import (
    check_table,
    csv_bytes,
    parquet_bytes,
    read_csv,
    read_jsonl,
    read_parquet,
    table_format,
)
from dfm_adapter_files.roots import FilesAdapter, FilesError

__all__ = ["FilesError", "List", "Read", "ReadTable", "Write", "WriteTable"]


class List(FilesAdapter):
    """``files.List``: files under ``path`` (default: the root), relative to the root, sorted.

    ``pattern`` is a shell pattern matched against each file's name
    (``*.csv``); ``recursive`` descends into subfolders.
    """

    name = "files.List"

    def body(
        self, path: str = "", pattern: str | None = None, recursive: bool = False, root: str | None = None
    ) -> list[str]:
        """Return the matching file paths, relative to the root, sorted; raises ``FilesError`` if ``path``
        is not a folder.
        """
        fs, full = self.resolve(root, path, allow_root=True)
        _, root_path = self.filesystem(root)
        if not fs.isdir(full):
            raise self.error(f"no folder {path or '.'!r} under the site's root")
        found = fs.find(full, maxdepth=None if recursive else 1, withdirs=False)
        out = []
        for item in found:
            item = "/" + item.lstrip("/") if root_path.startswith("/") else item
            if pattern is None or fnmatch.fnmatchcase(posixpath.basename(item), pattern):
                out.append(self.relative(root_path, item))
        return sorted(out)


class Read(FilesAdapter):
    """``files.Read``: the contents of a file: text (``encoding``) or bytes (``binary``)."""

    name = "files.Read"

    def body(
        self, path: str, binary: bool = False, encoding: str = "utf-8", root: str | None = None
    ) -> str | bytes:
        """Return the file's text, or its bytes if ``binary``; raises ``FilesError`` if there is no such
        file or it cannot be decoded.
        """
        fs, full = self.resolve(root, path)
        if not fs.isfile(full):
            raise self.error(f"no file {path!r} under the site's root")
        data: bytes = fs.cat_file(full)
        if binary:
            return data
        try:
            return data.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise self.error(f"cannot decode {path!r} as {encoding}: {exc}; pass binary: true") from None


class Write(FilesAdapter):
    """``files.Write``: write text or bytes to a file; refuses to overwrite unless ``overwrite``."""

    name = "files.Write"

    def body(
        self,
        path: str,
        data: str | bytes,
        overwrite: bool = False,
        encoding: str = "utf-8",
        root: str | None = None,
    ) -> dict[str, Any]:
        """Write ``data`` to ``path`` and return ``{"path": ..., "bytes": ...}``; raises ``FilesError`` if
        it exists (without ``overwrite``) or ``data`` is not text or bytes.
        """
        if isinstance(data, str):
            payload = data.encode(encoding)
        elif isinstance(data, (bytes, bytearray, memoryview)):
            payload = bytes(data)
        else:
            raise self.error(
                f"data must be text or bytes, got {type(data).__name__} (write tables with files.WriteTable)"
            )
        fs, full = self.resolve(root, path)
        _write(self, fs, full, path, payload, overwrite)
        return {"path": path, "bytes": len(payload)}


def _write(
    adapter: FilesAdapter,
    fs: fsspec.AbstractFileSystem,
    full: str,
    path: str,
    payload: bytes,
    overwrite: bool,
) -> None:
    if fs.exists(full):
        if fs.isdir(full):
            raise adapter.error(f"{path!r} is a folder")
        if not overwrite:
            raise adapter.error(f"{path!r} exists; pass overwrite: true to replace it")
    parent = posixpath.dirname(full)
    if parent:
        fs.makedirs(parent, exist_ok=True)
    fs.pipe_file(full, payload)


class ReadTable(FilesAdapter):
    """``files.ReadTable``: a CSV, JSON-lines or Parquet file as a table (a list of dict rows).

    ``format`` defaults from the suffix; ``columns`` keeps only those columns;
    ``limit`` caps the number of rows. CSV cells are converted (``convert``):
    empty -> null, integers and decimals -> numbers (``"007"`` stays text).
    """

    name = "files.ReadTable"

    def body(
        self,
        path: str,
        format: str | None = None,
        columns: list[str] | None = None,
        limit: int | None = None,
        delimiter: str | None = None,
        convert: bool = True,
        root: str | None = None,
    ) -> list[dict[str, Any]]:
        """Return the file's rows as dicts; raises ``FilesError`` on a bad argument or a missing file."""
        chosen, sep = table_format(self, path, format, delimiter)
        if columns is not None and not (
            isinstance(columns, (list, tuple)) and all(isinstance(c, str) for c in columns)
        ):
            raise self.error(f"columns must be a list of names, got {columns!r}")
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
            raise self.error(f"limit must be a non-negative integer, got {limit!r}")
        fs, full = self.resolve(root, path)
        if not fs.isfile(full):
            raise self.error(f"no file {path!r} under the site's root")
        if chosen == "parquet":
            rows = read_parquet(self, fs, full, path, columns, limit)
        else:
            data = fs.cat_file(full)
            try:
                text = data.decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                raise self.error(f"{path!r} is not UTF-8 text: {exc}") from None
            rows = (
                read_csv(text, sep, convert, limit)
                if chosen == "csv"
                else read_jsonl(self, text, path, limit)
            )
        if columns is not None:
            known = {key for row in rows for key in row}
            missing = [c for c in columns if c not in known] if rows else []
            if missing:
                raise self.error(
                    f"{path!r} has no column {', '.join(map(repr, missing))} "
                    f"(columns: {', '.join(sorted(known))})"
                )
            rows = [{c: row.get(c) for c in columns} for row in rows]
        return rows


class WriteTable(FilesAdapter):
    """``files.WriteTable``: write a table as CSV, JSON lines or Parquet (format from the suffix)."""

    name = "files.WriteTable"

    def body(
        self,
        path: str,
        rows: list[dict[str, Any]],
        format: str | None = None,
        overwrite: bool = False,
        delimiter: str | None = None,
        root: str | None = None,
    ) -> dict[str, Any]:
        """Write ``rows`` to ``path`` and return ``{"path": ..., "rows": ..., "bytes": ...}``; raises
        ``FilesError`` on bad rows or an existing file (without ``overwrite``).
        """
        chosen, sep = table_format(self, path, format, delimiter)
        table = check_table(self, rows)
        if chosen == "csv":
            payload = csv_bytes(table, sep)
        elif chosen == "jsonl":
            try:
                lines = [json.dumps(row, ensure_ascii=False, allow_nan=False) for row in table]
            except (TypeError, ValueError) as exc:
                raise self.error(f"rows are not JSON-compatible: {exc}") from None
            payload = "".join(line + "\n" for line in lines).encode("utf-8")
        else:
            payload = parquet_bytes(self, table)
        fs, full = self.resolve(root, path)
        _write(self, fs, full, path, payload, overwrite)
        return {"path": path, "rows": len(table), "bytes": len(payload)}
