"""Installing a net: it travels as its canonical JSON text, and the site hashes exactly that text.

Whatever form the net arrives in (the frozen IR on inproc, its text on the wire, its JSON data
from a FLARE frame), the site recomputes the digest from what it got, refuses a claim that does
not match, and re-verifies the net with the same refusals.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import attrs
import pytest

from dfm.api import FederationHandle, Pipeline, PlaceParam, Yield
from dfm.compiler import compile_with_details
from dfm.kernel.codecs import codec_for
from dfm.kernel.ir.net import CallT, FromPlace, SiteNet
from dfm.kernel.ir.serde import canonical_json, digest, text_digest, to_data
from dfm.runner.messages import Install, Refused, from_wire, to_wire
from dfm.runner.netrunner import CompiledNet
from dfm.runner.site import SiteRuntime
from dfm.runner.transports.wire import decode_frame, encode_frame


def _nets(mathfed: FederationHandle) -> dict[str, SiteNet]:
    with Pipeline() as p:
        square = mathfed.api.math.Square(x=PlaceParam("x"), site="home")
        Yield(mathfed.api.math.Echo(value=square, site="alpha"), place="out")
    return dict(compile_with_details(mathfed.config, p).prepared.nets)


@pytest.fixture
def site(mathfed: FederationHandle, tmp_path: Path) -> Any:
    loop = asyncio.new_event_loop()
    to_app: list[Any] = []
    runtime = SiteRuntime(mathfed.config, "alpha", tmp_path, lambda *_: None, to_app.append, loop=loop)
    runtime.to_app_messages = to_app
    yield runtime
    runtime.close()
    loop.close()


def _refusals(site: Any) -> list[str]:
    return [m.reason for m in site.to_app_messages if isinstance(m, Refused)]


def test_compiler_net_digests_are_the_nets(mathfed: FederationHandle) -> None:
    with Pipeline() as p:
        Yield(mathfed.api.math.Echo(value=PlaceParam("x"), site="alpha"), place="out")
    compiled = compile_with_details(mathfed.config, p)
    assert compiled.net_digests == {s: digest(n) for s, n in compiled.prepared.nets.items()}


def test_install_travels_as_its_text(mathfed: FederationHandle, tmp_path: Path) -> None:
    net = _nets(mathfed)["alpha"]
    text = canonical_json(net)
    codec = codec_for(mathfed.config)
    for msg in (Install(digest(net), net), Install(digest(net), net, text=text)):
        parts = encode_frame(msg, codec, tmp_path)
        received = decode_frame(bytes(parts[1]), b"".join(bytes(p) for p in parts[2:]), codec, tmp_path)
        assert isinstance(received, Install)
        assert received.net == text and received.digest == text_digest(text) == digest(net)
        assert received.text is None
    assert "text" not in to_wire(Install("d", net, text=text))
    with pytest.raises(ValueError, match="fields"):
        from_wire({"m": "Install", "digest": "d", "net": text, "text": text})


def test_install_as_json_data_still_decodes(mathfed: FederationHandle, tmp_path: Path) -> None:
    """FLARE frames carry the net as JSON data: structured when decoded, hashed by the site."""
    net = _nets(mathfed)["alpha"]
    codec = codec_for(mathfed.config)
    wire = to_wire(Install(digest(net), net))
    wire["net"] = to_data(net)
    header, buffers = codec.encode(wire)
    head = json.dumps({"m": header, "b": [{"n": len(bytes(b))} for b in buffers]}).encode()
    received = decode_frame(head, b"".join(bytes(b) for b in buffers), codec, None)
    assert received.net == net


@pytest.mark.parametrize("form", ["net", "text"])
def test_site_installs_under_the_digest_it_computes(site: Any, mathfed: FederationHandle, form: str) -> None:
    net = _nets(mathfed)["alpha"]
    sent = net if form == "net" else canonical_json(net)
    site.install(digest(net), sent)
    assert _refusals(site) == []
    installed = site.nets[digest(net)]
    assert isinstance(installed, CompiledNet) and installed.net == net


def test_site_refuses_a_text_that_is_not_the_claimed_one(site: Any, mathfed: FederationHandle) -> None:
    net = _nets(mathfed)["alpha"]
    text = canonical_json(net)
    other = text.replace('"value"', '"other"', 1)  # the same net's digest claimed for another text
    assert other != text
    site.install(digest(net), other)
    (reason,) = _refusals(site)
    assert f"claims digest {digest(net)[:12]}" in reason
    assert site.nets == {}


@pytest.mark.parametrize("text", ["{", "[]", '{"site": "alpha"}', "[" * 100_000])
def test_site_refuses_a_malformed_text(site: Any, text: str) -> None:
    site.install(text_digest(text), text)
    (reason,) = _refusals(site)
    assert "Install with a malformed site net" in reason
    assert site.nets == {}


def test_site_refuses_an_install_without_a_net(site: Any) -> None:
    site.install("0" * 64, {"site": "alpha"})
    assert _refusals(site) == ["Install without a site net"]


def _drop(*_: Any) -> None:
    pass


def _hostile(net: SiteNet) -> list[SiteNet]:
    """Nets the site must refuse, each for one reason check_net gives."""
    call = next(t for t in net.transitions if isinstance(t, CallT))
    rest = tuple(t for t in net.transitions if t is not call)
    return [
        attrs.evolve(net, site="home"),
        attrs.evolve(net, transitions=(attrs.evolve(call, operation="math.Add"), *rest)),
        attrs.evolve(net, transitions=(attrs.evolve(call, args={**call.args, "x": FromPlace("p:x")}), *rest)),
        attrs.evolve(net, transitions=(attrs.evolve(call, output="v:undeclared"), *rest)),
        attrs.evolve(net, places=(*net.places, net.places[0])),
        attrs.evolve(net, senders={**net.senders, "r:nothing": "home"}),
        attrs.evolve(net, senders={k: "mallory" for k in net.senders}),
    ]


def test_hostile_nets_are_refused_alike_as_net_or_text(mathfed: FederationHandle, tmp_path: Path) -> None:
    """check_net runs on what the text describes: the same refusals as for the net itself."""
    net = _nets(mathfed)["alpha"]
    for bad in _hostile(net):
        reasons = []
        for sent in (bad, canonical_json(bad)):
            loop = asyncio.new_event_loop()
            runtime = SiteRuntime(mathfed.config, "alpha", tmp_path, _drop, _drop, loop=loop)
            try:
                runtime.install(digest(bad), sent)
                (refused,) = runtime.nets.values()
                reasons.append(str(refused))
            finally:
                runtime.close()
                loop.close()
        assert "refuses" in reasons[0]
        assert reasons[0] == reasons[1]
