"""``PluginPackageTests``: the tests every plugin distribution runs on itself.

Subclass it in the distribution's ``tests/test_plugin.py`` and say which
distribution and plugin module are under test; pytest collects the subclass
(its name starts with ``Test``) and runs every test below on it::

    import dfm_adapter_sql.plugin

    from dfm.kernel.testing import PluginPackageTests


    class TestPlugin(PluginPackageTests):
        distribution = "dfm-adapter-sql"
        plugin = dfm_adapter_sql.plugin
        lazy_modules = ("sqlite3", "psycopg")

The distribution must be installed (its entry point is what is tested), as
it is in a nox session or after ``pip install -e .``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from importlib.metadata import entry_points, version
from pathlib import Path
from types import ModuleType
from typing import ClassVar

import pytest

from dfm.kernel.plugins import GROUP, DfmPluginManager
from dfm.kernel.records import Entry
from dfm.kernel.testing.contracts import check_plugin

__all__ = ["PluginPackageTests"]


class PluginPackageTests:
    """Discovery, provenance, contracts, cheap import and listing of one plugin distribution."""

    distribution: ClassVar[str]
    """The distribution under test, as its entry point is named: ``"dfm-adapter-sql"``."""

    plugin: ClassVar[ModuleType]
    """Its plugin module, the entry point's target: ``dfm_adapter_sql.plugin``."""

    lazy_modules: ClassVar[tuple[str, ...]] = ()
    """Modules importing the plugin must not import (drivers, heavy libraries), besides the
    distribution's own modules other than the plugin, which are never allowed."""

    def records(self) -> dict[str, dict[str, Entry]]:
        """The plugin's records by kind, checked by :func:`check_plugin`."""
        return check_plugin(self.plugin, distribution=self.distribution)

    def test_entry_point_is_declared(self) -> None:
        """An installed ``dfm.plugins`` entry point named for the distribution points at the plugin module."""
        found = [ep for ep in entry_points(group=GROUP) if ep.name == self.distribution]
        assert found, f"no '{GROUP}' entry point named {self.distribution}: is the package installed?"
        (ep,) = found
        assert ep.value == self.plugin.__name__
        assert ep.dist is not None and ep.dist.name == self.distribution

    def test_records_and_adapter_classes_meet_the_contract(self) -> None:
        """Every record is valid, every target imports, every adapter class has the adapter shape."""
        registries = self.records()
        assert any(registries.values()), f"{self.plugin.__name__} contributes nothing"
        for entries in registries.values():
            for entry in entries.values():
                assert isinstance(entry.target, str), f"{entry.name}: targets are import strings (lazy)"

    def test_discovered_by_the_plugin_manager(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Loaded through its entry point, every record carries the installed name and version."""
        monkeypatch.delenv("DFM_DISABLE_PLUGINS", raising=False)
        monkeypatch.setenv("DFM_LOAD_PLUGINS", self.distribution)  # no other third-party plugin interferes
        manager = DfmPluginManager(strict=True)
        manager.load_entry_points()
        assert manager.infos[self.distribution].status == "active"
        for kind, entries in self.records().items():
            registry = manager.registry(kind)
            for name in entries:
                provenance = registry[name].provenance
                assert provenance is not None
                assert (provenance.distribution, provenance.version) == (
                    self.distribution,
                    version(self.distribution),
                )

    def test_importing_the_plugin_is_cheap(self) -> None:
        """``dfm --help`` and ``dfm plugins list`` import every plugin module: it imports nothing heavy."""
        package = self.plugin.__name__.rpartition(".")[0]
        code = (
            f"import sys, {self.plugin.__name__}; "
            f"print(sorted(m for m in sys.modules if m.startswith({package + '.'!r}) "
            f"or m in {self.lazy_modules!r}))"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert done.stdout.strip() == repr([self.plugin.__name__])

    def test_listed_by_dfm_plugins_list(self) -> None:
        """``dfm plugins list --json`` shows it active with its contributions (needs dfm-cli)."""
        dfm = shutil.which("dfm", path=str(Path(sys.executable).parent))
        if dfm is None:
            pytest.skip("dfm-cli is not installed")
        done = subprocess.run([dfm, "plugins", "list", "--json"], capture_output=True, text=True, check=True)
        plugins = {item["name"]: item for item in json.loads(done.stdout)}
        assert plugins[self.distribution]["status"] == "active"
        for kind, entries in self.records().items():
            if entries:
                assert sorted(plugins[self.distribution]["contributions"][kind]) == sorted(entries)
