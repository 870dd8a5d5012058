"""Shared fixtures of dfm-cli's tests.

``pytest_plugins`` enables DFM's opt-in testing plugin (``fake_distribution``,
``plugin_manager``...); it works here because this is the top-level conftest
of ``pytest packages/dfm-cli/tests``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from click.testing import CliRunner, Result

from dfm.cli.group import reset_command_table
from dfm.cli.main import cli
from dfm.kernel.plugins import reset_plugin_manager

pytest_plugins = ["dfm.kernel.testing"]

CONTROLS = ("DFM_DISABLE_PLUGINS", "DFM_LOAD_PLUGINS", "DFM_TRACE_PLUGINS")


@pytest.fixture(autouse=True)
def isolated_cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[None]:
    """Strict plugins, no other plugin controls, a private registry and cache, fresh managers."""
    for name in CONTROLS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DFM_STRICT_PLUGINS", "1")
    monkeypatch.setenv("DFM_CONFIG_HOME", str(tmp_path / "dfm-config"))
    monkeypatch.setenv("DFM_CACHE_DIR", str(tmp_path / "dfm-cache"))  # the help listing cache
    reset_plugin_manager()
    reset_command_table()
    yield
    reset_plugin_manager()
    reset_command_table()


def _runner() -> CliRunner:
    if "mix_stderr" in inspect.signature(CliRunner).parameters:  # click < 8.2
        return CliRunner(mix_stderr=False)
    return CliRunner()


@pytest.fixture
def dfm() -> Callable[..., Result]:
    """``dfm("plugins", "list")`` runs the CLI in-process and returns click's Result."""

    def invoke(*args: str, **kwargs: Any) -> Result:
        return _runner().invoke(cli, list(args), prog_name="dfm", catch_exceptions=False, **kwargs)

    return invoke


HELLO_PLUGIN = """
from dfm.kernel import AdapterEntry, hookimpl


@hookimpl
def dfm_adapters():
    yield AdapterEntry("hello.Greet", "dfm_adapter_hello.adapters:Greet", summary="Says hello.")


@hookimpl(optionalhook=True)
def dfm_cli_commands():
    from dfm.cli.records import CliCommandEntry

    yield CliCommandEntry("hello", "dfm_adapter_hello.cli:hello", summary="Say hello.")
    yield CliCommandEntry("greet", "dfm_adapter_hello.cli:greet", summary="Greet a federation.", parent="fed")
"""

HELLO_CLI = '''
import click

from dfm.kernel import DfmError


class Boom(BaseException):
    pass


@click.command()
@click.argument("name", default="world")
@click.option("--fail", type=click.Choice(["dfm", "crash", "base", "generator", "interrupt"]))
def hello(name, fail):
    """Say hello."""
    if fail == "dfm":
        raise DfmError(f"cannot greet {name}: the greeter is asleep")
    if fail == "crash":
        raise RuntimeError("greeter exploded\\nsecond line")
    if fail == "base":
        raise Boom("greeter left")
    if fail == "generator":
        raise GeneratorExit
    if fail == "interrupt":
        raise KeyboardInterrupt
    click.echo(f"Hello, {name}!")


@click.command()
def greet():
    """Greet a federation."""
    click.echo("greetings, federation")
'''

HELLO_ADAPTERS = """
class Greet:
    def __init__(self, site, provider):
        self.site = site

    def body(self, name):
        return f"Hello, {name}!"
"""


@pytest.fixture
def hello_dist(fake_distribution: Callable[..., Any]) -> Any:
    """dfm-adapter-hello 1.0.0: an adapter, a top-level command and a command under 'fed'."""
    return fake_distribution(
        "dfm-adapter-hello",
        "1.0.0",
        plugin=HELLO_PLUGIN,
        modules={"dfm_adapter_hello.cli": HELLO_CLI, "dfm_adapter_hello.adapters": HELLO_ADAPTERS},
    )


@pytest.fixture
def broken_dist(fake_distribution: Callable[..., Any]) -> Any:
    """dfm-adapter-broken 0.3.1, whose plugin module cannot be imported."""
    return fake_distribution("dfm-adapter-broken", "0.3.1", plugin="import not_installed_anywhere\n")
