"""Same input, same output: across runs, hash seeds and JSON round trips."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import attrs

from dfm.api import ForEach, If, Pipeline, PlaceParam, Yield
from dfm.api.federation import FederationHandle
from dfm.compiler import compile_pipeline
from dfm.kernel.ir import serde
from dfm.kernel.ir.net import PreparedPipeline

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from dfm.api import ForEach, If, Pipeline, PlaceParam, Yield
    from dfm.api.federation import FederationHandle
    from dfm.compiler import compile_pipeline
    from dfm.kernel import DfmPluginManager
    from dfm.kernel.config import load_config, load_config_text
    import dfm.compiler.plugin

    pm = DfmPluginManager(strict=True)
    pm.register_plugin(dfm.compiler.plugin, distribution="dfm-compiler", version="0.1.0")
    out = {}
    synth = load_config_text(sys.argv[2])
    api = FederationHandle(synth, Path("s.dfm.yaml")).api
    with Pipeline("d") as p:
        rows = api.records.Query(cohort=PlaceParam("c"))
        with ForEach(rows) as row:
            s = api.stats.Summarize(data=row)
            m = api.ml.Train(data=s)
            with If(api.util.Check(value=m)):
                Yield(api.report.Render(model=m, summary=s), place="r", multiuse=True)
        Yield(api.util.Echo(value=PlaceParam("c")), place="e")
    for strategy in ("optimal", "greedy", "auto"):
        prepared = compile_pipeline(synth, p, strategy, manager=pm)
        out[strategy] = [prepared.digest, prepared.placement]
    ex = load_config(sys.argv[1])
    api = FederationHandle(ex, Path(sys.argv[1])).api
    with Pipeline("e") as q:
        for i in range(6):
            Yield(api.users.GreetMe(name=PlaceParam("n")), place=f"g{i}")
    out["examplefed"] = compile_pipeline(ex, q, manager=pm).digest
    print(json.dumps(out, sort_keys=True))
    """
)


def test_digest_is_independent_of_the_hash_seed(tmp_path, examplefed_path, synth_yaml):
    results = []
    for seed in ("0", "1", "12345", "random"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT, str(examplefed_path), synth_yaml],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr
        results.append(json.loads(done.stdout))
    assert all(r == results[0] for r in results[1:])
    assert set(results[0]) == {"optimal", "greedy", "auto", "examplefed"}


def sample(examplefed) -> Pipeline:
    api = FederationHandle(examplefed, Path("examplefed.dfm.yaml")).api
    with Pipeline("roundtrip") as p:
        g = api.users.GreetMe(name=PlaceParam("name"), site="reception")
        with ForEach(g) as item:
            h = api.users.GreetMe(name=item, site="server")
            with If((h == "x") & (PlaceParam("flag") != 3)):
                Yield(h, place="out", multiuse=True)
        Yield(api.users.GreetMe(name="nested \u2713 [1, 2.5, null, true]"), place="lit")
    return p


def test_compiling_twice_gives_equal_results(examplefed, manager):
    a = compile_pipeline(examplefed, sample(examplefed), manager=manager)
    b = compile_pipeline(examplefed, sample(examplefed), manager=manager)
    assert a == b
    assert a.digest == b.digest


def test_digest_is_the_hash_of_everything_else(examplefed, manager):
    prepared = compile_pipeline(examplefed, sample(examplefed), manager=manager)
    assert prepared.digest == serde.digest(attrs.evolve(prepared, digest=""))


def test_json_round_trip(examplefed, synthfed, manager):
    prepared = compile_pipeline(examplefed, sample(examplefed), manager=manager)
    text = json.dumps(serde.to_data(prepared))
    loaded = serde.from_data(json.loads(text), PreparedPipeline)
    assert loaded == prepared
    assert serde.digest(attrs.evolve(loaded, digest="")) == prepared.digest
