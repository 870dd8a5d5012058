"""The adapter classes of dfm-adapter-builtin.

Every adapter is created once per site as ``cls(site, provider)`` and called
as ``body(**args)`` with the arguments its interface entry binds. All of them
are synchronous, pure and cheap: the runner calls them in its thread pool.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dfm.kernel.errors import DfmError
from dfm_adapter_builtin import aggregates

__all__ = [
    "Combine",
    "Const",
    "Count",
    "Echo",
    "Finalize",
    "Flatten",
    "Histogram",
    "Identity",
    "MapFields",
    "Max",
    "Mean",
    "Merge",
    "Min",
    "Sum",
]


class BuiltinError(DfmError, ValueError):
    """Bad input for a builtin adapter; the message starts with the adapter's registry name."""


class _Adapter:
    name = "builtin.?"

    def __init__(self, site: Any, provider: Any) -> None:
        self.site = site
        self.provider = provider


class Identity(_Adapter):
    """``builtin.Identity``: returns ``value`` unchanged (moves a value to another site)."""

    name = "builtin.Identity"

    def body(self, value: Any) -> Any:
        """Return ``value`` unchanged."""
        return value


class Const(_Adapter):
    """``builtin.Const``: returns ``value`` as bound by the site (``const`` or ``from-site``)."""

    name = "builtin.Const"

    def body(self, value: Any = None) -> Any:
        """Return the bound ``value`` (None if unbound)."""
        return value


class Echo(_Adapter):
    """``builtin.Echo``: returns ``value`` with the site and provider that saw it.

    Meant for trying bindings and placement out; never bind a secret to it.
    """

    name = "builtin.Echo"

    def body(self, value: Any = None) -> dict[str, Any]:
        """Return ``{"site": ..., "provider": ..., "value": value}``: the names of the site and provider
        (or None).
        """
        provider = getattr(self.provider, "name", None)
        return {"site": getattr(self.site, "name", None), "provider": provider, "value": value}


class Flatten(_Adapter):
    """``builtin.Flatten``: one list from a list of lists (other items are kept as they are)."""

    name = "builtin.Flatten"

    def body(self, items: Any) -> list[Any]:
        """Return one list of the items of ``items``, with list and tuple items spliced in; raises
        ``BuiltinError`` if ``items`` is not a list.
        """
        if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
            raise BuiltinError(f"{self.name}: items must be a list, got {type(items).__name__}")
        out: list[Any] = []
        for item in items:
            if isinstance(item, (list, tuple)):
                out.extend(item)
            else:
                out.append(item)
        return out


class MapFields(_Adapter):
    """``builtin.MapFields``: keep and rename the fields of each row of a table.

    ``fields`` is a list of field names to keep (in that order), or a mapping
    ``{old name: new name}``. A row without a listed field gets ``default``
    when ``strict`` is false, and is an error otherwise.
    """

    name = "builtin.MapFields"

    def body(self, rows: Any, fields: Any, strict: bool = True, default: Any = None) -> list[dict[str, Any]]:
        """Return the ``rows`` with only the ``fields`` kept (and renamed); raises ``BuiltinError`` on bad
        arguments or, when ``strict``, a missing field.
        """
        if isinstance(fields, Mapping):
            mapping = {str(old): str(new) for old, new in fields.items()}
        elif isinstance(fields, (list, tuple)) and all(isinstance(f, str) for f in fields):
            mapping = {f: f for f in fields}
        else:
            raise BuiltinError(
                f"{self.name}: fields must be a list of names or a mapping {{old: new}}, got {fields!r}"
            )
        if isinstance(rows, (str, bytes, Mapping)) or not isinstance(rows, Iterable):
            raise BuiltinError(f"{self.name}: rows must be a list of dict rows, got {type(rows).__name__}")
        out = []
        for index, row in enumerate(rows):
            if not isinstance(row, Mapping):
                raise BuiltinError(f"{self.name}: row {index} is a {type(row).__name__}, not a mapping")
            if strict:
                missing = [old for old in mapping if old not in row]
                if missing:
                    raise BuiltinError(
                        f"{self.name}: row {index} has no field {', '.join(repr(m) for m in missing)} "
                        f"(fields: {', '.join(map(str, row))})"
                    )
            out.append({new: row.get(old, default) for old, new in mapping.items()})
        return out


# -- aggregates -------------------------------------------------------------------------------


class _Aggregate(_Adapter):
    kind = "?"

    def body(self, data: Any, field: str | None = None, by: str | None = None) -> dict[str, Any]:
        return aggregates.partial(self.kind, data, field=field, by=by, who=self.name)


class Count(_Aggregate):
    """``builtin.Count``: partial count of rows (or of the non-missing values of ``field``)."""

    name = "builtin.Count"
    kind = "count"


class Sum(_Aggregate):
    """``builtin.Sum``: partial sum of ``field`` (or of plain values)."""

    name = "builtin.Sum"
    kind = "sum"


class Mean(_Aggregate):
    """``builtin.Mean``: partial mean (sum and count) of ``field``."""

    name = "builtin.Mean"
    kind = "mean"


class Min(_Aggregate):
    """``builtin.Min``: partial minimum of ``field``."""

    name = "builtin.Min"
    kind = "min"


class Max(_Aggregate):
    """``builtin.Max``: partial maximum of ``field``."""

    name = "builtin.Max"
    kind = "max"


class Histogram(_Adapter):
    """``builtin.Histogram``: partial histogram of ``field`` over fixed bin ``edges``."""

    name = "builtin.Histogram"

    def body(
        self, data: Any, edges: list[float], field: str | None = None, by: str | None = None
    ) -> dict[str, Any]:
        """Return the partial histogram of ``data`` (of ``field``, per ``by`` group if given) over the bin
        ``edges``.
        """
        return aggregates.partial("histogram", data, field=field, by=by, edges=edges, who=self.name)


class Merge(_Adapter):
    """``builtin.Merge``: one partial from two partials of the same kind (fold many with a chain)."""

    name = "builtin.Merge"

    def body(self, left: Any, right: Any) -> dict[str, Any]:
        """Return the partial merging ``left`` and ``right``."""
        return aggregates.merge(left, right, who=self.name)


class Finalize(_Adapter):
    """``builtin.Finalize``: the final value of a partial (a mean, a histogram, ``{group: value}``)."""

    name = "builtin.Finalize"

    def body(self, partial: Any) -> Any:
        """Return the final value of ``partial``."""
        return aggregates.finalize(partial, who=self.name)


class Combine(_Adapter):
    """``builtin.Combine``: the final value of a list of partials of one kind."""

    name = "builtin.Combine"

    def body(self, partials: Any) -> Any:
        """Return the final value of the list ``partials`` merged together."""
        return aggregates.combine(partials, who=self.name)
