"""Fixtures for the plugin-manager tests.

Plugin authors enable ``dfm.kernel.testing`` with ``pytest_plugins`` in their
top-level conftest. This conftest is not the top-level one of every run that
reaches it (``pytest packages/dfm-kernel/tests``), and pytest only honours
``pytest_plugins`` there, so the fixtures are imported instead, which
registers them just the same.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import pytest

from dfm.kernel.testing import FakeDistribution, fake_distribution, hook_recorder, plugin_manager

__all__ = [
    "fake_distribution",
    "hook_recorder",
    "isolated_plugin_env",
    "make_adapter_dist",
    "plugin_manager",
    "sources",
]

CONTROLS = ("DFM_DISABLE_PLUGINS", "DFM_LOAD_PLUGINS", "DFM_STRICT_PLUGINS", "DFM_TRACE_PLUGINS")


@pytest.fixture(autouse=True)
def isolated_plugin_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts without plugin controls; tests set the ones they exercise."""
    for name in CONTROLS:
        monkeypatch.delenv(name, raising=False)


def adapter_plugin(package: str, *names: str) -> str:
    """A plugin module providing one adapter per name, all pointing at ``<package>.adapters:Greet``."""
    lines = ["from dfm.kernel import AdapterEntry, hookimpl", "", "", "@hookimpl", "def dfm_adapters():"]
    for name in names:
        lines.append(f"    yield AdapterEntry({name!r}, '{package}.adapters:Greet', summary='says hello')")
    return "\n".join(lines) + "\n"


ADAPTERS_MODULE = '''
class Greet:
    """Greets whoever is named."""

    def __init__(self, site, provider):
        self.site = site
        self.provider = provider

    def body(self, name, greeting="Hello"):
        return f"{greeting}, {name}!"
'''

BROKEN_PLUGIN = """
import not_installed_anywhere  # noqa: F401

from dfm.kernel import hookimpl
"""

TRANSPORT_PLUGIN = """
from dfm.kernel import TransportEntry, hookimpl


@hookimpl
def dfm_transports():
    return TransportEntry("pigeon", "carrier.pigeon:Pigeon", summary="RFC 1149")
"""


@attrs.frozen
class Sources:
    adapter_plugin: Callable[..., str]
    adapters_module: str
    broken_plugin: str
    transport_plugin: str


@pytest.fixture
def sources() -> Sources:
    """Source text of small plugin modules, to write into fake distributions."""
    return Sources(adapter_plugin, ADAPTERS_MODULE, BROKEN_PLUGIN, TRANSPORT_PLUGIN)


@pytest.fixture
def make_adapter_dist(fake_distribution: Callable[..., FakeDistribution]) -> Callable[..., FakeDistribution]:
    """``make_adapter_dist(name, version, *adapter_names)``: a working adapter plugin distribution."""

    def make(name: str, version: str, *adapter_names: str, **options: Any) -> FakeDistribution:
        package = name.replace("-", "_")
        return fake_distribution(
            name,
            version,
            plugin=adapter_plugin(package, *adapter_names),
            modules={f"{package}.adapters": ADAPTERS_MODULE},
            **options,
        )

    return make
