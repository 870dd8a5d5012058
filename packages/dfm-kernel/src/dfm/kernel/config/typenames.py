"""Human names of YAML values and of the types the config models expect.

Messages say "expected a string, found a list", never ``<class 'str'>``.
"""

from __future__ import annotations

import datetime
import types
import typing
from typing import Any, Literal, Union

import attrs


def describe_value(value: Any) -> str:
    """What a YAML value is, with an article: "a string", "a list", "null"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, datetime.datetime):
        return "a timestamp"
    if isinstance(value, datetime.date):
        return "a date"
    if isinstance(value, bytes):
        return "binary data"
    if isinstance(value, set | frozenset):
        return "a set"
    return "a value of an unsupported kind"


_SCALARS: dict[Any, str] = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}


def describe_type(tp: Any) -> str:
    """What a model type accepts, with an article: "a mapping", "a string or null"."""
    if tp in _SCALARS:
        return _SCALARS[tp]
    if tp is Any:
        return "any value"
    if attrs.has(tp):
        return "a mapping"
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " or ".join(repr(v) for v in typing.get_args(tp))
    if origin is Union or origin is types.UnionType:
        return " or ".join(dict.fromkeys(describe_type(arg) for arg in typing.get_args(tp)))
    if origin is dict or tp is dict:
        return "a mapping"
    if origin is list or tp is list:
        return "a list"
    return "a value of another kind"
