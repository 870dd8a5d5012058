"""TryFromCache on real files: digests as names, residency, the site's checks, the CLI, and a property."""

from __future__ import annotations

import json
import logging
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dfm.api import Pipeline, PlaceParam, TryFromCache, Yield, load_federation
from dfm.kernel.errors import CompileError
from dfm.kernel.ir.net import CacheT
from dfm.runner.cachecli import cache as cache_cli
from dfm.runner.session import JobStatus, Session
from dfm.runner.testing import MATHFED

pytest.importorskip("fsspec")

CONFIG = """\
dfm: 1.0.0
info: {{api-version: 1.0.0, code-package: cachefed}}
homesite: home
operations:
  math.Square: {{parameters: {{x: {{type: number}}}}, required: [x]}}
  math.Add: {{parameters: {{a: {{type: number}}, b: {{type: number}}}}, required: [a, b]}}
  math.Nonce: {{parameters: {{x: {{type: number}}}}, required: [x]}}
sites:
  home:
    interface:
      "#/operations/math.Add": {{adapter: mathfed_adapters.Add}}
  vault:
    interface:
      "#/operations/math.Nonce": {{adapter: mathfed_adapters.Nonce}}
      "#/operations/math.Square": {{adapter: mathfed_adapters.Square}}
    policy: {{resident: [math.Nonce]}}
    cache_config: {{protocol: file, base_path: {vault}}}
  lab:
    interface:
      "#/operations/math.Nonce": {{adapter: mathfed_adapters.Nonce}}
      "#/operations/math.Square": {{adapter: mathfed_adapters.Square}}
      "#/operations/math.Add": {{adapter: mathfed_adapters.Add}}
    cache_config: {{protocol: file, base_path: cache/lab}}
"""


def _federation(folder: Path, vault_cache: str = "cache/vault") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(MATHFED.parent / "mathfed_adapters.py", folder)
    path = folder / "cachefed.dfm.yaml"
    path.write_text(CONFIG.format(vault=vault_cache))
    return path


@pytest.fixture(scope="module")
def fed_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _federation(tmp_path_factory.mktemp("cachefed"))


@pytest.fixture(scope="module")
def session(fed_path: Path) -> Iterator[Session]:
    with Session(fed_path, transport="inproc") as s:
        yield s


@pytest.fixture(scope="module")
def api(fed_path: Path) -> Any:
    return load_federation(fed_path).api.math


def _run(session: Session, pipeline: Pipeline, params: Any) -> list[tuple[str, tuple[int, ...], Any]]:
    job = session.execute(session.prepare(pipeline), params)
    got = sorted(((r.place, r.frame, r.value) for r in job.results(timeout=30)), key=repr)
    assert job.status is JobStatus.FINISHED, job.error
    return got


def _nonce_at(api: Any, key: str, site: str) -> Pipeline:
    with Pipeline() as p:
        with TryFromCache(key) as cached:
            cached.cache(api.Nonce(x=PlaceParam("x"), site=site))
        Yield(cached, place="value")
    return p


def test_entries_are_named_by_digests_and_a_hostile_key_stays_inside(session, api, fed_path):
    key = "../../etc/passwd"
    first = _run(session, _nonce_at(api, key, "lab"), [{"x": 2}, {"x": 3}])
    assert _run(session, _nonce_at(api, key, "lab"), [{"x": 3}, {"x": 2}]) == sorted(
        (("value", (1 - f[0],), v) for _, f, v in first), key=repr
    )
    names = sorted(p.name for p in (fed_path.parent / "cache" / "lab").iterdir())
    assert names and all(re.fullmatch(r"[0-9a-f]{64}\.(value|json)", n) for n in names)
    assert len(names) == 4  # two input digests, a value and its metadata each
    outside = [p for p in fed_path.parent.parent.rglob("*") if "passwd" in p.name or p.name == "etc"]
    assert outside == []
    metas = [
        json.loads((fed_path.parent / "cache" / "lab" / n).read_text()) for n in names if n.endswith(".json")
    ]
    assert {m["key"] for m in metas} == {key} and not any(m["resident"] for m in metas)


def test_hit_and_miss_are_logged_at_the_site(session, api, caplog):
    key = f"logged-{uuid.uuid4().hex}"
    with caplog.at_level(logging.INFO, logger="dfm.runner.cache"):
        _run(session, _nonce_at(api, key, "lab"), {"x": 7})
        _run(session, _nonce_at(api, key, "lab"), {"x": 7})
    outcomes = [m for m in caplog.messages if key in m]
    assert len(outcomes) == 2
    assert outcomes[0].startswith("site 'lab'") and ": miss, entry " in outcomes[0]
    assert ": hit, entry " in outcomes[1]


def test_a_resident_entry_is_never_served_to_a_block_whose_value_may_leave(session, api, fed_path):
    key = f"resident-{uuid.uuid4().hex}"
    # the value cached is resident at vault: it is used there only (its square may leave)
    with Pipeline() as p:
        with TryFromCache(key) as cached:
            cached.cache(api.Nonce(x=PlaceParam("x"), site="vault"))
        Yield(api.Square(x=cached.fieldref(0), site="vault"), place="fourth")
    assert _run(session, p, {"x": 3}) == [("fourth", (0,), 81)]
    metas = [json.loads(m.read_text()) for m in (fed_path.parent / "cache" / "vault").glob("*.json")]
    assert [m["resident"] for m in metas if m["key"] == key] == [True]
    # the same key and inputs for a value that may leave: a miss, never the resident entry
    with Pipeline() as q:
        with TryFromCache(key) as cached:
            cached.cache(api.Square(x=PlaceParam("x"), site="vault"))
        Yield(cached, place="value")
    assert _run(session, q, {"x": 3}) == [("value", (0,), 9)]
    # and a hit cannot carry the resident value off the site where the miss could not
    with Pipeline() as r:
        with TryFromCache(key) as cached:
            cached.cache(api.Nonce(x=PlaceParam("x"), site="vault"))
        Yield(cached, place="value")
    with pytest.raises(CompileError, match="resident"):
        session.prepare(r)


def test_a_shared_cache_folder_refuses_resident_values(tmp_path, api):
    path = _federation(tmp_path / "shared", vault_cache="cache/lab")
    with Session(path, transport="inproc") as shared:
        with Pipeline() as p:
            with TryFromCache("k") as cached:
                cached.cache(api.Nonce(x=PlaceParam("x"), site="vault"))
            Yield(api.Square(x=cached.fieldref(0), site="vault"), place="fourth")
        with pytest.raises(CompileError, match=r"resident at 'vault', whose cache_config is shared with lab"):
            shared.prepare(p)
        # a value that is not resident may be cached there
        with Pipeline() as q:
            with TryFromCache("k") as cached:
                cached.cache(api.Square(x=PlaceParam("x"), site="vault"))
            Yield(cached, place="value")
        assert _run(shared, q, {"x": 4}) == [("value", (0,), 16)]


def _forge(prepared: Any, site: str, change: Any) -> Any:
    net = prepared.nets[site]
    forged = tuple(change(t) if isinstance(t, CacheT) else t for t in net.transitions)
    nets = {**prepared.nets, site: attrs.evolve(net, transitions=forged)}
    return attrs.evolve(prepared, nets=nets, digest=prepared.digest + "-forged")


def test_the_site_refuses_a_lookup_that_hides_residency(session, api):
    with Pipeline() as p:
        with TryFromCache("forged") as cached:
            cached.cache(api.Nonce(x=PlaceParam("x"), site="vault"))
        Yield(api.Square(x=cached.fieldref(0), site="vault"), place="fourth")
    prepared = session.prepare(p)
    job = session.execute(_forge(prepared, "vault", lambda t: attrs.evolve(t, resident=False)), {"x": 1})
    assert job.wait(30) is JobStatus.FAILED
    assert "site 'vault' refuses the pipeline" in job.error
    assert "caches resident data without marking its entries resident" in job.error


def test_the_site_refuses_a_lookup_announcing_to_another_site(session, api):
    prepared = session.prepare(_nonce_at(api, "forged", "lab"))
    job = session.execute(
        _forge(prepared, "lab", lambda t: attrs.evolve(t, notify=("lab", "home"))), {"x": 1}
    )
    assert job.wait(30) is JobStatus.FAILED
    assert "must announce its branch to this site only" in job.error


def test_cli_lists_and_clears_per_site(session, api, fed_path):
    key = f"cli-{uuid.uuid4().hex}"
    _run(session, _nonce_at(api, key, "lab"), [{"x": 1}, {"x": 2}])
    runner = CliRunner()
    listed = runner.invoke(cache_cli, ["list", str(fed_path), "--site", "lab", "--json"])
    assert listed.exit_code == 0, listed.output
    mine = [row for row in json.loads(listed.stdout) if row["key"] == key]
    assert len(mine) == 2 and {row["site"] for row in mine} == {"lab"}
    text = runner.invoke(cache_cli, ["list", str(fed_path)])
    assert text.exit_code == 0 and json.dumps(key) in text.stdout
    cleared = runner.invoke(cache_cli, ["clear", str(fed_path), "--site", "lab", "--key", key, "--json"])
    assert cleared.exit_code == 0 and json.loads(cleared.stdout) == {"lab": 2}
    again = runner.invoke(cache_cli, ["list", str(fed_path), "--json"])
    assert not [row for row in json.loads(again.stdout) if row["key"] == key]


def test_cli_errors_name_the_site(fed_path):
    runner = CliRunner()
    unknown = runner.invoke(cache_cli, ["list", str(fed_path), "--site", "lob"])
    assert "has no site 'lob'; did you mean 'lab'?" in str(unknown.exception)
    without = runner.invoke(cache_cli, ["clear", str(fed_path), "--site", "home"])
    assert "site 'home' of federation cachefed has no cache_config" in str(without.exception)


def test_a_body_pinned_to_a_site_without_cache_config_is_a_compile_error(session, api):
    with Pipeline() as p:
        with TryFromCache("k") as cached:
            cached.cache(api.Add(a=PlaceParam("x"), b=1, site="home"))
        Yield(cached, place="value")
    with pytest.raises(
        CompileError,
        match=r"^n1 \(TryFromCache 'k'\): n3 \(math.Add\) can run only at site 'home', "
        r"which has no cache_config \(sites with one: lab, vault\)$",
    ):
        session.prepare(p)


# -- property: a cache block changes no result, on a miss or a hit ------------------------------

_steps = st.lists(st.tuples(st.sampled_from(["square", "add"]), st.integers(-3, 3)), min_size=1, max_size=4)


def _chain(api: Any, steps: list[tuple[str, int]], key: str | None) -> Pipeline:
    def body(value: Any) -> Any:
        for op, n in steps:
            value = api.Square(x=value, site="lab") if op == "square" else api.Add(a=value, b=n, site="lab")
        return value

    with Pipeline() as p:
        start = api.Add(a=PlaceParam("x"), b=1, site="home")
        if key is None:
            result = body(start)
        else:
            with TryFromCache(key) as result:
                result.cache(body(start))
        Yield(api.Add(a=result, b=0, site="home"), place="out")
    return p


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(steps=_steps, xs=st.lists(st.integers(-5, 5), min_size=1, max_size=3))
def test_a_cache_block_gives_the_results_of_its_body(session, api, steps, xs):
    params = [{"x": x} for x in xs]
    plain = _run(session, _chain(api, steps, None), params)
    key = f"prop-{uuid.uuid4().hex}"
    assert _run(session, _chain(api, steps, key), params) == plain  # misses (and hits for repeated x)
    assert _run(session, _chain(api, steps, key), params) == plain  # hits
