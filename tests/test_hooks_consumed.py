"""Every hook exercised through the code that consumes it (datasette's habit).

One third-party distribution, ``dfm-testkit``, installed for real (a ``.dist-info``
on ``sys.path``), contributes one record to every registry; each ``test_hook_<name>``
shows that DFM's own consumer of that registry picks it up without any change to
DFM: an unused registry fails here. The last test checks that every hookspec has
its ``test_hook_<name>``.
"""

from __future__ import annotations

import inspect
import os
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from dfm.api import Pipeline, PlaceParam, Yield, load_federation
from dfm.cli import hookspecs as cli_hookspecs
from dfm.cli.main import cli
from dfm.kernel import hookspecs
from dfm.runner import Session

PLUGIN = """
    from pathlib import Path

    from dfm.kernel import hookimpl
    from dfm.kernel.records import (
        AdapterEntry, CliCommandEntry, CodecEntry, EmitterEntry, EmitterOption,
        PlacementStrategyEntry, TransportEntry,
    )


    @hookimpl
    def dfm_adapters():
        yield AdapterEntry("kit.Shout", "dfm_testkit.parts:Shout", summary="upper-cases its input")


    @hookimpl
    def dfm_placement_strategies():
        yield PlacementStrategyEntry("kit-greedy", "dfm_testkit.parts:kit_greedy", summary="greedy, counted")


    @hookimpl
    def dfm_transports():
        yield TransportEntry("kit-inproc", "dfm_testkit.parts:KitTransport", summary="inproc, counted")


    @hookimpl
    def dfm_emitters():
        yield EmitterEntry(
            "kit-count", "dfm_testkit.parts:count", summary="counts nodes", takes="pipeline", writes="text"
        )
        yield EmitterEntry(
            "kit-sites",
            "dfm_testkit.parts:sites",
            summary="one file listing the sites",
            takes="federation",
            writes="sites.txt",
            options=(EmitterOption("--upper", "Upper-case the names.", flag=True),),
        )


    @hookimpl
    def dfm_codecs():
        yield CodecEntry("kit-logged", "dfm_testkit.parts:LoggedCodec", summary="safe, with a log")


    @hookimpl(optionalhook=True)
    def dfm_cli_commands():
        yield CliCommandEntry("kit", "dfm_testkit.parts:kit", summary="The testkit's command.")
"""

PARTS = """
    import os
    from pathlib import Path

    import click

    from dfm.kernel.codecs import SafeCodec
    from dfm.runner.transports.inproc import InprocTransport

    CALLS = []


    class Shout:
        def __init__(self, site, provider):
            self.site = site.name

        def body(self, text):
            return f"{text.upper()} at {self.site}"


    def kit_greedy(problem):
        from dfm.compiler.placement.greedy import greedy

        CALLS.append("placement")
        return greedy(problem)


    class KitTransport(InprocTransport):
        name = "kit-inproc"

        async def start(self):
            CALLS.append("transport")
            await super().start()


    def count(prepared, federation):
        return f"{len(prepared.placement)} node(s)\\n"


    def sites(federation, *, config_path, output_dir, upper=False, **options):
        out = Path(output_dir or config_path.parent) / "sites.txt"
        names = [s.upper() if upper else s for s in federation.sites]
        out.write_text("\\n".join(names) + "\\n")
        return [out]


    class LoggedCodec(SafeCodec):
        name = "kit-logged"

        def encode(self, value):
            with open(os.environ["KIT_CODEC_LOG"], "a") as log:
                log.write(f"{os.getpid()}\\n")
            header, buffers = super().encode(value)
            return {"kit": header}, buffers

        def decode(self, header, buffers):
            return super().decode(header["kit"], buffers)


    @click.command("kit")
    def kit():
        click.echo("testkit here")
"""

CONFIG = """
    dfm: 1.0.0
    info: {{api-version: 1.0.0, code-package: kitfed}}
    homesite: home
    {codec}
    operations:
      text.Shout:
        parameters: {{text: {{type: string}}}}
        required: [text]
    sites:
      home: {{}}
      far:
        interface:
          "#/operations/text.Shout":
            adapter: kit.Shout
            args: from-operation
"""

PIPELINE_FILE = """
    FEDERATION = "kitfed.dfm.yaml"

    def get_pipeline(fed):
        from dfm.api import Pipeline, PlaceParam, Yield

        with Pipeline() as p:
            Yield(fed.api.text.Shout(text=PlaceParam("text")), place="out")
        return p
"""


@pytest.fixture
def testkit(fake_distribution, tmp_path, monkeypatch):
    dist = fake_distribution(
        "dfm-testkit", "1.2.0", plugin=PLUGIN, modules={"dfm_testkit.parts": PARTS}, summary="test kit"
    )
    # site processes of the process transport find the distribution the way this process does
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(dist.root), os.environ.get("PYTHONPATH", "")]))
    yield dist


def write_config(folder: Path, codec: str = "") -> Path:
    path = folder / "kitfed.dfm.yaml"
    path.write_text(textwrap.dedent(CONFIG.format(codec=f"codec: {codec}" if codec else "")))
    return path


def shout_pipeline(fed):
    with Pipeline() as p:
        Yield(fed.api.text.Shout(text=PlaceParam("text")), place="out")
    return p


def calls() -> list[str]:
    return sys.modules["dfm_testkit.parts"].CALLS


def test_hook_dfm_adapters(testkit, tmp_path):
    fed = load_federation(write_config(tmp_path))
    with Session(fed) as session:
        job = session.execute(session.prepare(shout_pipeline(fed)), {"text": "hi"})
        assert [r.value for r in job.results(timeout=30)] == ["HI at far"]


def test_hook_dfm_placement_strategies(testkit, tmp_path):
    fed = load_federation(write_config(tmp_path))
    with Session(fed, strategy="kit-greedy") as session:
        prepared = session.prepare(shout_pipeline(fed))
    assert prepared.placement["n1"] == "far"
    assert calls() == ["placement"]


def test_hook_dfm_transports(testkit, tmp_path):
    fed = load_federation(write_config(tmp_path))
    with Session(fed, transport="kit-inproc") as session:
        job = session.execute(session.prepare(shout_pipeline(fed)), {"text": "yo"})
        assert [r.value for r in job.results(timeout=30)] == ["YO at far"]
    assert "transport" in calls()


def test_hook_dfm_emitters(testkit, tmp_path):
    """A third-party emitter appears in 'dfm pipeline show --format' and as 'dfm fed gen <kind>'."""
    config = write_config(tmp_path)
    (tmp_path / "pipe.py").write_text(textwrap.dedent(PIPELINE_FILE))
    runner = CliRunner()

    help_text = runner.invoke(cli, ["pipeline", "show", "--help"]).output
    assert "kit-count" in help_text
    shown = runner.invoke(cli, ["pipeline", "show", str(tmp_path / "pipe.py"), "--format", "kit-count"])
    assert shown.exit_code == 0, shown.output
    assert shown.output == "2 node(s)\n"  # the call and its Yield
    bad = runner.invoke(cli, ["pipeline", "show", str(tmp_path / "pipe.py"), "--format", "kit-cont"])
    assert bad.exit_code == 2 and "did you mean 'kit-count'?" in bad.output

    listing = runner.invoke(cli, ["fed", "gen", "--help"]).output
    assert "kit-sites" in listing and "Emitters from dfm-testkit 1.2.0" in listing
    assert "code" in listing  # dfm-compiler's python-api emitter
    made = runner.invoke(
        cli, ["fed", "gen", "kit-sites", str(config), "--upper", "--output-dir", str(tmp_path)]
    )
    assert made.exit_code == 0, made.output
    assert (tmp_path / "sites.txt").read_text() == "HOME\nFAR\n"
    assert "kit-sites: wrote 1 file" in made.output


def test_hook_dfm_codecs(testkit, tmp_path, monkeypatch):
    """The federation names a third-party codec; the process transport's sites carry a pipeline with it."""
    log = tmp_path / "codec.log"
    monkeypatch.setenv("KIT_CODEC_LOG", str(log))
    fed = load_federation(write_config(tmp_path, codec="kit-logged"))
    with Session(fed, transport="process") as session:
        job = session.execute(session.prepare(shout_pipeline(fed)), {"text": "far away"})
        assert [r.value for r in job.results(timeout=60)] == ["FAR AWAY at far"]
    pids = set(log.read_text().split())
    assert str(os.getpid()) in pids and len(pids) >= 2  # the application and at least one site process


def test_unknown_codec_names_the_known_ones(testkit, tmp_path):
    from dfm.kernel.errors import UnknownPluginError

    fed = load_federation(write_config(tmp_path, codec="kit-loged"))
    with (
        pytest.raises(UnknownPluginError, match="unknown codec 'kit-loged'; did you mean 'kit-logged'"),
        Session(fed, transport="inproc") as session,
    ):
        session.prepare(shout_pipeline(fed))


def test_hook_dfm_cli_commands(testkit):
    runner = CliRunner()
    assert "kit" in runner.invoke(cli, ["--help"]).output
    result = runner.invoke(cli, ["kit"])
    assert result.exit_code == 0 and result.output == "testkit here\n"


def test_every_hook_has_a_consumer_test():
    specs = [
        name
        for module in (hookspecs, cli_hookspecs)
        for name, value in vars(module).items()
        if inspect.isfunction(value) and name.startswith("dfm_")
    ]
    tests = {name for name in globals() if name.startswith("test_hook_")}
    assert sorted(f"test_hook_{name}" for name in specs) == sorted(tests)
