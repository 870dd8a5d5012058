"""Mergeable aggregates: partial results computed where the data is, combined elsewhere.

A *partial* is a small JSON-compatible dict that summarizes some rows without
holding them. Partials of the same kind computed at many sites merge into one
partial (:func:`merge`, associative and commutative), and :func:`finalize`
turns a partial into the value the user wants. For every split of the data,
``combine([partial(part) for part in parts]) == finalize(partial(whole))``.

Partial format (version 1; ``dfm-adapter-sql``'s ``sql.Aggregate`` produces the same)::

    {"kind": "count",     "count": 12}
    {"kind": "sum",       "sum": 1530}
    {"kind": "mean",      "sum": 1530, "count": 12}          # finalize: sum / count, None if empty
    {"kind": "min",       "min": 97}                         # None if empty
    {"kind": "max",       "max": 181}
    {"kind": "histogram", "edges": [0, 40, 65, 120], "counts": [3, 5, 4], "outside": 0}

Grouped with ``by``: ``{"kind": K, "by": "cohort", "groups": {key: <partial of kind K>}}``,
finalized to ``{key: value}``. Group keys are strings: a string value is used
as is, any other value is written as JSON (``1`` -> ``"1"``, ``None`` ->
``"null"``, ``True`` -> ``"true"``).

Missing values (``None``, or a row without the field) are skipped, as SQL
aggregates skip NULL. Histogram bins are half-open ``[e[i], e[i+1])`` except
the last, which includes its upper edge; values outside the edges are counted
in ``outside``.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from difflib import get_close_matches
from functools import reduce
from typing import Any

from dfm.kernel.errors import DfmError

__all__ = [
    "KINDS",
    "AggregateError",
    "combine",
    "empty",
    "finalize",
    "group_key",
    "merge",
    "partial",
]

KINDS = ("count", "sum", "mean", "min", "max", "histogram")
_FIELDS = {
    "count": ("count",),
    "sum": ("sum",),
    "mean": ("sum", "count"),
    "min": ("min",),
    "max": ("max",),
    "histogram": ("edges", "counts", "outside"),
}


class AggregateError(DfmError, ValueError):
    """Bad input for an aggregate: the message names the adapter and what is wrong."""


def group_key(value: Any) -> str:
    """The string key of a group: strings as they are, anything else as JSON."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        return repr(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_edges(edges: Any, who: str) -> list[float]:
    if isinstance(edges, (str, bytes)) or not isinstance(edges, Sequence):
        raise AggregateError(f"{who}: edges must be a list of numbers, got {type(edges).__name__}")
    out = list(edges)
    if len(out) < 2:
        raise AggregateError(f"{who}: a histogram needs at least two edges, got {len(out)}")
    for value in out:
        if not _is_number(value) or (isinstance(value, float) and not math.isfinite(value)):
            raise AggregateError(f"{who}: edges must be finite numbers, got {value!r}")
    if any(b <= a for a, b in itertools.pairwise(out)):
        raise AggregateError(f"{who}: edges must be strictly increasing, got {out}")
    return out


def empty(kind: str, edges: Sequence[float] | None = None, *, who: str = "aggregate") -> dict[str, Any]:
    """The partial of no data."""
    if kind == "count":
        return {"kind": "count", "count": 0}
    if kind == "sum":
        return {"kind": "sum", "sum": 0}
    if kind == "mean":
        return {"kind": "mean", "sum": 0, "count": 0}
    if kind in ("min", "max"):
        return {"kind": kind, kind: None}
    if kind == "histogram":
        checked = _check_edges(edges, who)
        return {"kind": "histogram", "edges": checked, "counts": [0] * (len(checked) - 1), "outside": 0}
    raise AggregateError(f"{who}: unknown aggregate kind {kind!r} (known: {', '.join(KINDS)})")


def _rows(data: Any, who: str) -> list[Any]:
    if isinstance(data, (str, bytes, Mapping)) or not isinstance(data, Iterable):
        raise AggregateError(f"{who}: data must be a list of rows or values, got {type(data).__name__}")
    return list(data)


def _field_values(rows: list[Any], field: str | None, who: str) -> list[Any]:
    """The values to aggregate: the rows themselves, or each row's ``field``."""
    if field is None:
        return rows
    values = []
    seen_keys: set[str] = set()
    found = False
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise AggregateError(
                f"{who}: row {index} is a {type(row).__name__}, not a mapping; "
                "pass a table (a list of dict rows) with field, or a list of values without it"
            )
        if field in row:
            found = True
        elif not found and len(seen_keys) < 1000:
            seen_keys.update(str(k) for k in row)
        values.append(row.get(field))
    if rows and not found:
        hint = get_close_matches(field, sorted(seen_keys), n=1)
        known = ", ".join(sorted(seen_keys)) or "none"
        raise AggregateError(
            f"{who}: no row has field '{field}'"
            + (f"; did you mean '{hint[0]}'?" if hint else "")
            + f" (fields: {known})"
        )
    return values


def _ungrouped(kind: str, values: list[Any], edges: list[float] | None, who: str) -> dict[str, Any]:
    present = [v for v in values if v is not None]
    if kind == "count":
        return {"kind": "count", "count": len(present)}
    if kind in ("sum", "mean", "histogram"):
        for value in present:
            if not _is_number(value):
                raise AggregateError(f"{who}: {kind} needs numbers, got {value!r}")
    if kind == "sum":
        return {"kind": "sum", "sum": sum(present)}
    if kind == "mean":
        return {"kind": "mean", "sum": sum(present), "count": len(present)}
    if kind in ("min", "max"):
        if present:
            numbers = all(_is_number(v) for v in present)
            strings = all(isinstance(v, str) for v in present)
            if not (numbers or strings):
                kinds = sorted({type(v).__name__ for v in present})
                raise AggregateError(
                    f"{who}: {kind} needs all numbers or all strings, got {', '.join(kinds)}"
                )
        best = (min if kind == "min" else max)(present) if present else None
        return {"kind": kind, kind: best}
    assert kind == "histogram" and edges is not None
    counts = [0] * (len(edges) - 1)
    outside = 0
    last = len(edges) - 2
    for value in present:
        if value == edges[-1]:
            counts[last] += 1
            continue
        index = bisect.bisect_right(edges, value) - 1
        if 0 <= index <= last:
            counts[index] += 1
        else:
            outside += 1
    return {"kind": "histogram", "edges": list(edges), "counts": counts, "outside": outside}


def partial(
    kind: str,
    data: Any,
    *,
    field: str | None = None,
    by: str | None = None,
    edges: Sequence[float] | None = None,
    who: str = "aggregate",
) -> dict[str, Any]:
    """The partial of ``kind`` over ``data``.

    ``data`` is a table (list of dict rows) read through ``field``, or a list
    of plain values when ``field`` is None. ``by`` names the field whose
    value groups the rows (needs a table). ``edges`` is required for
    ``histogram``. ``who`` prefixes error messages (the adapter's registry name).
    """
    if kind not in KINDS:
        raise AggregateError(f"{who}: unknown aggregate kind {kind!r} (known: {', '.join(KINDS)})")
    checked = _check_edges(edges, who) if kind == "histogram" else None
    rows = _rows(data, who)
    if by is None:
        return _ungrouped(kind, _field_values(rows, field, who), checked, who)
    if field is None and kind != "count":
        raise AggregateError(f"{who}: grouping by '{by}' needs field: the field to aggregate")
    keys = _field_values(rows, by, who)
    values = rows if field is None else _field_values(rows, field, who)
    members: dict[str, list[Any]] = {}
    for key, value in zip(keys, values, strict=True):
        members.setdefault(group_key(key), []).append(value)
    groups = {key: _ungrouped(kind, members[key], checked, who) for key in sorted(members)}
    return {"kind": kind, "by": by, "groups": groups}


def _check_partial(value: Any, who: str) -> dict[str, Any]:
    if not isinstance(value, Mapping) or value.get("kind") not in KINDS:
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        raise AggregateError(
            f"{who}: expected a partial aggregate (a dict with 'kind' in {', '.join(KINDS)}), got {shown}"
        )
    kind = value["kind"]
    if "groups" in value:
        if not isinstance(value["groups"], Mapping):
            raise AggregateError(f"{who}: the groups of a grouped {kind} partial must be a mapping")
        for group in value["groups"].values():
            if not isinstance(group, Mapping) or group.get("kind") != kind:
                raise AggregateError(f"{who}: a grouped {kind} partial holds a group of another kind")
            _check_fields(group, kind, who)
    else:
        _check_fields(value, kind, who)
    return dict(value)


def _check_fields(value: Mapping[str, Any], kind: str, who: str) -> None:
    missing = [name for name in _FIELDS[kind] if name not in value]
    if missing:
        raise AggregateError(f"{who}: a {kind} partial lacks {', '.join(missing)}")


def _merge_ungrouped(left: Mapping[str, Any], right: Mapping[str, Any], who: str) -> dict[str, Any]:
    kind = left["kind"]
    if kind == "count":
        return {"kind": "count", "count": left["count"] + right["count"]}
    if kind == "sum":
        return {"kind": "sum", "sum": left["sum"] + right["sum"]}
    if kind == "mean":
        return {"kind": "mean", "sum": left["sum"] + right["sum"], "count": left["count"] + right["count"]}
    if kind in ("min", "max"):
        present = [v for v in (left[kind], right[kind]) if v is not None]
        try:
            best = (min if kind == "min" else max)(present) if present else None
        except TypeError:
            raise AggregateError(
                f"{who}: cannot compare {kind} values {present[0]!r} and {present[1]!r}"
            ) from None
        return {"kind": kind, kind: best}
    if list(left["edges"]) != list(right["edges"]):
        raise AggregateError(
            f"{who}: cannot merge histograms with different edges: "
            f"{list(left['edges'])} and {list(right['edges'])}"
        )
    counts = [a + b for a, b in zip(left["counts"], right["counts"], strict=True)]
    return {
        "kind": "histogram",
        "edges": list(left["edges"]),
        "counts": counts,
        "outside": left["outside"] + right["outside"],
    }


def merge(left: Any, right: Any, *, who: str = "aggregate") -> dict[str, Any]:
    """One partial summarizing the data of two partials of the same kind (and grouping)."""
    a = _check_partial(left, who)
    b = _check_partial(right, who)
    if a["kind"] != b["kind"]:
        raise AggregateError(f"{who}: cannot merge a '{a['kind']}' partial with a '{b['kind']}' partial")
    if ("groups" in a) != ("groups" in b) or a.get("by") != b.get("by"):

        def shape(p: Mapping[str, Any]) -> str:
            return f"grouped by '{p.get('by')}'" if "groups" in p else "ungrouped"

        raise AggregateError(f"{who}: cannot merge a partial {shape(a)} with one {shape(b)}")
    if "groups" not in a:
        return _merge_ungrouped(a, b, who)
    groups = dict(a["groups"])
    for key, group in b["groups"].items():
        groups[key] = _merge_ungrouped(groups[key], group, who) if key in groups else dict(group)
    return {"kind": a["kind"], "by": a["by"], "groups": {key: groups[key] for key in sorted(groups)}}


def _finalize_ungrouped(value: Mapping[str, Any]) -> Any:
    kind = value["kind"]
    if kind == "mean":
        return value["sum"] / value["count"] if value["count"] else None
    if kind == "histogram":
        return {"edges": list(value["edges"]), "counts": list(value["counts"]), "outside": value["outside"]}
    return value[kind]


def finalize(value: Any, *, who: str = "aggregate") -> Any:
    """The user-facing value of a partial: a number (or None), a histogram, or ``{group: value}``."""
    checked = _check_partial(value, who)
    if "groups" in checked:
        return {key: _finalize_ungrouped(checked["groups"][key]) for key in sorted(checked["groups"])}
    return _finalize_ungrouped(checked)


def combine(partials: Any, *, who: str = "aggregate") -> Any:
    """Merge a list of partials of one kind and finalize the result."""
    items = _rows(partials, who)
    if not items:
        raise AggregateError(f"{who}: needs at least one partial to combine")
    return finalize(reduce(lambda a, b: merge(a, b, who=who), items), who=who)
