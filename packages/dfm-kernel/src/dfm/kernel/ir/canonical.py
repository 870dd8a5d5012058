"""Canonical JSON of site nets, pipelines and prepared pipelines, written directly: the text
:func:`dfm.kernel.ir.serde.canonical_json` has always given (cattrs unstructuring, then
``json.dumps`` with sorted keys), several times faster for large ones.

Digests are SHA-256 of this text and name nets on the wire, so it must not change: the
property tests in ``dfm-kernel/tests/ir/test_canonical.py`` compare it with the
converter's. The common elements (calls, sends, yields, places, references) are written
with string templates, keys in sorted order, strings through ``json``'s own escaping; no
dict is made per element, so the garbage collector has nothing to scan. Anything else
(other statements and transitions, scopes, literals, or a field holding an unexpected
type) goes through the converter one element at a time: the JSON of a list, or of a
mapping with sorted keys, is the JSON of its elements joined, so the two compose.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from json.encoder import encode_basestring
from typing import Any

from dfm.kernel.ir import pipeline as irp
from dfm.kernel.ir.net import (
    CallT,
    FromPlace,
    Input,
    Place,
    PreparedPipeline,
    Scope,
    SendT,
    SiteNet,
    Transition,
    YieldT,
)

_str: Callable[[str], str] = encode_basestring  # TypeError for anything but a str


def dumps(data: Any) -> str:
    """Compact JSON with sorted keys (the canonical form) of JSON-compatible data."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _slow(obj: Any, as_type: Any) -> str:
    from dfm.kernel.ir.serde import ir_converter

    return dumps(ir_converter.unstructure(obj, as_type))


def _opt(value: str | None) -> str:
    return "null" if value is None else _str(value)


def _scope(scope: Scope) -> str:
    return "[]" if scope == () else _slow(scope, Scope)


def _input(value: Input) -> str:
    if type(value) is FromPlace:
        return '{"kind":"FromPlace","place":' + _str(value.place) + "}"
    return _slow(value, Input)


def _mapping(items: Mapping[str, Any], encode: Callable[[Any], str]) -> str:
    # sorted() raises TypeError for keys that do not compare, _str for keys that are not str
    return "{" + ",".join(_str(k) + ":" + encode(items[k]) for k in sorted(items)) + "}"


def _call(t: CallT) -> str:
    if t.after != ():  # left out while it holds its default (see serde._OMIT_IF_DEFAULT)
        raise TypeError
    return (
        f'{{"args":{_mapping(t.args, _input)},"id":{_str(t.id)},"kind":"CallT","node":{_str(t.node)},'
        f'"operation":{_str(t.operation)},"output":{_str(t.output)},"provider":{_opt(t.provider)},'
        f'"scope":{_scope(t.scope)}}}'
    )


def _send(t: SendT) -> str:
    return (
        f'{{"id":{_str(t.id)},"kind":"SendT","scope":{_scope(t.scope)},"site":{_str(t.site)},'
        f'"source":{_str(t.source)},"target":{_str(t.target)}}}'
    )


def _yield(t: YieldT) -> str:
    node = "" if t.node is None else f'"node":{_str(t.node)},'  # left out while None
    return (
        f'{{"id":{_str(t.id)},"kind":"YieldT",{node}"place":{_str(t.place)},'
        f'"scope":{_scope(t.scope)},"source":{_str(t.source)}}}'
    )


_TRANSITIONS: dict[type[Any], Callable[[Any], str]] = {CallT: _call, SendT: _send, YieldT: _yield}


def _transition(t: Transition) -> str:
    fast = _TRANSITIONS.get(type(t))
    if fast is not None:
        try:
            return fast(t)
        except TypeError:  # a field of an unexpected type: the converter decides
            pass
    return _slow(t, Transition)


def _place(p: Place) -> str:
    if type(p) is Place and type(p.depth) is int:
        try:
            return f'{{"depth":{p.depth},"kind":{_str(p.kind)},"name":{_str(p.name)}}}'
        except TypeError:
            pass
    return _slow(p, Place)


def _strings(values: Iterable[Any]) -> str:
    return "[" + ",".join(_str(v) for v in values) + "]"


def net_json(net: SiteNet) -> str:
    """The canonical JSON of ``net``: equal to ``serde.canonical_json(net)``."""
    try:
        return (
            f'{{"controls":{_strings(net.controls)},"params":{_strings(net.params)},'
            f'"places":[{",".join(map(_place, net.places))}],"senders":{_mapping(net.senders, _str)},'
            f'"site":{_str(net.site)},"transitions":[{",".join(map(_transition, net.transitions))}]}}'
        )
    except TypeError:  # a field of an unexpected type: the converter decides
        return _slow(net, SiteNet)


# -- the pipeline IR ---------------------------------------------------------------------------


def _value(value: irp.Value) -> str:
    kind = type(value)
    if kind is irp.Ref:
        return '{"kind":"Ref","node":' + _str(value.node) + "}"  # type: ignore[union-attr]
    if kind is irp.Param:
        return '{"kind":"Param","name":' + _str(value.name) + "}"  # type: ignore[union-attr]
    return _slow(value, irp.Value)


def _statement(s: irp.Statement) -> str:
    if type(s) is irp.Call and s.among == () and s.after == () and s.advise_site is False:
        try:  # among, after, advise_site: left out while they hold their defaults
            return (
                f'{{"args":{_mapping(s.args, _value)},"id":{_str(s.id)},"kind":"Call",'
                f'"operation":{_str(s.operation)},"provider":{_opt(s.provider)},"site":{_opt(s.site)}}}'
            )
        except TypeError:
            pass
    return _slow(s, irp.Statement)


def pipeline_json(ir: irp.PipelineIR) -> str:
    """The canonical JSON of ``ir``: equal to ``serde.canonical_json(ir)``."""
    if ir.mode != "execute":
        return _slow(ir, irp.PipelineIR)  # discovery pipelines are small
    try:  # labels: left out while empty
        labels = "" if ir.labels == {} else f'"labels":{_mapping(ir.labels, _str)},'
        return (
            f'{{{labels}"name":{_str(ir.name)},"params":{_strings(ir.params)},'
            f'"statements":[{",".join(map(_statement, ir.statements))}]}}'
        )
    except TypeError:
        return _slow(ir, irp.PipelineIR)


def prepared_json(prepared: PreparedPipeline, net_texts: Mapping[str, str] | None = None) -> str:
    """The canonical JSON of ``prepared``: equal to ``serde.canonical_json(prepared)``.

    ``net_texts``: ``net_json`` of each of its nets, by site, when the caller has it already.
    """
    try:
        if type(prepared.pipeline) is not irp.PipelineIR or any(
            type(n) is not SiteNet for n in prepared.nets.values()
        ):
            raise TypeError
        nets = net_texts if net_texts is not None else {s: net_json(n) for s, n in prepared.nets.items()}
        return (
            f'{{"cost":{dumps(prepared.cost)},"digest":{_str(prepared.digest)},'
            f'"federation":{_str(prepared.federation)},"homesite":{_str(prepared.homesite)},'
            f'"nets":{_mapping(nets, str)},"pipeline":{pipeline_json(prepared.pipeline)},'
            f'"placement":{_mapping(prepared.placement, _str)},"strategy":{_str(prepared.strategy)}}}'
        )
    except TypeError:
        return _slow(prepared, PreparedPipeline)
