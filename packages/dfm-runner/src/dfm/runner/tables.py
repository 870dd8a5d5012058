"""A job's results as a table: pandas DataFrame or Arrow table (optional dependencies).

One row per result, in arrival order, with the columns ``place`` (the Yield place),
``index`` (which parameter set of ``execute()`` produced it), ``frame`` (the full
frame: the index, then one iteration index per enclosing ForEach) and ``value``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from dfm.kernel.errors import DfmError

if TYPE_CHECKING:
    from dfm.runner.session import JobResult

COLUMNS = ("place", "index", "frame", "value")


class MissingDependencyError(DfmError):
    """An optional dependency (pandas, pyarrow) is not installed."""


def _require(module: str, distribution: str, extra: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(
            f"this needs {distribution}, which is not installed: pip install {distribution} "
            f"(or pip install 'dfm-runner[{extra}]')"
        ) from None


def columns(results: Iterable[JobResult], place: str | None = None) -> dict[str, list[Any]]:
    """The results as columns (:data:`COLUMNS`), only those of ``place`` if given."""
    out: dict[str, list[Any]] = {name: [] for name in COLUMNS}
    for result in results:
        if place is not None and result.place != place:
            continue
        out["place"].append(result.place)
        out["index"].append(result.index)
        out["frame"].append(tuple(result.frame))
        out["value"].append(result.value)
    return out


def to_pandas(results: Iterable[JobResult], place: str | None = None) -> Any:
    """A ``pandas.DataFrame`` of ``results`` (values kept as Python objects)."""
    pd = _require("pandas", "pandas", "pandas")
    data = columns(results, place)
    frame = pd.DataFrame({name: pd.Series(data[name], dtype=object) for name in COLUMNS})
    frame["place"] = frame["place"].astype("string")
    frame["index"] = frame["index"].astype("int64")
    return frame


def to_arrow(results: Iterable[JobResult], place: str | None = None) -> Any:
    """A ``pyarrow.Table`` of ``results``; the value column's type is inferred from the values."""
    pa = _require("pyarrow", "pyarrow", "arrow")
    data = columns(results, place)
    try:
        value = pa.array(data["value"])
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        where = f"place '{place}'" if place is not None else "all places together"
        raise DfmError(
            f"the values of {where} do not fit one Arrow column ({exc}); "
            "pass place=... for one place at a time, or use to_pandas()"
        ) from None
    return pa.table(
        {
            "place": pa.array(data["place"], pa.string()),
            "index": pa.array(data["index"], pa.int64()),
            "frame": pa.array([list(f) for f in data["frame"]], pa.list_(pa.int64())),
            "value": value,
        }
    )
