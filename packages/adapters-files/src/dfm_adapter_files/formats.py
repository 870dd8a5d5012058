"""Table formats: CSV (``.csv``; ``.tsv`` with a tab delimiter), JSON lines (``.jsonl``,
``.ndjson``) and Parquet (``.parquet``, ``.pq``; needs pyarrow, imported only then).

A table is a list of dict rows with JSON-compatible values.
"""

from __future__ import annotations

import csv
import datetime
import decimal
import io
import json
import posixpath
import re
from collections.abc import Iterable, Mapping
from typing import Any

import fsspec  # type: ignore[import-untyped]

from dfm_adapter_files.roots import FilesAdapter

__all__ = [
    "FORMATS",
    "check_table",
    "convert_cell",
    "csv_bytes",
    "jsonable",
    "parquet_bytes",
    "read_csv",
    "read_jsonl",
    "read_parquet",
    "table_format",
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


def table_format(
    adapter: FilesAdapter, path: str, format: str | None, delimiter: str | None
) -> tuple[str, str]:
    """``(format, delimiter)`` of a table file: as given, else from its suffix."""
    suffix = posixpath.splitext(path)[1].lower()
    guessed, default_delimiter = _SUFFIXES.get(suffix, (None, None))
    chosen = format or guessed
    if chosen not in FORMATS:
        if format is not None:
            raise adapter.error(f"unknown table format {format!r} (known: {', '.join(FORMATS)})")
        raise adapter.error(
            f"cannot tell the table format of {path!r} from its suffix; pass format ({', '.join(FORMATS)})"
        )
    return chosen, delimiter or default_delimiter or ","


def read_csv(text: str, delimiter: str, convert: bool, limit: int | None) -> list[dict[str, Any]]:
    """CSV rows as dicts, cells converted by :func:`convert_cell` when ``convert``."""
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


def read_jsonl(adapter: FilesAdapter, text: str, path: str, limit: int | None) -> list[dict[str, Any]]:
    """JSON-lines rows; a line that is not a JSON object is an error naming its number."""
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(text.split("\n"), start=1):  # not splitlines: \x85 is text
        if limit is not None and len(rows) >= limit:
            break
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise adapter.error(f"{path}:{number}: not JSON: {exc.msg}") from None
        if not isinstance(row, dict):
            raise adapter.error(f"{path}:{number}: each line must be a JSON object, got {type(row).__name__}")
        rows.append(row)
    return rows


def read_parquet(
    adapter: FilesAdapter,
    fs: fsspec.AbstractFileSystem,
    full: str,
    path: str,
    columns: list[str] | None,
    limit: int | None,
) -> list[dict[str, Any]]:
    """A Parquet file's rows (only ``columns``; at most ``limit``), values made JSON-compatible."""
    pq = _pyarrow_parquet(adapter)
    try:
        with fs.open(full, "rb") as handle:
            table = pq.read_table(handle, columns=list(columns) if columns is not None else None)
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, KeyError...
        raise adapter.error(f"cannot read {path!r} as Parquet: {type(exc).__name__}: {exc}") from None
    if limit is not None:
        table = table.slice(0, limit)
    return [jsonable(row) for row in table.to_pylist()]


def parquet_bytes(adapter: FilesAdapter, table: list[dict[str, Any]]) -> bytes:
    """A table as a Parquet file (one schema for every row)."""
    pq = _pyarrow_parquet(adapter)
    import pyarrow  # type: ignore[import-untyped]

    if not table:
        raise adapter.error("cannot write an empty table as Parquet: it has no columns to describe")
    try:
        arrow = pyarrow.Table.from_pylist(table)
    except (pyarrow.ArrowException, TypeError, ValueError) as exc:
        raise adapter.error(f"rows do not fit one Parquet schema: {exc}") from None
    sink = io.BytesIO()
    pq.write_table(arrow, sink)
    return sink.getvalue()


def check_table(adapter: FilesAdapter, rows: Any) -> list[dict[str, Any]]:
    """``rows`` as a list of dict rows, or an error saying what is not a row."""
    if isinstance(rows, (str, bytes, Mapping)) or not isinstance(rows, Iterable):
        raise adapter.error(f"rows must be a list of dict rows, got {type(rows).__name__}")
    table = list(rows)
    for index, row in enumerate(table):
        if not isinstance(row, Mapping):
            raise adapter.error(f"row {index} is a {type(row).__name__}, not a mapping")
    return [dict(row) for row in table]


def csv_bytes(table: list[dict[str, Any]], delimiter: str) -> bytes:
    """A table as CSV: the columns of every row, in order of first appearance."""
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


def _pyarrow_parquet(adapter: FilesAdapter) -> Any:
    try:
        import pyarrow.parquet as pq  # type: ignore[import-untyped]
    except ImportError:
        raise adapter.error(
            "Parquet needs pyarrow, which is not installed: pip install 'dfm-adapter-files[parquet]'"
        ) from None
    return pq
