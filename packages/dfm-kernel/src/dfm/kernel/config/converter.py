"""The one cattrs converter for configs: YAML key names, forbidden extra keys, bindings.

Key renames come from field metadata (:func:`dfm.kernel.config.models.yaml_key`),
so one table drives structuring, unstructuring and error paths.
"""

from __future__ import annotations

from typing import Any

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from cattrs.preconf.pyyaml import make_converter

from dfm.kernel.config import strict
from dfm.kernel.config.models import (
    BINDING_KEYS,
    FROM_OPERATION,
    Args,
    Binding,
    yaml_key,
)
from dfm.kernel.config.typenames import describe_value


class BindingShapeError(ValueError):
    """A binding mapping does not have exactly one known key."""


def _structure_binding(value: Any, _type: Any) -> Binding:
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
    return {a.name: override(rename=yaml_key(a)) for a in attrs.fields(cls) if yaml_key(a) != a.name}


def _make() -> cattrs.Converter:
    conv = make_converter(forbid_extra_keys=True)
    strict.install(conv)  # no silent coercion: str(list), list(str), bool(str)
    conv.register_structure_hook_factory(
        attrs.has,
        lambda cls: strict.require_mapping(
            make_dict_structure_fn(cls, conv, _cattrs_forbid_extra_keys=True, **_overrides(cls))
        ),
    )
    conv.register_unstructure_hook_factory(
        attrs.has,
        lambda cls: make_dict_unstructure_fn(cls, conv, _cattrs_omit_if_default=True, **_overrides(cls)),
    )
    conv.register_structure_hook(Binding, _structure_binding)
    conv.register_structure_hook_func(lambda t: t == Args, _structure_args)
    return conv


converter: cattrs.Converter = _make()
