"""The plugin is installed, discovered through its entry point, and meets DFM's contract."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from dfm.kernel import DfmPluginManager
from dfm.kernel.testing import check_plugin

import dfm_adapter_{{ cookiecutter.underscored }}
import dfm_adapter_{{ cookiecutter.underscored }}.plugin as plugin

DISTRIBUTION = "dfm-adapter-{{ cookiecutter.hyphenated }}"
# What the plugin declares (its records), so adding an adapter to plugin.py needs no edit here.
ADAPTERS = sorted(record.name for record in plugin.dfm_adapters())


def test_the_plugin_declares_adapters():
    assert ADAPTERS, "plugin.dfm_adapters() yields no AdapterEntry records"


def test_entry_point_is_declared():
    found = [ep for ep in entry_points(group="dfm.plugins") if ep.name == DISTRIBUTION]
    assert found, f"no 'dfm.plugins' entry point named {DISTRIBUTION}: is the package installed?"
    (ep,) = found
    assert ep.value == "dfm_adapter_{{ cookiecutter.underscored }}.plugin"
    assert ep.dist is not None and ep.dist.name == DISTRIBUTION


def test_discovered_by_the_plugin_manager(monkeypatch):
    monkeypatch.delenv("DFM_DISABLE_PLUGINS", raising=False)
    monkeypatch.setenv("DFM_LOAD_PLUGINS", DISTRIBUTION)  # no other third-party plugin interferes
    manager = DfmPluginManager(strict=True)
    manager.load_entry_points()
    registry = manager.registry("adapters")
    for name in ADAPTERS:
        provenance = registry[name].provenance
        assert provenance is not None
        assert provenance.distribution == DISTRIBUTION
        assert provenance.version == dfm_adapter_{{ cookiecutter.underscored }}.__version__


def test_records_and_adapters_meet_the_contract():
    registries = check_plugin(plugin, distribution=DISTRIBUTION)
    assert sorted(registries["adapters"]) == ADAPTERS


def test_listed_by_dfm_plugins_list():
    dfm = shutil.which("dfm", path=str(Path(sys.executable).parent))
    if dfm is None:
        pytest.skip("dfm-cli is not installed")
    done = subprocess.run([dfm, "plugins", "list", "--json"], capture_output=True, text=True, check=True)
    plugins = {item["name"]: item for item in json.loads(done.stdout)}
    assert plugins[DISTRIBUTION]["status"] == "active"
    assert sorted(plugins[DISTRIBUTION]["contributions"]["adapters"]) == ADAPTERS


def test_importing_the_plugin_imports_no_adapter():
    code = (
        "import sys, dfm_adapter_{{ cookiecutter.underscored }}.plugin; "
        "print(sorted(m for m in sys.modules if m.startswith('dfm_adapter_{{ cookiecutter.underscored }}.')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "['dfm_adapter_{{ cookiecutter.underscored }}.plugin']"
