"""The one cattrs converter for configs: YAML key names, forbidden extra keys, bindings.

Key renames come from field metadata (:func:`dfm.kernel.config.models.yaml_key`),
so one table drives structuring, unstructuring and error paths.
"""

from __future__ import annotations

import functools
from typing import Any

import attrs
import cattrs
from cattrs.errors import AttributeValidationNote, ClassValidationError
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from cattrs.preconf.pyyaml import make_converter

from dfm.kernel.config import strict
from dfm.kernel.config.models import (
    BINDING_KEYS,
    EXTRA,
    FROM_OPERATION,
    Args,
    Binding,
    FromParam,
    ImplRef,
    InterfaceEntry,
    is_internal,
    is_open,
    yaml_key,
)
from dfm.kernel.config.typenames import describe_value


class BindingShapeError(ValueError):
    """A binding mapping does not have exactly one known key."""


def _structure_binding(value: Any, _type: Any) -> Binding:
    if isinstance(value, str):  # the reference's short form: a plain string is a from-param
        return FromParam(value)
    if not isinstance(value, dict):
        raise BindingShapeError(
            f"expected a binding mapping with one of {', '.join(BINDING_KEYS)}, found {describe_value(value)}"
        )
    keys = [k for k in value if k in BINDING_KEYS]
    if len(keys) != 1:
        found = ", ".join(map(str, value)) or "an empty mapping"
        raise BindingShapeError(f"expected exactly one of {', '.join(BINDING_KEYS)}, found {found}")
    return converter.structure(value, BINDING_KEYS[keys[0]])  # type: ignore[no-any-return]


def _structure_args(value: Any, _type: Any) -> str | dict[str, Binding]:
    if value == FROM_OPERATION:
        return FROM_OPERATION
    if not isinstance(value, dict):
        found = f"'{value}'" if isinstance(value, str) else describe_value(value)
        raise BindingShapeError(f"expected '{FROM_OPERATION}' or a mapping of bindings, found {found}")
    # Through the converter, so that every bad binding is reported, each under its key.
    return converter.structure(value, dict[str, Binding])


def _overrides(cls: type) -> dict[str, Any]:
    out = {}
    for a in attrs.fields(cls):
        if is_internal(a):
            out[a.name] = override(omit=True)
        elif yaml_key(a) != a.name:
            out[a.name] = override(rename=yaml_key(a))
    return out


def _structure_class(conv: cattrs.Converter, cls: type) -> Any:
    return strict.on_first_use(lambda: _make_structure_class(conv, cls))


def _make_structure_class(conv: cattrs.Converter, cls: type) -> Any:
    base: Any = make_dict_structure_fn(cls, conv, _cattrs_forbid_extra_keys=True, **_overrides(cls))
    if not is_open(cls):
        return strict.require_mapping(base)
    known = {yaml_key(a) for a in attrs.fields(cls) if not is_internal(a)}

    def structure_open(value: dict[Any, Any], type_: Any) -> Any:
        extra = {k: v for k, v in value.items() if k not in known}
        made = base({k: v for k, v in value.items() if k in known}, type_)
        return attrs.evolve(made, **{EXTRA: extra}) if extra else made

    return strict.require_mapping(structure_open)


def _unstructure_class(conv: cattrs.Converter, cls: type) -> Any:
    base: Any = make_dict_unstructure_fn(cls, conv, _cattrs_omit_if_default=True, **_overrides(cls))
    if is_open(cls):
        return lambda obj: {**conv.unstructure(getattr(obj, EXTRA)), **base(obj)}
    return base


def _structure_impl(value: Any, _type: Any) -> ImplRef:
    if isinstance(value, str):  # a bare dotted path
        return ImplRef(value)
    return _impl_fn(value, ImplRef)  # type: ignore[no-any-return]


def _structure_entry(value: Any, type_: Any) -> InterfaceEntry:
    """``adapter: {path, args}`` is the path plus constructor keyword arguments."""
    adapter = value.get("adapter") if isinstance(value, dict) else None
    if not isinstance(adapter, dict):
        return _entry_fn(value, type_)  # type: ignore[no-any-return]
    errors: list[Exception] = []
    ref = None
    try:
        ref = _impl_fn(adapter, ImplRef)
    except Exception as exc:  # reported under /adapter, with the entry's other problems
        exc.__notes__ = [  # type: ignore[attr-defined,unused-ignore]
            *getattr(exc, "__notes__", []),
            AttributeValidationNote(
                "Structuring class InterfaceEntry @ attribute adapter", "adapter", ImplRef
            ),
        ]
        errors.append(exc)
    try:
        entry = _entry_fn({**value, "adapter": ref.path if ref else "x"}, type_)
    except ClassValidationError as exc:
        errors.extend(exc.exceptions)
    if errors:
        raise ClassValidationError("While structuring InterfaceEntry", errors, InterfaceEntry)
    assert ref is not None
    made: InterfaceEntry = attrs.evolve(entry, adapter_args=dict(ref.args))
    return made


@functools.cache
def _entry_unfn() -> Any:
    """The generated unstructure hook of InterfaceEntry, made on first use (loading never needs it)."""
    return _unstructure_class(converter, InterfaceEntry)


def _unstructure_entry(entry: InterfaceEntry) -> dict[str, Any]:
    data: dict[str, Any] = _entry_unfn()(entry)
    if entry.adapter_args:
        data["adapter"] = {"path": entry.adapter, "args": converter.unstructure(entry.adapter_args)}
    return data


def _make() -> cattrs.Converter:
    conv = make_converter(forbid_extra_keys=True)
    strict.install(conv)  # no silent coercion: str(list), list(str), bool(str)
    conv.register_structure_hook_factory(attrs.has, lambda cls: _structure_class(conv, cls))
    conv.register_unstructure_hook_factory(attrs.has, lambda cls: _unstructure_class(conv, cls))
    conv.register_structure_hook(Binding, _structure_binding)
    conv.register_structure_hook_func(lambda t: t == Args, _structure_args)
    return conv


converter: cattrs.Converter = _make()
_impl_fn = _structure_class(converter, ImplRef)
_entry_fn = _structure_class(converter, InterfaceEntry)
converter.register_structure_hook(ImplRef, _structure_impl)
converter.register_structure_hook(InterfaceEntry, _structure_entry)
converter.register_unstructure_hook(InterfaceEntry, _unstructure_entry)
