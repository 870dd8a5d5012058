"""``files.*``: list, read and write files and tables under a root the site configures.

The root is an fsspec URL or a local path (the default protocol), bound with
``root: {from-site: <key>}`` or taken from the ``root`` key of the provider's
or site's config. Every path an adapter receives is relative to that root; a
path that is absolute, holds a URL scheme or a backslash, or escapes the root
(through ``..`` or, on the local file system, a symbolic link) is refused.
Relative local roots start at the federation config's folder when the runner
provides it (a ``base_dir`` attribute of ``site``), else at the working
directory.

A table is a list of dict rows with JSON-compatible values. Formats: ``csv``
(``.csv``; ``.tsv`` with a tab delimiter), ``jsonl`` (``.jsonl``, ``.ndjson``)
and ``parquet`` (``.parquet``, ``.pq``; needs pyarrow, imported only then).
"""

from __future__ import annotations

import csv
import datetime
import decimal
import fnmatch
import io
import json
import os
import posixpath
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import fsspec  # type: ignore[import-untyped]
from fsspec.core import url_to_fs  # type: ignore[import-untyped]
from fsspec.implementations.local import LocalFileSystem  # type: ignore[import-untyped]

from dfm.kernel.errors import DfmError

__all__ = [
    "FORMATS",
    "FilesError",
    "List",
    "Read",
    "ReadTable",
    "Write",
    "WriteTable",
    "base_dir",
    "convert_cell",
    "jsonable",
]

FORMATS = ("csv", "jsonl", "parquet")
_SUFFIXES = {
    ".csv": ("csv", ","),
    ".tsv": ("csv", "\t"),
    ".jsonl": ("jsonl", None),
    ".ndjson": ("jsonl", None),
    ".parquet": ("parquet", None),
    ".pq": ("parquet", None),
}
_INT = re.compile(r"^-?(?:0|[1-9][0-9]*)$")
_FLOAT = re.compile(r"^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


class FilesError(DfmError):
    """A files adapter refused or failed; the message names the adapter and the site."""


def base_dir(site: Any) -> Path:
    """Where a site's relative paths start: its config file's folder when the runner says, else cwd."""
    for attribute in ("base_dir", "config_dir"):
        folder = getattr(site, attribute, None)
        if folder:
            return Path(folder)
    return Path.cwd()


def jsonable(value: Any) -> Any:
    """A value read from a file as a JSON-compatible one (bytes stay bytes)."""
    if isinstance(value, decimal.Decimal):
        return int(value) if value.is_finite() and value == value.to_integral_value() else float(value)
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def convert_cell(text: str) -> Any:
    """A CSV cell as a value: ``""`` -> None, integers and decimals as numbers, else the text."""
    if text == "":
        return None
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    return text


class _FilesAdapter:
    name = "files.?"

    def __init__(self, site: Any, provider: Any) -> None:
        self.site = site
        self.provider = provider

    def error(self, message: str) -> FilesError:
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
            text = str((path if path.is_absolute() else base_dir(self.site) / path).resolve())
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
        return posixpath.relpath(full, root_path)

    def table_format(self, path: str, format: str | None, delimiter: str | None) -> tuple[str, str]:
        suffix = posixpath.splitext(path)[1].lower()
        guessed, default_delimiter = _SUFFIXES.get(suffix, (None, None))
        chosen = format or guessed
        if chosen not in FORMATS:
            if format is not None:
                raise self.error(f"unknown table format {format!r} (known: {', '.join(FORMATS)})")
            raise self.error(
                f"cannot tell the table format of {path!r} from its suffix; pass format "
                f"({', '.join(FORMATS)})"
            )
        return chosen, delimiter or default_delimiter or ","


class List(_FilesAdapter):
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


class Read(_FilesAdapter):
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


class Write(_FilesAdapter):
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
    adapter: _FilesAdapter,
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


class ReadTable(_FilesAdapter):
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
        chosen, sep = self.table_format(path, format, delimiter)
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
            rows = self._parquet(fs, full, path, columns, limit)
        else:
            data = fs.cat_file(full)
            try:
                text = data.decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                raise self.error(f"{path!r} is not UTF-8 text: {exc}") from None
            rows = self._csv(text, sep, convert, limit) if chosen == "csv" else self._jsonl(text, path, limit)
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

    def _csv(self, text: str, delimiter: str, convert: bool, limit: int | None) -> list[dict[str, Any]]:
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
        rows: list[dict[str, Any]] = []
        for row in reader:
            if limit is not None and len(rows) >= limit:
                break
            rows.append(
                {
                    key: (convert_cell(value) if convert and isinstance(value, str) else value)
                    for key, value in row.items()
                }
            )
        return rows

    def _jsonl(self, text: str, path: str, limit: int | None) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for number, line in enumerate(text.split("\n"), start=1):  # not splitlines: \x85 is text
            if limit is not None and len(rows) >= limit:
                break
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise self.error(f"{path}:{number}: not JSON: {exc.msg}") from None
            if not isinstance(row, dict):
                raise self.error(
                    f"{path}:{number}: each line must be a JSON object, got {type(row).__name__}"
                )
            rows.append(row)
        return rows

    def _parquet(
        self,
        fs: fsspec.AbstractFileSystem,
        full: str,
        path: str,
        columns: list[str] | None,
        limit: int | None,
    ) -> list[dict[str, Any]]:
        pq = _pyarrow_parquet(self)
        try:
            with fs.open(full, "rb") as handle:
                table = pq.read_table(handle, columns=list(columns) if columns is not None else None)
        except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, KeyError...
            raise self.error(f"cannot read {path!r} as Parquet: {type(exc).__name__}: {exc}") from None
        if limit is not None:
            table = table.slice(0, limit)
        return [jsonable(row) for row in table.to_pylist()]


class WriteTable(_FilesAdapter):
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
        chosen, sep = self.table_format(path, format, delimiter)
        table = _check_table(self, rows)
        if chosen == "csv":
            payload = _csv_bytes(table, sep)
        elif chosen == "jsonl":
            try:
                lines = [json.dumps(row, ensure_ascii=False, allow_nan=False) for row in table]
            except (TypeError, ValueError) as exc:
                raise self.error(f"rows are not JSON-compatible: {exc}") from None
            payload = "".join(line + "\n" for line in lines).encode("utf-8")
        else:
            payload = self._parquet(table)
        fs, full = self.resolve(root, path)
        _write(self, fs, full, path, payload, overwrite)
        return {"path": path, "rows": len(table), "bytes": len(payload)}

    def _parquet(self, table: list[dict[str, Any]]) -> bytes:
        pq = _pyarrow_parquet(self)
        import pyarrow  # type: ignore[import-untyped]

        if not table:
            raise self.error("cannot write an empty table as Parquet: it has no columns to describe")
        try:
            arrow = pyarrow.Table.from_pylist(table)
        except (pyarrow.ArrowException, TypeError, ValueError) as exc:
            raise self.error(f"rows do not fit one Parquet schema: {exc}") from None
        sink = io.BytesIO()
        pq.write_table(arrow, sink)
        return sink.getvalue()


def _check_table(adapter: _FilesAdapter, rows: Any) -> list[dict[str, Any]]:
    if isinstance(rows, (str, bytes, Mapping)) or not isinstance(rows, Iterable):
        raise adapter.error(f"rows must be a list of dict rows, got {type(rows).__name__}")
    table = list(rows)
    for index, row in enumerate(table):
        if not isinstance(row, Mapping):
            raise adapter.error(f"row {index} is a {type(row).__name__}, not a mapping")
    return [dict(row) for row in table]


def _csv_bytes(table: list[dict[str, Any]], delimiter: str) -> bytes:
    columns: dict[str, None] = {}
    for row in table:
        columns.update(dict.fromkeys(map(str, row)))
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(columns)
    for row in table:
        writer.writerow([_csv_cell(row.get(column)) for column in columns])
    return out.getvalue().encode("utf-8")


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _pyarrow_parquet(adapter: _FilesAdapter) -> Any:
    try:
        import pyarrow.parquet as pq  # type: ignore[import-untyped]
    except ImportError:
        raise adapter.error(
            "Parquet needs pyarrow, which is not installed: pip install 'dfm-adapter-files[parquet]'"
        ) from None
    return pq
