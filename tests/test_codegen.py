"""``dfm fed gen code`` (the python-api emitter): goldens, a pipeline on inproc, mypy, determinism.

The goldens under tests/codegen/golden/ are regenerated with (tests/codegen/README.md)::

    dfm fed gen code federations/examplefed/examplefed.dfm.yaml \
        --output-dir tests/codegen/golden/examplefed --cleanup
    dfm fed gen code tests/codegen/geofed/geofed.dfm.yaml --output-dir tests/codegen/golden/geofed --cleanup
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from dfm.api import Pipeline, PlaceParam, Yield, load_federation
from dfm.cli.main import cli
from dfm.kernel.errors import PipelineError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLEFED = ROOT / "federations" / "examplefed" / "examplefed.dfm.yaml"
GEOFED = ROOT / "tests" / "codegen" / "geofed" / "geofed.dfm.yaml"
GOLDEN = ROOT / "tests" / "codegen" / "golden"
SECRET = "s3cr3t-badge-value-never-in-code"


def gen(*args: str) -> str:
    result = CliRunner().invoke(cli, ["fed", "gen", "code", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def tree(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): p.read_text()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


@pytest.mark.parametrize(("config", "name"), [(EXAMPLEFED, "examplefed"), (GEOFED, "geofed")])
def test_matches_the_golden_package(config, name, tmp_path, monkeypatch):
    monkeypatch.setenv("EXAMPLEFED_RECEPTION_BADGE_KEY", SECRET)
    gen(str(config), "--output-dir", str(tmp_path))
    got, want = tree(tmp_path), tree(GOLDEN / name)
    assert sorted(got) == sorted(want), "file sets differ; see tests/codegen/README.md to regenerate"
    for path in want:
        assert got[path] == want[path], f"{path} differs from the golden; see tests/codegen/README.md"


def test_same_output_whatever_the_hash_seed(tmp_path):
    outs = []
    for seed in ("0", "1", "12345"):
        out = tmp_path / seed
        env = {**os.environ, "PYTHONHASHSEED": seed}
        code = "from dfm.cli.main import main; main()"
        args = ["fed", "gen", "code", str(GEOFED), "--output-dir", str(out)]
        subprocess.run([sys.executable, "-c", code, *args], check=True, env=env, capture_output=True)
        outs.append(tree(out))
    assert outs[0] == outs[1] == outs[2]


def test_no_secret_value_and_no_other_site_in_a_runtime_module(tmp_path, monkeypatch):
    monkeypatch.setenv("EXAMPLEFED_RECEPTION_BADGE_KEY", SECRET)
    monkeypatch.setenv("DFM_SECRET_TILES_TOKEN", SECRET)
    for config in (EXAMPLEFED, GEOFED):
        gen(str(config), "--output-dir", str(tmp_path / config.stem))
    assert all(SECRET not in text for text in tree(tmp_path).values())
    concierge = (tmp_path / "examplefed.dfm" / "examplefed" / "fed" / "runtime" / "concierge.py").read_text()
    assert "reception" not in concierge and "badge" not in concierge and "frontdesk" not in concierge
    reception = (tmp_path / "examplefed.dfm" / "examplefed" / "fed" / "runtime" / "reception.py").read_text()
    assert "'from-secrets': 'badge-key'" in reception  # the key the vault is asked for, not its value


@pytest.fixture
def examplefed_copy(tmp_path, monkeypatch):
    """examplefed's folder copied, with its code generated beside its adapters, on sys.path."""
    folder = tmp_path / "examplefed"
    shutil.copytree(EXAMPLEFED.parent, folder, ignore=shutil.ignore_patterns("__pycache__"))
    root_init = (folder / "examplefed" / "__init__.py").read_text()
    gen(str(folder / "examplefed.dfm.yaml"))
    assert (folder / "examplefed" / "__init__.py").read_text() == root_init  # never overwritten
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv("EXAMPLEFED_RECEPTION_BADGE_KEY", "demo")
    yield folder
    for name in [m for m in sys.modules if m == "examplefed" or m.startswith("examplefed.")]:
        del sys.modules[name]


def test_generated_classes_run_a_pipeline_on_inproc(examplefed_copy):
    from examplefed.fed.api.users import GreetMe  # type: ignore[import-not-found]
    from examplefed.fed.site.concierge.users import (  # type: ignore[import-not-found]
        GreetMe as ConciergeGreetMe,
    )

    from dfm.runner import Session

    fed = load_federation(examplefed_copy / "examplefed.dfm.yaml")
    with Pipeline("typed") as typed:
        name = PlaceParam("name")
        Yield(GreetMe(name=name, site="server"), place="server")
        Yield(ConciergeGreetMe(name=name, greeting="Howdy"), place="concierge")
    with Pipeline("typed") as dynamic:
        name = PlaceParam("name")
        Yield(fed.api.users.GreetMe(name=name, site="server"), place="server")
        Yield(fed.api.users.GreetMe(name=name, site="concierge", greeting="Howdy"), place="concierge")
    assert typed.to_json() == dynamic.to_json()  # the same node, recorded by the same machinery

    with Session(fed, transport="inproc") as session:
        job = session.execute(session.prepare(typed), {"name": "Ada"})
        results = {r.place: r.value for r in job.results(timeout=30)}
    assert set(results) == {"server", "concierge"}
    assert "Ada" in results["server"] and results["concierge"].startswith("Howdy")


def test_generated_classes_check_like_fed_api(examplefed_copy):
    from examplefed.fed.api.users import GreetMe  # type: ignore[import-not-found]

    fed = load_federation(examplefed_copy / "examplefed.dfm.yaml")
    for call in (lambda: GreetMe(nam="Ada"), lambda: fed.api.users.GreetMe(nam="Ada")):
        with Pipeline(), pytest.raises(PipelineError, match="unknown argument 'nam'; did you mean 'name'"):
            call()
    with Pipeline(), pytest.raises(PipelineError, match="expected string"):
        GreetMe(name=3)
    import inspect

    assert str(inspect.signature(GreetMe)).startswith("(*, name: 'str | Node | PlaceParam'")
    assert "Returns a greeting for a person." in (GreetMe.__doc__ or "")


PASSES = """
    from dfm.api import Pipeline, PlaceParam, Yield
    from geofed.fed.api import Ping
    from geofed.fed.api.stats import Mean
    from geofed.fed.api.tiles import Fetch, Paint
    from geofed.fed.schemas.geo import BBox
    from geofed.fed.schemas import tiles_Request
    from geofed.fed.site.tiles_east.tiles import Fetch as EastFetch


    def get_pipeline() -> Pipeline:
        with Pipeline("typed") as p:
            box = BBox(west=1.0, south=2.0, east=3.0, north=4.0, crs="EPSG:4326")
            tiles = Fetch(request=tiles_Request(bbox=box, zoom=3, max_tiles=10), format="jpeg")
            east = EastFetch(request={"bbox": {"west": 0, "south": 0, "east": 1, "north": 1}}, quality=90)
            painted = Paint(tiles=tiles, color="red", opacity=0.5, label=PlaceParam("label"))
            Yield(painted, place="painted")
            Yield(east, place="east")
            Yield(Mean(values=[1.0, 2.0], from_="x", site="hub"), place="mean")
            Yield(Ping(), place="ping")
        return p
"""

FAILS = """
    from dfm.api import Pipeline, Yield
    from geofed.fed.api.tiles import Fetch, Paint
    from geofed.fed.schemas.geo import BBox

    with Pipeline() as p:
        tiles = Fetch(reqest={})
        Paint(tiles=tiles, color="purple")
        Paint(tiles=[1, 2], color="red")
        BBox(west="far", south=0, east=1, north=1)
        Fetch(request={}, site="tiles-north")
"""


@pytest.fixture
def geofed_package(tmp_path):
    gen(str(GEOFED), "--output-dir", str(tmp_path))
    return tmp_path


def mypy(folder: Path, source: str) -> subprocess.CompletedProcess[str]:
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed (the integration session installs it)")
    (folder / "pipeline_file.py").write_text(textwrap.dedent(source))
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "pipeline_file.py", "geofed"],
        cwd=folder,
        capture_output=True,
        text=True,
        env={**os.environ, "MYPYPATH": str(folder)},
        timeout=600,
    )


def test_mypy_strict_accepts_a_typed_pipeline_and_the_package(geofed_package):
    result = mypy(geofed_package, PASSES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_rejects_wrong_names_and_types(geofed_package):
    result = mypy(geofed_package, FAILS)
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert 'Unexpected keyword argument "reqest" for "Fetch"; did you mean "request"?' in out
    assert 'Argument "color" to "Paint" has incompatible type "Literal[\'purple\']"' in out
    assert 'Argument "tiles" to "Paint" has incompatible type "list[int]"' in out  # no literal input
    assert 'Argument "west" to "geo_BBox" has incompatible type "str"' in out
    assert 'Argument "site" to "Fetch" has incompatible type "Literal[\'tiles-north\']"' in out
    assert out.count("error:") == 5, out


def test_typed_pipeline_builds_the_same_ir_as_fed_api(geofed_package, monkeypatch):
    monkeypatch.syspath_prepend(str(geofed_package))
    (geofed_package / "typed_pipeline.py").write_text(textwrap.dedent(PASSES))
    try:
        import typed_pipeline  # type: ignore[import-not-found]

        ir = typed_pipeline.get_pipeline().ir
    finally:
        for name in [m for m in sys.modules if m.split(".")[0] in ("geofed", "typed_pipeline")]:
            del sys.modules[name]
    fed = load_federation(GEOFED)
    api = fed.api
    with Pipeline("typed") as p:
        box = {"west": 1.0, "south": 2.0, "east": 3.0, "north": 4.0, "crs": "EPSG:4326"}
        tiles = api.tiles.Fetch(request={"bbox": box, "zoom": 3, "max-tiles": 10}, format="jpeg")
        east = api.tiles.Fetch(
            request={"bbox": {"west": 0, "south": 0, "east": 1, "north": 1}}, quality=90, site="tiles-east"
        )
        Yield(
            api.tiles.Paint(tiles=tiles, color="red", opacity=0.5, label=PlaceParam("label")), place="painted"
        )
        Yield(east, place="east")
        Yield(api.stats.Mean(values=[1.0, 2.0], site="hub", **{"from": "x"}), place="mean")
        Yield(api.Ping(), place="ping")
    assert ir == p.ir


def test_cleanup_no_api_and_runtime_site(tmp_path):
    out = tmp_path / "out"
    gen(str(EXAMPLEFED), "--output-dir", str(out))
    fed_dir = out / "examplefed" / "fed"
    (fed_dir / "api" / "stale.py").write_text("# not generated\n")
    mine = out / "examplefed" / "mine.py"
    mine.write_text("# the user's\n")
    gen(str(EXAMPLEFED), "--output-dir", str(out), "--cleanup", "--no-api", "--runtime-site", "server")
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == [
        "examplefed/__init__.py",
        "examplefed/fed/.dfm-generated",
        "examplefed/fed/__init__.py",
        "examplefed/fed/api/stale.py",  # not listed by the earlier run: left alone
        "examplefed/fed/runtime/__init__.py",
        "examplefed/fed/runtime/server.py",
        "examplefed/mine.py",
    ]


def test_unknown_runtime_site_is_a_user_error(tmp_path):
    result = CliRunner().invoke(
        cli, ["fed", "gen", "code", str(EXAMPLEFED), "--output-dir", str(tmp_path), "--runtime-site", "servr"]
    )
    assert result.exit_code == 1
    assert "unknown site 'servr'; did you mean 'server'?" in result.output
