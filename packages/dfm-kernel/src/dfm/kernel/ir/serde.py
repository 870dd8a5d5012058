"""JSON (un)structuring of the IRs: one cattrs converter, unions tagged by ``kind``.

The converter (``ir_converter``) is built on first use, not at import: building it
resolves and registers every IR class, which a process that only records pipelines
or loads a federation never needs.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_unstructure_fn, override
from cattrs.preconf.json import make_converter
from cattrs.strategies import configure_tagged_union

from dfm.kernel.ir import net, pipeline

T = TypeVar("T")

_UNIONS = (
    pipeline.Value,
    pipeline.Cond,
    pipeline.Statement,
    net.ScopeItem,
    net.Input,
    net.CondC,
    net.Transition,
)


_OMIT_IF_DEFAULT: dict[type[Any], tuple[str, ...]] = {
    pipeline.Call: ("among", "after", "advise_site"),
    pipeline.PipelineIR: ("mode", "labels"),  # display labels: optional metadata
    net.CallT: ("after",),
    net.YieldT: ("node",),
}


@functools.cache
def _converter() -> cattrs.Converter:
    # Two threads' first calls may each build one; both are the same converter, one is kept.
    conv = make_converter()
    for module in (pipeline, net):
        for obj in vars(module).values():
            if isinstance(obj, type) and attrs.has(obj) and obj.__module__ == module.__name__:
                attrs.resolve_types(obj, vars(module))
    # Fields added after the first wire format are left out while they hold their default,
    # so pipelines and nets that do not use them keep their JSON (and digests) unchanged.
    # The hooks are made after the unions their fields hold and before the unions holding them.
    outer = (pipeline.Statement, net.Transition)
    for union in _UNIONS:
        if union not in outer:
            configure_tagged_union(union, conv, tag_name="kind", tag_generator=lambda cls: cls.__name__)

    def omit_defaults(*classes: type[Any]) -> None:
        for cls in classes:
            overrides = {name: override(omit_if_default=True) for name in _OMIT_IF_DEFAULT[cls]}
            hook = make_dict_unstructure_fn(cls, conv, **overrides)  # type: ignore[arg-type]
            conv.register_unstructure_hook(cls, hook)

    omit_defaults(pipeline.Call, net.CallT, net.YieldT)
    for union in outer:
        configure_tagged_union(union, conv, tag_name="kind", tag_generator=lambda cls: cls.__name__)
    omit_defaults(pipeline.PipelineIR)
    return conv


if TYPE_CHECKING:
    ir_converter: cattrs.Converter


def __getattr__(name: str) -> Any:
    if name == "ir_converter":  # the one converter, made on first use
        return _converter()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def to_data(obj: Any) -> Any:
    """Unstructure an IR object to JSON-compatible data."""
    return _converter().unstructure(obj)


def from_data(data: Any, cls: type[T]) -> T:
    """Structure JSON-compatible data into an IR object.

    The names of a pipeline IR (alone or inside a prepared pipeline) are checked
    (:func:`~dfm.kernel.ir.pipeline.check_names`): a :class:`~dfm.kernel.errors.PipelineError`
    names the first bad ones.
    """
    obj = _converter().structure(data, cls)
    if isinstance(obj, pipeline.PipelineIR):
        pipeline.check_names(obj)
    elif isinstance(obj, net.PreparedPipeline):
        pipeline.check_names(obj.pipeline)
    return obj


def canonical_json(obj: Any, *, net_texts: Mapping[str, str] | None = None) -> str:
    """Compact JSON of an IR object with sorted keys: the same object always gives the same text.

    Site nets, pipelines and prepared pipelines are written by :mod:`dfm.kernel.ir.canonical`
    (the same text, without unstructuring them into dicts first). ``net_texts``: the canonical
    JSON of a prepared pipeline's nets, by site, when the caller has it already.
    """
    from dfm.kernel.ir import canonical

    kind = type(obj)
    if kind is net.SiteNet:
        return canonical.net_json(obj)
    if kind is pipeline.PipelineIR:
        return canonical.pipeline_json(obj)
    if kind is net.PreparedPipeline:
        return canonical.prepared_json(obj, net_texts)
    return json.dumps(to_data(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _without_labels(obj: Any) -> Any:
    if isinstance(obj, pipeline.PipelineIR) and obj.labels:
        return attrs.evolve(obj, labels={})
    if isinstance(obj, net.PreparedPipeline) and obj.pipeline.labels:
        return attrs.evolve(obj, pipeline=attrs.evolve(obj.pipeline, labels={}))
    return obj


def digest(obj: Any, *, net_texts: Mapping[str, str] | None = None) -> str:
    """SHA-256 of the canonical JSON of an IR object.

    A pipeline's display ``labels`` are left out: naming a variable differently,
    or recording where the source is not available, gives the same digest. ``net_texts``: see
    :func:`canonical_json`.
    """
    return text_digest(canonical_json(_without_labels(obj), net_texts=net_texts))


def text_digest(text: str) -> str:
    """SHA-256 of a canonical JSON text: :func:`digest` of the object it is the text of."""
    return hashlib.sha256(text.encode()).hexdigest()
