"""Turn cattrs structuring errors into findings, one per bad node.

The shape of :func:`cattrs.transform_error`, re-implemented: class errors
carry attribute notes (mapped back to YAML keys through
:func:`~dfm.kernel.config.models.yaml_key`), iterable errors carry index or
key notes, forbidden extra keys become one finding per key with a
did-you-mean against the class's keys. The raw data is walked alongside, so
messages can say what was found.
"""

from __future__ import annotations

import datetime
from typing import Any

import attrs
from cattrs.errors import (
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
)

from dfm.kernel.config import pointers
from dfm.kernel.config.converter import BindingShapeError
from dfm.kernel.config.locations import Finding
from dfm.kernel.config.models import BINDING_KEYS, FROM_OPERATION, Args, is_internal, yaml_key
from dfm.kernel.config.strict import WrongTypeError
from dfm.kernel.config.typenames import describe_type, describe_value
from dfm.kernel.suggest import did_you_mean

_MAPPING_KEY_NOTE = "Structuring mapping key"


def structure_findings(exc: BaseException, data: Any, type_: Any) -> list[Finding]:
    """Every problem in ``exc`` (raised structuring ``data`` as ``type_``) as a finding."""
    found: list[Finding] = []
    _walk(exc, "", data, type_, found)
    return found


def _walk(exc: BaseException, pointer: str, raw: Any, type_: Any, found: list[Finding]) -> None:
    if isinstance(exc, ClassValidationError):
        _walk_class(exc, pointer, raw, found)
    elif isinstance(exc, IterableValidationError):
        with_notes, without = exc.group_exceptions()
        for sub, note in with_notes:
            child = pointers.join(pointer, note.index)
            if note.startswith(_MAPPING_KEY_NOTE):
                _leaf(sub, child, note.index, note.type, found, at_key=True)
            else:
                _walk(sub, child, _item(raw, note.index), note.type, found)
        for sub in without:
            _leaf(sub, pointer, raw, type_, found)
    else:
        _leaf(exc, pointer, raw, type_, found)


def _walk_class(exc: ClassValidationError, pointer: str, raw: Any, found: list[Finding]) -> None:
    fields = {field.name: field for field in attrs.fields(exc.cl)}
    with_notes, without = exc.group_exceptions()
    for sub, note in with_notes:
        field = fields.get(note.name)
        key = yaml_key(field) if field is not None else note.name
        if isinstance(sub, KeyError) and isinstance(raw, dict) and key not in raw:
            found.append(Finding(pointer, f"missing required key '{key}'"))
            continue
        _walk(sub, pointers.join(pointer, key), _item(raw, key), note.type, found)
    for sub in without:
        if isinstance(sub, ForbiddenExtraKeysError):
            valid = [yaml_key(field) for field in attrs.fields(sub.cl) if not is_internal(field)]
            binding = sub.cl in BINDING_KEYS.values()
            for extra in sorted(sub.extra_fields, key=pointers.segment):
                name = pointers.segment(extra)
                if binding:
                    message = f"unknown key '{name}': a binding has exactly one of {', '.join(BINDING_KEYS)}"
                    hint = did_you_mean(name, BINDING_KEYS)
                else:
                    message = f"unknown key '{name}'"
                    hint = did_you_mean(name, valid) or f"valid keys: {', '.join(valid)}"
                found.append(Finding(pointers.join(pointer, extra), message, hint, at_key=True))
        else:
            _leaf(sub, pointer, raw, exc.cl, found)


def _leaf(
    exc: BaseException, pointer: str, raw: Any, type_: Any, found: list[Finding], at_key: bool = False
) -> None:
    if isinstance(exc, WrongTypeError):
        what = f"{exc.expected} key" if at_key else exc.expected
        found.append(Finding(pointer, f"expected {what}, found {exc.found}", _type_hint(exc, at_key), at_key))
    elif isinstance(exc, BindingShapeError):
        found.append(_binding_finding(exc, pointer, raw, type_))
    elif isinstance(exc, ClassValidationError | IterableValidationError):
        _walk(exc, pointer, raw, type_, found)
    elif isinstance(exc, KeyError):
        found.append(Finding(pointer, f"missing required key '{exc.args[0]}'"))
    else:  # not raised by our hooks; say what was expected and what is there
        found.append(
            Finding(
                pointer,
                f"invalid value: expected {describe_type(type_)}, found {describe_value(raw)}",
                None,
                at_key,
            )
        )


def _type_hint(exc: WrongTypeError, at_key: bool) -> str | None:
    if exc.expected == "a string" and isinstance(exc.value, int | float | datetime.date):  # bool is an int
        return f"put the {'key' if at_key else 'value'} in quotes to make it a string"
    if exc.expected == "a boolean" and isinstance(exc.value, str):
        return "use true or false"
    return None


def _binding_finding(exc: BindingShapeError, pointer: str, raw: Any, type_: Any) -> Finding:
    message = str(exc)
    if type_ == Args:
        hint = did_you_mean(raw, [FROM_OPERATION]) if isinstance(raw, str) else None
        return Finding(pointer, message, hint)
    if isinstance(raw, dict):
        unknown = [key for key in raw if key not in BINDING_KEYS]
        if len(raw) == 1 and unknown:
            key = unknown[0]
            hint = did_you_mean(pointers.segment(key), BINDING_KEYS)
            return Finding(pointers.join(pointer, key), message, hint, at_key=True)
        return Finding(pointer, message)
    if raw is None or isinstance(raw, str | int | float):
        return Finding(pointer, message, "write {const: <value>} to pass a fixed value")
    return Finding(pointer, message)


def _item(raw: Any, key: Any) -> Any:
    if isinstance(raw, dict):
        return raw.get(key)
    if isinstance(raw, list) and isinstance(key, int) and 0 <= key < len(raw):
        return raw[key]
    return None
