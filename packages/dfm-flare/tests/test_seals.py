"""Pair keys and seals (dfm.flare.seals): what a seal binds, and who gets which key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from dfm.flare.seals import SEAL, Seals, pair_keys

KEYS = pair_keys(["server", "home", "alpha", "beta"])

values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text() | st.binary(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
payloads = st.dictionaries(st.sampled_from(["from", "seq", "items", "jobs", "site"]), values, min_size=1)


def test_every_pair_has_its_own_key_and_each_name_holds_only_its_pairs():
    assert set(KEYS) == {"server", "home", "alpha", "beta"}
    for name, peers in KEYS.items():
        assert set(peers) == set(KEYS) - {name}
        for peer, key in peers.items():
            assert KEYS[peer][name] == key and len(bytes.fromhex(key)) == 32
    every = [key for peers in KEYS.values() for key in peers.values()]
    assert len(set(every)) == len(every) // 2 == 6


@given(payloads)
def test_a_seal_verifies_for_its_receiver_only(payload: dict[str, Any]) -> None:
    message = Seals("alpha", KEYS["alpha"]).seal("beta", "dfm.deliver", payload)
    assert Seals("beta", KEYS["beta"]).check("alpha", "dfm.deliver", message)
    assert not Seals("beta", KEYS["beta"]).check("home", "dfm.deliver", message)  # another sender
    assert not Seals("beta", KEYS["beta"]).check("alpha", "dfm.cancel", message)  # another topic
    assert not Seals("home", KEYS["home"]).check("alpha", "dfm.deliver", message)  # another receiver
    assert not Seals("alpha", KEYS["alpha"]).check("beta", "dfm.deliver", message)  # reflected


@given(payloads, st.sampled_from(["from", "seq", "items", "jobs", "site", "extra"]), values)
def test_any_change_breaks_the_seal(payload: dict[str, Any], key: str, value: Any) -> None:
    message = Seals("server", KEYS["server"]).seal("beta", "dfm.deliver", payload)
    changed = {**message, key: value}
    beta = Seals("beta", KEYS["beta"])
    assert beta.check("server", "dfm.deliver", changed) == (key in payload and _same(payload[key], value))


def _same(a: Any, b: Any) -> bool:
    """Equal as the seal sees values: same types all the way down (1 is not True, nor 1.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float):
        return a.hex() == b.hex()
    return bool(a == b)


def test_look_alike_values_seal_differently():
    seals = Seals("server", KEYS["server"])
    looks = [b"1", "1", 1, 1.0, True, [1], {"1": 1}, ["1"], [b"1"], None, "", b"", [], {}]
    made = {seals.seal("beta", "t", {"items": v})[SEAL] for v in looks}
    assert len(made) == len(looks)
    split = [seals.seal("beta", "t", {"items": v})[SEAL] for v in (["ab", "c"], ["a", "bc"], ["abc"])]
    assert len(set(split)) == 3


def test_malformed_seals_and_payloads_are_refused_not_raised():
    beta = Seals("beta", KEYS["beta"])
    assert not beta.check(None, "t", {SEAL: "00"})
    assert not beta.check("mallory", "t", {SEAL: "00"})  # no key shared with that name
    assert not beta.check("alpha", "t", "not a dict")
    assert not beta.check("alpha", "t", {"items": []})  # no seal
    assert not beta.check("alpha", "t", {"items": [], SEAL: 5})
    assert not beta.check("alpha", "t", {"items": [object()], SEAL: "00"})
    assert not beta.check("alpha", "t", {"items": {1: 2}, SEAL: "00"})


def test_the_exported_service_job_gives_each_site_only_its_own_pairs(tmp_path: Path):
    from dfm.flare.service import export_service_job

    sites = {"home": "home", "alpha": "alpha", "beta": "site-beta"}
    job = Path(export_service_job(str(tmp_path), "dfm-service-t", sites, controller={}, executor={}))
    configs = {path.parent.parent.name: path for path in job.glob("*/config/config_fed_*.json")}
    keys: dict[str, dict[str, str]] = {}
    for app, path in configs.items():
        (component,) = [c for c in _components(json.loads(path.read_text())) if "keys" in c["args"]]
        keys[app] = component["args"]["keys"]
    server = next(app for app, path in configs.items() if path.name == "config_fed_server.json")
    assert set(keys[server]) == {"home", "alpha", "site-beta"}
    for app, own in keys.items():
        if app == server:
            continue
        client = next(c for c in sites.values() if app.endswith(c))
        assert set(own) == {"server", *sites.values()} - {client}
        assert own["server"] == keys[server][client]
        others = {k for a, ks in keys.items() if a not in (app, server) for p, k in ks.items() if p != client}
        text = "".join(p.read_text() for p in (job / app).rglob("*") if p.is_file())
        assert not any(k in text for k in others), "a site's app carries a key of pairs it is not in"


def _components(config: dict[str, Any]) -> list[dict[str, Any]]:
    found = list(config.get("components", []))
    for section in ("executors", "workflows"):
        for entry in config.get(section, []):
            found.append(entry.get("executor", entry))
    return [c for c in found if isinstance(c, dict) and "args" in c]
