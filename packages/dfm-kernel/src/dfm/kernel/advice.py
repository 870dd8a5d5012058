"""Discovery advice: what a site's adapter says are valid values of an operation's fields.

An adapter advises with methods decorated ``@field_advisor("field", order=n)``::

    class Summary:
        @field_advisor("column", order=1)
        def columns(self, value, context):
            return AdvisedOneOf(["age", "systolic_bp"])

        @field_advisor("by", order=2)
        def group_by(self, value, context):  # context: fields decided earlier
            ...

``value`` is the field's value when the pipeline gives it as a literal (None when it asks
for advice with ``Advise()`` or a ``PlaceParam``); ``context`` maps the fields decided so
far (literals of the call, and fields an earlier advisor narrowed to one value) to their
values. An advisor returns one of the advice records below; anything it raises becomes an
:class:`AdvisedError`. Advisors run only in discovery, never the adapter's ``body``.

Advice travels as JSON-compatible data (:func:`advice_to_data` / :func:`advice_from_data`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

__all__ = [
    "Advice",
    "AdviceError",
    "AdvisedDateRange",
    "AdvisedDict",
    "AdvisedError",
    "AdvisedLiteral",
    "AdvisedOneOf",
    "AdvisedSubsetOf",
    "Okay",
    "advice_from_data",
    "advice_to_data",
    "advisors",
    "field_advisor",
]

MAX_ADVICE_DEPTH = 50  # nesting of advice and of the values it carries
MAX_ADVICE_ITEMS = 100_000  # values in one piece of advice


def _as_list(values: Iterable[Any]) -> list[Any]:
    return list(values)


def _as_dict(fields: Mapping[str, Any]) -> dict[str, Any]:
    return dict(fields)


@attrs.frozen
class Okay:
    """No advice: any value the operation accepts will do (or the value given is fine)."""


@attrs.frozen
class AdvisedOneOf:
    """The field takes one of ``values``."""

    values: list[Any] = attrs.field(converter=_as_list)


@attrs.frozen
class AdvisedSubsetOf:
    """The field takes a list of some of ``values``."""

    values: list[Any] = attrs.field(converter=_as_list)


@attrs.frozen
class AdvisedLiteral:
    """The field takes exactly ``value``."""

    value: Any


@attrs.frozen
class AdvisedDict:
    """The field is a mapping; ``fields`` advises on each of its keys."""

    fields: dict[str, Any] = attrs.field(converter=_as_dict)


@attrs.frozen
class AdvisedDateRange:
    """The field is a date (or a range of dates) between ``start`` and ``end`` (ISO 8601), inclusive."""

    start: str
    end: str


@attrs.frozen
class AdvisedError:
    """The site cannot serve the field (or the value given): ``message`` says why."""

    message: str


Advice = (
    Okay | AdvisedOneOf | AdvisedSubsetOf | AdvisedLiteral | AdvisedDict | AdvisedDateRange | AdvisedError
)
ADVICE_TYPES = (
    Okay,
    AdvisedOneOf,
    AdvisedSubsetOf,
    AdvisedLiteral,
    AdvisedDict,
    AdvisedDateRange,
    AdvisedError,
)

_ADVISOR = "__dfm_field_advisor__"


def field_advisor(field: str, order: int = 0) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark an adapter method as the advisor of ``field``; advisors run by ascending ``order``."""
    if not isinstance(field, str) or not field:
        raise TypeError("field_advisor() needs a field name")
    if type(order) is not int:
        raise TypeError("field_advisor(order=...) must be an int")

    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        setattr(fn, _ADVISOR, (field, order))
        return fn

    return mark


def advisors(instance: Any) -> list[tuple[str, Callable[..., Any]]]:
    """``(field, bound method)`` of ``instance``'s advisors, by ``order`` then method name."""
    found = []
    for name in dir(type(instance)):
        if name.startswith("__"):
            continue
        fn = getattr(type(instance), name, None)
        mark = getattr(fn, _ADVISOR, None)
        if isinstance(mark, tuple) and len(mark) == 2:
            found.append((mark[1], name, mark[0]))
    return [(field, getattr(instance, name)) for _order, name, field in sorted(found)]


class AdviceError(ValueError):
    """Data that is not well-formed advice, or a value advice cannot carry."""


_KINDS = {
    "okay": Okay,
    "one_of": AdvisedOneOf,
    "subset_of": AdvisedSubsetOf,
    "literal": AdvisedLiteral,
    "dict": AdvisedDict,
    "date_range": AdvisedDateRange,
    "error": AdvisedError,
}
_NAMES = {cls: name for name, cls in _KINDS.items()}


def _plain(value: Any, depth: int, count: list[int]) -> Any:
    """``value`` if it is JSON-compatible (lists for tuples), else AdviceError."""
    if depth > MAX_ADVICE_DEPTH:
        raise AdviceError(f"advice nests deeper than {MAX_ADVICE_DEPTH} levels")
    count[0] += 1
    if count[0] > MAX_ADVICE_ITEMS:
        raise AdviceError(f"advice carries more than {MAX_ADVICE_ITEMS} values")
    if value is None or type(value) in (str, bool, int):
        return value
    if type(value) is float:
        if not math.isfinite(value):
            raise AdviceError("advice carries a non-finite number")
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v, depth + 1, count) for v in value]
    if isinstance(value, dict):
        out = {}
        for key, v in value.items():
            if not isinstance(key, str):
                raise AdviceError("advice carries a mapping with a key that is not a string")
            out[key] = _plain(v, depth + 1, count)
        return out
    raise AdviceError(f"advice carries a {type(value).__name__}, which is not JSON-compatible")


def advice_to_data(advice: Any, _depth: int = 0, _count: list[int] | None = None) -> dict[str, Any]:
    """The JSON-compatible form of one piece of advice (AdviceError if it is not advice)."""
    count = [0] if _count is None else _count
    if _depth > MAX_ADVICE_DEPTH:
        raise AdviceError(f"advice nests deeper than {MAX_ADVICE_DEPTH} levels")
    kind = _NAMES.get(type(advice))
    if kind is None:
        raise AdviceError(
            f"an advisor returned a {type(advice).__name__}, not one of "
            + ", ".join(cls.__name__ for cls in ADVICE_TYPES)
        )
    data: dict[str, Any] = {"kind": kind}
    if isinstance(advice, (AdvisedOneOf, AdvisedSubsetOf)):
        data["values"] = _plain(list(advice.values), _depth + 1, count)
    elif isinstance(advice, AdvisedLiteral):
        data["value"] = _plain(advice.value, _depth + 1, count)
    elif isinstance(advice, AdvisedDict):
        fields = {}
        for key, inner in advice.fields.items():
            if not isinstance(key, str):
                raise AdviceError("AdvisedDict keys must be strings")
            fields[key] = advice_to_data(inner, _depth + 1, count)
        data["fields"] = fields
    elif isinstance(advice, AdvisedDateRange):
        data["start"], data["end"] = str(advice.start), str(advice.end)
    elif isinstance(advice, AdvisedError):
        data["message"] = str(advice.message)
    return data


def advice_from_data(data: Any, _depth: int = 0, _count: list[int] | None = None) -> Any:
    """Advice from its JSON-compatible form, checking its shape (AdviceError if malformed)."""
    count = [0] if _count is None else _count
    if _depth > MAX_ADVICE_DEPTH:
        raise AdviceError(f"advice nests deeper than {MAX_ADVICE_DEPTH} levels")
    if not isinstance(data, dict) or not isinstance(data.get("kind"), str):
        raise AdviceError("advice must be a mapping with a 'kind'")
    cls = _KINDS.get(data["kind"])
    if cls is None:
        raise AdviceError("unknown kind of advice")
    expected = {
        Okay: set(),
        AdvisedOneOf: {"values"},
        AdvisedSubsetOf: {"values"},
        AdvisedLiteral: {"value"},
        AdvisedDict: {"fields"},
        AdvisedDateRange: {"start", "end"},
        AdvisedError: {"message"},
    }[cls]
    if set(data) - {"kind"} != expected:
        raise AdviceError(f"{cls.__name__} with fields {sorted(set(data) - {'kind'})!r}")
    if cls in (AdvisedOneOf, AdvisedSubsetOf):
        if not isinstance(data["values"], list):
            raise AdviceError(f"{cls.__name__}.values must be a list")
        return cls(_plain(data["values"], _depth + 1, count))
    if cls is AdvisedLiteral:
        return AdvisedLiteral(_plain(data["value"], _depth + 1, count))
    if cls is AdvisedDict:
        if not isinstance(data["fields"], dict) or not all(isinstance(k, str) for k in data["fields"]):
            raise AdviceError("AdvisedDict.fields must map strings to advice")
        return AdvisedDict({k: advice_from_data(v, _depth + 1, count) for k, v in data["fields"].items()})
    if cls is AdvisedDateRange:
        if not (isinstance(data["start"], str) and isinstance(data["end"], str)):
            raise AdviceError("AdvisedDateRange start and end must be strings")
        return AdvisedDateRange(data["start"], data["end"])
    if cls is AdvisedError:
        if not isinstance(data["message"], str):
            raise AdviceError("AdvisedError.message must be a string")
        return AdvisedError(data["message"])
    return Okay()


def decided(advice: Any) -> tuple[bool, Any]:
    """``(True, value)`` when ``advice`` narrows its field to exactly one value."""
    if isinstance(advice, AdvisedLiteral):
        return True, advice.value
    if isinstance(advice, AdvisedOneOf) and len(advice.values) == 1:
        return True, advice.values[0]
    return False, None
