"""dfm-adapter-files as a plugin: discovered through its entry point, valid records, cheap import."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

import dfm_adapter_files
import dfm_adapter_files.plugin as plugin

from dfm.kernel import DfmPluginManager
from dfm.kernel.testing import check_plugin

NAMES = sorted(name for name, _, _ in plugin.ADAPTERS)


def test_entry_point_is_declared():
    (ep,) = [ep for ep in entry_points(group="dfm.plugins") if ep.name == "dfm-adapter-files"]
    assert ep.value == "dfm_adapter_files.plugin"
    assert ep.dist is not None and ep.dist.name == "dfm-adapter-files"


def test_discovered_by_the_plugin_manager(monkeypatch):
    monkeypatch.delenv("DFM_DISABLE_PLUGINS", raising=False)
    monkeypatch.setenv("DFM_LOAD_PLUGINS", "dfm-adapter-files")  # no other third-party plugin interferes
    manager = DfmPluginManager(strict=True)
    manager.load_entry_points()
    registry = manager.registry("adapters")
    for name in NAMES:
        provenance = registry[name].provenance
        assert provenance is not None
        assert (provenance.distribution, provenance.version) == (
            "dfm-adapter-files",
            dfm_adapter_files.__version__,
        )


def test_records_and_adapter_classes_meet_the_contract():
    registries = check_plugin(plugin, distribution="dfm-adapter-files")
    assert (
        sorted(registries["adapters"])
        == NAMES
        == [
            "files.List",
            "files.Read",
            "files.ReadTable",
            "files.Write",
            "files.WriteTable",
        ]
    )


def test_importing_the_plugin_imports_neither_fsspec_nor_pyarrow():
    code = (
        "import sys, dfm_adapter_files.plugin; "
        "print(sorted(m for m in ('fsspec', 'pyarrow', 'dfm_adapter_files.adapters') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_loading_the_adapters_does_not_import_pyarrow():
    code = "import sys, dfm_adapter_files.adapters; print('pyarrow' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
