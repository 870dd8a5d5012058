"""Compatibility with NVIDIA DFM's federation configs (COMPAT.md section 1).

``weather/weather.dfm.yaml`` is written the way the reference writes configs,
``weather/weather_ours.dfm.yaml`` is the same federation in DFM's own forms;
both load, pass ``dfm fed validate`` and give the same results end to end on
the inproc target. The smaller tests below take the rows of section 1 one by
one, each in the reference's form and, where one exists, in ours.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from dfm.api import Pipeline, PlaceParam, Yield, load_federation
from dfm.cli.main import cli
from dfm.kernel.config import load_config, load_config_text
from dfm.kernel.config.loader import inspect_config
from dfm.kernel.errors import ConfigError, PipelineError
from dfm.runner import JobStatus, Session

HERE = Path(__file__).parent
WEATHER = HERE / "weather"
CONFIGS = {"reference": "weather.dfm.yaml", "ours": "weather_ours.dfm.yaml"}
SECRET = "tok-123-secret"


@pytest.fixture(params=sorted(CONFIGS))
def weather(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A copy of the weather federation (its cache is written), in either form."""
    folder = tmp_path / "weather"
    shutil.copytree(WEATHER, folder, ignore=shutil.ignore_patterns("cache", "__pycache__"))
    monkeypatch.setenv("WEATHER_SERVER_API_TOKEN", SECRET)  # our form's env-prefix vault
    return load_federation(folder / CONFIGS[request.param])


def dfm(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


# -- whole federations -------------------------------------------------------------------


@pytest.mark.parametrize("form", sorted(CONFIGS))
def test_the_weather_federation_validates(form: str) -> None:
    result = dfm("fed", "validate", str(WEATHER / CONFIGS[form]))
    assert result.exit_code == 0, result.output
    assert "federation 'weather', 2 sites, 3 operations" in result.stdout


def test_both_forms_load_to_the_same_federation() -> None:
    ref, ours = (load_config(WEATHER / CONFIGS[form]) for form in ("reference", "ours"))
    assert list(ref.sites) == list(ours.sites) == ["server", "station"]  # @domain stripped
    assert ref.home() == ours.home() == "server"
    assert sorted(ref.operations) == sorted(ours.operations)
    for name in ref.operations:
        assert sorted(ref.operations[name].parameters) == sorted(ours.operations[name].parameters)
    assert sorted(ref.schemas) == sorted(ours.schemas)  # the merge form brought in every schema of the file
    # a reference inside another file is copied in (relative to that file); in the config it stays one
    assert ref.schemas["geo.BBox"]["properties"]["corner"] == ours.schemas["geo.Point"]
    for site in ref.sites:
        assert sorted(ref.offers(site)) == sorted(ours.offers(site))
    assert ref.info.extra == {"maintainer": "the weather team", "license": "Apache-2.0"}
    assert ref.schemas["geo.Station"]["properties"]["where"] == {"$ref": "#/schemas/geo.Point"}


def test_the_weather_federation_runs_end_to_end(weather: Any) -> None:
    api = weather.api.weather
    with Pipeline() as pipeline:
        Yield(api.Observe(station="a", bbox={"west": 1.5, "east": 2}, site="server"), place="server")
        Yield(api.Observe(station="b", unit="F", site="station"), place="station")
        Yield(api.Describe(greeting="hi"), place="describe")
        Yield(api.Describe(site="server"), place="default-greeting")
        Yield(api.Cached(key="k", value=PlaceParam("v")), place="cached")
    with Session(weather) as session:
        job = session.execute(session.prepare(pipeline), {"v": "stored"})
        assert job.wait(60) is JobStatus.FINISHED, job.error
        results = {r.place: r.value for r in job.results()}
    assert results["server"] == {
        "station": "a",
        "west": 1.5,
        "limit": 3,  # the declared default
        "unit": "C",  # the declared default
        "token": "***",  # a secret never leaves the site
        "federation": "weather",
        "motto": "sunny days",
    }
    assert results["station"] == {
        "station": "b",
        "west": None,  # not required, not given, no default: None
        "limit": 3,
        "unit": "F",
        "shelf": "B7",
        "years": 30,
        "federation": "weather",
    }
    assert results["describe"] == "hi from server (sunny days)"  # expose-as replaced the const
    assert results["default-greeting"] == "hello from server (sunny days)"
    assert results["cached"] == "stored"
    assert (weather.path.parent / "cache" / "k.txt").read_text() == "stored"


# -- operations: defaults, flags, types and schemas ---------------------------------------


def test_parameter_values_are_checked_against_their_types(weather: Any) -> None:
    api = weather.api.weather
    cases = [
        (dict(station="a", limit="many"), "parameter 'limit': expected integer, given 'many'"),
        (dict(station=3), "parameter 'station': expected string, given 3"),
        (dict(station="a", unit="K"), "parameter 'unit': expected one of 'C', 'F', given 'K'"),
        (dict(station="a", bbox={"west": 1}), "parameter 'bbox': expected geo.BBox ('east' is a required"),
        (
            dict(station="a", bbox={"west": "x", "east": 1}),
            "parameter 'bbox': expected number at west, given 'x'",
        ),
        (
            dict(station="a", bbox={"west": 0, "east": 1, "corner": {"lat": 1}}),
            "parameter 'bbox': expected geo.BBox ('lon' is a required property) at corner",
        ),
    ]
    for kwargs, message in cases:
        with pytest.raises(PipelineError) as caught, Pipeline():
            api.Observe(**kwargs)
        assert str(caught.value).startswith(f"weather.Observe: {message}"), str(caught.value)


def test_switched_off_kinds_of_input_are_refused(weather: Any) -> None:
    api = weather.api.weather
    with pytest.raises(PipelineError) as caught, Pipeline():
        api.Observe(station="a", unit=PlaceParam("unit"))
    assert str(caught.value).startswith(
        "weather.Observe: parameter 'unit' does not accept place input (a PlaceParam)"
    )
    with pytest.raises(PipelineError) as caught, Pipeline():
        api.Observe(station="a", unit=api.Describe())
    assert "parameter 'unit' does not accept node input (an operation result)" in str(caught.value)
    with Pipeline():  # literals are accepted, and a Python class type is not checked
        api.Observe(station="a", unit="F", raw={"anything": [1]})


def test_a_required_name_that_is_not_a_parameter_is_a_warning_only() -> None:
    report = inspect_config(WEATHER / CONFIGS["reference"])
    assert report.issues == []
    (warning,) = report.warnings
    assert warning.pointer == "/operations/weather.Observe/required/1"
    assert warning.message == "required parameter 'ghost' is not a parameter of operation 'weather.Observe'"
    fed = load_federation(WEATHER / CONFIGS["reference"])
    with Pipeline():
        fed.api.weather.Observe(station="a")  # 'ghost' is not demanded
    result = dfm("fed", "validate", str(WEATHER / CONFIGS["reference"]))
    assert result.exit_code == 0 and "warning:" in result.stderr and "'ghost'" in result.stderr


# -- small configs, one COMPAT row each ---------------------------------------------------

BASE = """\
dfm: 1.0.0
info: {api-version: 1.0.0, code-package: rows}
operations:
  t.Echo:
    parameters: {text: {type: string}}
    required: [text]
"""


def write(folder: Path, sites: str, extra: str = "", files: dict[str, str] | None = None) -> Path:
    for name, text in (files or {}).items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    config = folder / "rows.dfm.yaml"
    config.write_text(BASE + extra + "sites:\n" + textwrap.indent(textwrap.dedent(sites), "  "))
    return config


ADAPTERS = """\
class NoArgs:
    async def body(self, text):
        return f"none:{text}"

class SiteOnly:
    def __init__(self, site):
        self.site = site
    async def body(self, text):
        return f"{self.site.name}:{text}"

class ProviderOnly:
    def __init__(self, provider, prefix="p"):
        self.provider = provider
        self.prefix = prefix
    def body(self, text):
        return f"{self.prefix}:{self.provider.name if self.provider else None}:{text}"

class Both:
    def __init__(self, site, provider):
        self.where = (site.name, provider.name if provider else None)
    async def body(self, text):
        return f"{self.where}:{text}"

class Leaky:
    def __init__(self, site):
        pass
    def body(self, text, token):
        raise RuntimeError(f"cannot log in with {token} as {text}")

class Prefixed:
    async def body(self, text, prefix):
        return prefix + ":" + text

class Vault:
    def __init__(self, prefix):
        self.prefix = prefix
    def secret_for_key(self, key):
        return {"user": "alice", "password": self.prefix + "-hunter2"} if key == "login" else None
"""


def run_echo(config: Path, **call: Any) -> Any:
    fed = load_federation(config)
    with Pipeline() as pipeline:
        Yield(fed.api.t.Echo(text="x", **call), place="out")
    with Session(fed) as session:
        job = session.execute(session.prepare(pipeline))
        job.wait(60)
        return job, fed


@pytest.mark.parametrize(
    ("adapter", "expected"),
    [
        ("rowlib.NoArgs", "none:x"),
        ("rowlib.SiteOnly", "home:x"),
        ("{path: rowlib.ProviderOnly, args: {prefix: q}}", "q:None:x"),
        ("rowlib.Both", "('home', None):x"),
    ],
)
def test_adapter_constructors_get_only_what_they_name(tmp_path: Path, adapter: str, expected: str) -> None:
    config = write(
        tmp_path,
        f"""\
        home:
          interface:
            "#/operations/t.Echo": {{adapter: {adapter}, args: from-operation}}
        """,
        files={"rowlib.py": ADAPTERS},
    )
    job, _ = run_echo(config)
    assert job.status is JobStatus.FINISHED, job.error
    assert [r.value for r in job.results()] == [expected]


def test_is_async_defaults_to_true_and_false_runs_a_plain_method(tmp_path: Path) -> None:
    fed = load_config_text(BASE + 'sites: {a: {interface: {"#/operations/t.Echo": {adapter: x.Y}}}}\n')
    assert fed.sites["a"].interface["#/operations/t.Echo"].is_async is True
    config = write(
        tmp_path,
        """\
        home:
          providers:
            desk:
              interface:
                "#/operations/t.Echo": {adapter: rowlib.ProviderOnly, is-async: false, args: {text: text}}
        """,
        files={"rowlib.py": ADAPTERS},
    )
    job, _ = run_echo(config)
    assert [r.value for r in job.results()] == ["p:desk:x"]


def test_a_secrets_vault_class_and_scrubbing_of_what_it_hands_out(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        """\
        home:
          secrets_vault: {path: rowlib.Vault, args: {prefix: s3cr3t}}
          interface:
            "#/operations/t.Echo":
              adapter: rowlib.Leaky
              args: {text: text, token: {from-secrets: login}}
        """,
        files={"rowlib.py": ADAPTERS},
    )
    job, _ = run_echo(config)
    assert job.status is JobStatus.FAILED
    assert "s3cr3t-hunter2" not in job.error and "***" in job.error  # a value inside a dict is scrubbed too


def test_the_default_vault_reads_dfm_secret_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DFM_SECRET_LOGIN", "pw-from-env")
    config = write(
        tmp_path,
        """\
        home:
          interface:
            "#/operations/t.Echo": {adapter: rowlib.Leaky, args: {text: text, token: {from-secrets: login}}}
        """,
        files={"rowlib.py": ADAPTERS},
    )
    job, _ = run_echo(config)
    assert "pw-from-env" not in job.error and "cannot log in with *** as x" in job.error


def test_expose_as_on_an_argument_adds_an_optional_parameter(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        """\
        home:
          interface:
            "#/operations/t.Echo":
              adapter: {path: rowlib.Prefixed, args: {}}
              args:
                text: text
                prefix: {const: c, expose-as: {param: prefix, type: string, accepts-place-input: false}}
        """,
        files={"rowlib.py": ADAPTERS},
    )
    job, fed = run_echo(config)
    assert [r.value for r in job.results()] == ["c:x"]
    job, _ = run_echo(config, prefix="given")
    assert [r.value for r in job.results()] == ["given:x"]
    with pytest.raises(PipelineError, match="parameter 'prefix': expected string, given 5"), Pipeline():
        fed.api.t.Echo(text="x", prefix=5)


def test_the_homesite_rule(tmp_path: Path) -> None:
    sites = "a: {}\n  server: {}\n"
    assert load_config_text(BASE + "sites:\n  " + sites).home() == "server"
    assert load_config_text(BASE + "homesite: a\nsites:\n  " + sites).home() == "a"
    assert load_config_text(BASE + "sites:\n  b: {}\n  a: {}\n").home() == "b"
    fed = load_config_text(BASE + "homesite: hq@example.org\nsites:\n  hq@example.org: {}\n  lab: {}\n")
    assert list(fed.sites) == ["hq", "lab"] and fed.home() == "hq"


def test_cache_config_stays_inside_the_federation_directory(tmp_path: Path) -> None:
    config = write(tmp_path, "home: {cache_config: {protocol: file, base_path: ../elsewhere}}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    (issue,) = caught.value.issues
    assert issue.pointer == "/sites/home/cache_config/base_path"
    assert "outside the federation directory" in issue.message


def test_ref_files_are_found_from_the_federation_directory_and_stay_inside_it(tmp_path: Path) -> None:
    (tmp_path / "outside.yaml").write_text("value: {type: string}\n")
    fed_dir = tmp_path / "fed"
    files = {
        "parts/ops.yaml": "t.Other:\n  parameters:\n    $ref: ['shared/params.yaml#/p']\n",
        "shared/params.yaml": "p:\n  n: {type: integer}\n",
    }
    config = write(fed_dir, "home: {}\n", "  $ref: [parts/ops.yaml]\n", files)
    fed = load_config(config)
    assert fed.operations["t.Other"].parameters["n"].type == "integer"
    # missing: every path tried is named
    (fed_dir / "shared/params.yaml").unlink()
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    (issue,) = caught.value.issues
    assert "'parts/shared/params.yaml'" in issue.message and "'shared/params.yaml'" in issue.message
    # outside: never read, whatever form
    (fed_dir / "parts/ops.yaml").write_text("t.Other:\n  parameters:\n    $ref: ['../../outside.yaml']\n")
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert "outside the federation directory" in caught.value.issues[0].message


def test_every_problem_in_one_run_with_readable_pointers_and_json(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        """\
        home:
          interface:
            "#/operations/t.Echo":
              adapter: nowhere.Adapter
              args: {text: txt}
              is-async: maybe
            "#/operations/t.Eco": {adapter: also.Nowhere}
        """,
        "homesite: nowhere\n",
    )
    result = dfm("fed", "validate", "--json", str(config))
    assert result.exit_code == 1
    rows = json.loads(result.stdout)
    messages = {(row["pointer"], row["message"].split(";")[0]) for row in rows}
    entry = "/sites/home/interface/#~1operations~1t.Echo"
    assert (f"{entry}/is-async", "expected a boolean, found a string") in messages  # structure
    assert ("/homesite", "unknown site 'nowhere'") in messages  # meaning
    assert any(p == "/sites/home/interface/#~1operations~1t.Eco" for p, _ in messages)  # references
    assert any("unknown adapter 'also.Nowhere'" in m for _, m in messages)  # adapters
    assert all(set(row) == {"file", "line", "column", "pointer", "message", "severity"} for row in rows)
    text = dfm("fed", "validate", str(config))
    assert "/sites/home/interface/t.Eco: unknown operation 't.Eco'" in text.stderr
    assert "~1" not in text.stderr


def test_placement_costs_load() -> None:
    fed = load_config_text(
        BASE
        + "sites:\n  server@hq.example.org:\n"
        + "    send_cost: {lab@lab.example.org: {fixed_time: 0.1, bandwidth: 1e9}}\n"
        + '    interface: {"#/operations/t.Echo": {adapter: x.Y, compute_cost: {fixed_time: 1}}}\n'
        + "  lab@lab.example.org: {}\n"
    )
    cost = fed.sites["server"].send_cost["lab"]  # @domain stripped in send_cost keys too
    assert (cost.fixed_time, cost.bandwidth) == (0.1, 1e9)  # YAML 1.2 exponent numbers are numbers
