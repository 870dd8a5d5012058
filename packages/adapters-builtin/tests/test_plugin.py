"""dfm-adapter-builtin as a plugin: discovered through its entry point, valid records, cheap import."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

import dfm_adapter_builtin
import dfm_adapter_builtin.plugin as plugin

from dfm.kernel import AdapterEntry, DfmPluginManager
from dfm.kernel.testing import check_plugin

NAMES = [name for name, _, _ in plugin.ADAPTERS]


def test_entry_point_is_declared():
    (ep,) = [ep for ep in entry_points(group="dfm.plugins") if ep.name == "dfm-adapter-builtin"]
    assert ep.value == "dfm_adapter_builtin.plugin"
    assert ep.dist is not None and ep.dist.name == "dfm-adapter-builtin"


def test_discovered_by_the_plugin_manager(monkeypatch):
    monkeypatch.delenv("DFM_DISABLE_PLUGINS", raising=False)
    monkeypatch.setenv("DFM_LOAD_PLUGINS", "dfm-adapter-builtin")  # no other third-party plugin interferes
    manager = DfmPluginManager(strict=True)
    manager.load_entry_points()
    registry = manager.registry("adapters")
    for name in NAMES:
        entry = registry[name]
        assert isinstance(entry, AdapterEntry)
        assert entry.provenance is not None
        assert entry.provenance.distribution == "dfm-adapter-builtin"
        assert entry.provenance.version == dfm_adapter_builtin.__version__
    assert manager.infos["dfm-adapter-builtin"].status == "active"


def test_records_and_adapter_classes_meet_the_contract():
    registries = check_plugin(plugin, distribution="dfm-adapter-builtin")
    assert sorted(registries["adapters"]) == sorted(NAMES)
    for entry in registries["adapters"].values():
        assert isinstance(entry.target, str)  # lazy
        assert entry.summary and "\n" not in entry.summary


def test_importing_the_plugin_imports_no_adapter():
    code = "import sys, dfm_adapter_builtin.plugin; print('dfm_adapter_builtin.adapters' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
