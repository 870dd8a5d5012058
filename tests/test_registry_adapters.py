"""A third-party adapter distribution, found through its entry point, runs under its registry name."""

from __future__ import annotations

import textwrap

import pytest

from dfm.api import Pipeline, PlaceParam, Yield, load_federation
from dfm.kernel.errors import PluginVersionError
from dfm.runner import JobStatus, Session

PLUGIN = """
from dfm.kernel import AdapterEntry, hookimpl

@hookimpl
def dfm_adapters():
    yield AdapterEntry("hello.Greet", "dfm_adapter_hello.adapters:Greet", summary="greets")
"""

ADAPTERS = """
class Greet:
    def __init__(self, site, provider):
        self.site = site

    def body(self, name, punctuation="!"):
        return f"hello {name} from {self.site.name}{punctuation}"
"""

CONFIG = """
dfm: 1.0.0
info: {{api-version: 1.0.0, code-package: hellofed}}
homesite: home
plugins:
  dfm-adapter-hello: "{pin}"
operations:
  hello.Greet:
    parameters: {{name: {{type: string}}}}
    required: [name]
sites:
  home: {{}}
  far:
    interface:
      "#/operations/hello.Greet":
        adapter: {adapter}
        args:
          name: {{from-param: name}}
          punctuation: {{const: ""}}
"""


@pytest.fixture
def hello(fake_distribution):
    return fake_distribution(
        "dfm-adapter-hello", "0.3.0", plugin=PLUGIN, modules={"dfm_adapter_hello.adapters": ADAPTERS}
    )


def write(tmp_path, pin=">=0.2,<1", adapter="hello.Greet"):
    path = tmp_path / "hello.dfm.yaml"
    path.write_text(textwrap.dedent(CONFIG.format(pin=pin, adapter=adapter)))
    return path


def test_adapter_from_a_plugin_runs_by_registry_name(hello, tmp_path):
    fed = load_federation(write(tmp_path))
    with Pipeline() as p:
        Yield(fed.api.hello.Greet(name=PlaceParam("who")), place="greeting")
    with Session(fed) as session:
        prepared = session.prepare(p)
        assert prepared.placement["n1"] == "far"
        job = session.execute(prepared, {"who": "Ada"})
        assert [r.value for r in job.results(timeout=30)] == ["hello Ada from far"]  # falsy const kept
    assert job.status is JobStatus.FINISHED


def test_unmet_pin_names_installed_version(hello, tmp_path):
    with pytest.raises(PluginVersionError, match=r"dfm-adapter-hello: requires >=1, found 0\.3\.0"):
        Session(write(tmp_path, pin=">=1"))


def test_fed_validate_suggests_the_registry_name(hello, tmp_path):
    from click.testing import CliRunner

    from dfm.cli.main import cli

    result = CliRunner().invoke(cli, ["fed", "validate", str(write(tmp_path, adapter="hello.Gret"))])
    assert result.exit_code == 1
    assert "hello.Gret" in result.output and "did you mean 'hello.Greet'?" in result.output
