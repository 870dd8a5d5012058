"""Strict structuring hooks: a YAML value of the wrong kind is an error, never coerced.

cattrs' defaults call ``str(value)``, ``bool(value)`` and ``list(value)``, so
``adapter: [a, b]`` would become ``"['a', 'b']"`` and ``required: name`` would
become ``['n', 'a', 'm', 'e']``. These hooks accept only the YAML kinds that
mean the model type and raise :class:`WrongTypeError` otherwise. Integers are
accepted where a number (float) is expected; booleans never count as numbers.

One YAML quirk is smoothed over where a number is expected: YAML 1.1 (PyYAML)
reads ``1e9`` as a string, while YAML 1.2 and JSON read it as a number, and
configs written for NVIDIA DFM use it (``bandwidth: 1e9``). Such a string is
taken as the number only where the model wants a number; a string constant
stays a string.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Callable
from typing import Any

import cattrs
from cattrs.cols import list_structure_factory, mapping_structure_factory

from dfm.kernel.config.typenames import describe_value

StructureHook = Callable[[Any, Any], Any]


class WrongTypeError(TypeError):
    """A value of the wrong kind: "expected a string, found a list"."""

    def __init__(self, expected: str, value: Any) -> None:
        self.expected = expected
        self.value = value
        self.found = describe_value(value)
        super().__init__(f"expected {expected}, found {self.found}")


def _structure_str(value: Any, _type: Any) -> str:
    if isinstance(value, str):
        return value
    raise WrongTypeError("a string", value)


def _structure_int(value: Any, _type: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise WrongTypeError("an integer", value)


_EXPONENT_NUMBER = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+")


def _structure_float(value: Any, _type: Any) -> float:
    if isinstance(value, str) and _EXPONENT_NUMBER.fullmatch(value):
        value = float(value)  # inf for 1e999: refused below by the finite checks of each field
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:  # an integer of hundreds of digits
            raise WrongTypeError("a number within the range of a float", value) from None
    raise WrongTypeError("a number", value)


def _structure_bool(value: Any, _type: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise WrongTypeError("a boolean", value)


def require_mapping(hook: StructureHook) -> StructureHook:
    """Wrap a structure hook so that anything but a mapping is a :class:`WrongTypeError`."""

    def structure_mapping(value: Any, type_: Any) -> Any:
        if not isinstance(value, dict):
            raise WrongTypeError("a mapping", value)
        return hook(value, type_)

    return structure_mapping


def require_list(hook: StructureHook) -> StructureHook:
    """Wrap a structure hook so that anything but a list is a :class:`WrongTypeError`."""

    def structure_list(value: Any, type_: Any) -> Any:
        if not isinstance(value, list):
            raise WrongTypeError("a list", value)
        return hook(value, type_)

    return structure_list


def on_first_use(make: Callable[[], StructureHook]) -> StructureHook:
    """A structure hook that makes the real one (``make()``) when it is first called.

    cattrs makes a class's hook together with the hooks of all its fields' types, so
    structuring one config would generate and compile code for every section the format
    has; made on first use, only the sections a config holds cost anything.
    """
    made: list[StructureHook] = []  # two threads racing here make the same hook twice

    def structure(value: Any, type_: Any) -> Any:
        if not made:
            made.append(make())
        return made[0](value, type_)

    return structure


def _is_list(type_: Any) -> bool:
    return type_ is list or typing.get_origin(type_) is list


def _is_dict(type_: Any) -> bool:
    return type_ is dict or typing.get_origin(type_) is dict


def install(conv: cattrs.Converter) -> None:
    """Register the strict hooks on ``conv`` (scalars, lists and dicts)."""
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(int, _structure_int)
    conv.register_structure_hook(float, _structure_float)
    conv.register_structure_hook(bool, _structure_bool)
    conv.register_structure_hook_factory(
        _is_list, lambda type_: on_first_use(lambda: require_list(list_structure_factory(type_, conv)))
    )
    conv.register_structure_hook_factory(
        _is_dict, lambda type_: on_first_use(lambda: require_mapping(mapping_structure_factory(type_, conv)))
    )
