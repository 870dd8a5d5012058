"""The fast canonical JSON (dfm.kernel.ir.canonical) is the converter's text, byte for byte.

Digests name nets on the wire and prepared pipelines everywhere: they must not change when the
way the text is made changes. ``reference`` is how ``serde.canonical_json`` made it before.
"""

from __future__ import annotations

import json
from typing import Any

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dfm.kernel.ir import canonical, net
from dfm.kernel.ir import pipeline as irp
from dfm.kernel.ir.serde import canonical_json, digest, text_digest, to_data

IDS = st.text("abcn0123:", min_size=1, max_size=5)
TEXT = st.text(max_size=6)  # any characters: quotes, escapes, non-ASCII
NAME = IDS | TEXT
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)
NAMES = st.lists(NAME, max_size=3).map(tuple)
SCOPE = st.lists(
    st.builds(net.LoopScope, IDS) | st.builds(net.BranchScope, IDS, st.booleans()), max_size=2
).map(tuple)
INPUT = st.builds(net.FromPlace, NAME) | st.builds(net.Constant, JSON) | st.builds(net.PickledC, TEXT)
CONDC = st.recursive(
    st.builds(net.CompareC, st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), INPUT, INPUT)
    | st.builds(net.TruthyC, INPUT),
    lambda inner: (
        st.builds(net.NotC, inner)
        | st.builds(net.BoolOpC, st.sampled_from(["and", "or"]), st.lists(inner, max_size=3).map(tuple))
    ),
    max_leaves=4,
)


def reference(obj: Any) -> str:
    return json.dumps(to_data(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


TRANSITIONS = st.one_of(
    st.builds(
        net.CallT,
        NAME,
        SCOPE,
        NAME,
        NAME,
        st.none() | NAME,
        st.dictionaries(NAME, INPUT, max_size=3),
        NAME,
        st.just(()) | NAMES,
    ),
    st.builds(net.SendT, NAME, SCOPE, NAME, NAME, NAME),
    st.builds(net.YieldT, NAME, SCOPE, NAME, NAME, st.none() | NAME),
    st.builds(net.ScatterT, IDS, SCOPE, IDS, IDS, IDS, NAMES),
    st.builds(net.BranchT, IDS, SCOPE, IDS, CONDC, NAMES),
    st.builds(net.SelectT, IDS, SCOPE, IDS, st.lists(st.integers() | IDS, max_size=3).map(tuple), IDS),
    st.builds(net.DoneT, IDS, SCOPE, IDS, IDS),
    st.builds(net.CacheT, IDS, SCOPE, IDS, IDS, NAMES, IDS, IDS, NAMES, st.booleans()),
    st.builds(net.CacheStoreT, IDS, SCOPE, IDS, IDS, IDS, IDS),
)
PLACES = st.builds(
    net.Place, NAME, st.integers(0, 4), st.sampled_from(["value", "received", "param", "item"])
)
NETS = st.builds(
    net.SiteNet,
    NAME,
    st.lists(PLACES, max_size=4).map(tuple),
    st.lists(TRANSITIONS, max_size=6).map(tuple),
    st.lists(NAME, max_size=3).map(tuple),
    st.lists(NAME, max_size=3).map(tuple),
    st.dictionaries(NAME, NAME, max_size=3),
)
VALUES = st.one_of(
    st.builds(irp.Ref, NAME),
    st.builds(irp.Param, NAME),
    st.builds(irp.Lit, JSON),
    st.builds(irp.Select, NAME, st.lists(st.integers() | IDS, max_size=2).map(tuple)),
)
CALLS = st.builds(
    irp.Call,
    NAME,
    NAME,
    st.dictionaries(NAME, VALUES, max_size=3),
    st.none() | NAME,
    st.none() | NAME,
    st.just(()) | NAMES,
    st.just(()) | NAMES,
    st.booleans(),
)
STATEMENTS = CALLS | st.builds(irp.Yield, IDS, VALUES, IDS, st.booleans())
PIPELINES = st.builds(
    irp.PipelineIR,
    st.lists(STATEMENTS, max_size=5).map(tuple),
    st.lists(NAME, max_size=3).map(tuple),
    NAME,
    st.sampled_from(["execute", "discovery"]),
    st.dictionaries(IDS, TEXT, max_size=2),
)
PREPARED = st.builds(
    net.PreparedPipeline,
    NAME,
    NAME,
    PIPELINES,
    st.dictionaries(NAME, NAME, max_size=3),
    st.dictionaries(NAME, NETS, max_size=3),
    NAME,
    st.floats(allow_nan=False) | st.integers(-5, 5).map(float),
    st.text("0123456789abcdef", max_size=8),
)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(NETS)
def test_net_text_is_the_converters(site_net: net.SiteNet) -> None:
    assert canonical.net_json(site_net) == canonical_json(site_net) == reference(site_net)


@SETTINGS
@given(PIPELINES)
def test_pipeline_text_is_the_converters(ir: irp.PipelineIR) -> None:
    assert canonical.pipeline_json(ir) == canonical_json(ir) == reference(ir)


@SETTINGS
@given(PREPARED)
def test_prepared_text_and_digest_are_the_converters(prepared: net.PreparedPipeline) -> None:
    assert canonical_json(prepared) == reference(prepared)
    texts = {site: canonical_json(n) for site, n in prepared.nets.items()}
    assert canonical_json(prepared, net_texts=texts) == reference(prepared)
    unlabelled = attrs.evolve(prepared, pipeline=attrs.evolve(prepared.pipeline, labels={}))
    assert digest(prepared) == digest(prepared, net_texts=texts) == text_digest(reference(unlabelled))


@SETTINGS
@given(NETS, st.data())
def test_equal_nets_same_digest_any_change_another(site_net: net.SiteNet, data: st.DataObject) -> None:
    again = net.SiteNet(**{f.name: getattr(site_net, f.name) for f in attrs.fields(net.SiteNet)})
    assert digest(again) == digest(site_net) == text_digest(canonical.net_json(site_net))
    field = data.draw(st.sampled_from([f.name for f in attrs.fields(net.SiteNet)]))
    other = data.draw(NETS.map(lambda n: getattr(n, field)))
    changed = attrs.evolve(site_net, **{field: other})
    if changed != site_net:
        assert digest(changed) != digest(site_net)


def test_fields_of_unexpected_types_take_the_converters_path() -> None:
    """A field holding what its annotation does not say is written as the converter writes it."""
    odd: list[Any] = [
        net.CallT("t1", (), "n1", "op", 5, {"a": net.FromPlace("v:x")}, "v:o"),  # type: ignore[arg-type]
        net.CallT("t2", [], "n2", "op", None, {1: net.Constant([1.5, None])}, "v:o"),  # type: ignore[arg-type, dict-item]
        net.CallT("t3", (), "n3", "op", None, {}, "v:o", ["x"]),  # type: ignore[arg-type]
        net.SendT("t4", (), 7, "s", "r:x"),  # type: ignore[arg-type]
        net.YieldT("t5", (net.LoopScope("l"),), "v:x", "out", 3),  # type: ignore[arg-type]
    ]
    places: Any = (net.Place("v:a", True), net.Place("v:b", 2.0), net.Place(None, 1))  # type: ignore[arg-type]
    site_net = net.SiteNet("s", places, tuple(odd), params=["p"], senders={"r:x": "home"})  # type: ignore[arg-type]
    assert canonical.net_json(site_net) == reference(site_net)
    for transition in odd:
        one = net.SiteNet("s", (), (transition,))
        assert canonical.net_json(one) == reference(one)


def test_a_real_net_keeps_its_digest() -> None:
    """A fixed net's digest, written down: the text of existing nets never changes."""
    site_net = net.SiteNet(
        "home",
        (net.Place("p:v", 1, "param"), net.Place("v:n1", 1), net.Place("r:n2", 1, "received")),
        (
            net.CallT("t1", (), "n1", "bench.Echo", None, {"value": net.FromPlace("p:v")}, "v:n1"),
            net.SendT("t2", (), "v:n1", "remote", "r:n1"),
            net.YieldT("t3", (), "r:n2", "out"),
        ),
        params=("v",),
        senders={"r:n2": "remote"},
    )
    assert canonical.net_json(site_net) == reference(site_net)
    assert digest(site_net) == text_digest(reference(site_net))
    assert digest(site_net) == "ca8cbf175a7d55a435a6e934a6373a255b5ec72444bb7eb404565ef969c716e6"
