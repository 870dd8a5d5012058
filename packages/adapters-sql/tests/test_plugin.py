"""dfm-adapter-sql as a plugin: discovered through its entry point, valid records, cheap import."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

import dfm_adapter_sql
import dfm_adapter_sql.plugin as plugin

from dfm.kernel import AdapterEntry, DfmPluginManager
from dfm.kernel.testing import check_plugin


def test_entry_point_is_declared():
    (ep,) = [ep for ep in entry_points(group="dfm.plugins") if ep.name == "dfm-adapter-sql"]
    assert ep.value == "dfm_adapter_sql.plugin"
    assert ep.dist is not None and ep.dist.name == "dfm-adapter-sql"


# docs-start: discovery
def test_discovered_by_the_plugin_manager(monkeypatch):
    monkeypatch.delenv("DFM_DISABLE_PLUGINS", raising=False)
    monkeypatch.setenv("DFM_LOAD_PLUGINS", "dfm-adapter-sql")  # no other third-party plugin interferes
    manager = DfmPluginManager(strict=True)
    manager.load_entry_points()
    registry = manager.registry("adapters")
    for name in ("sql.Query", "sql.Aggregate"):
        entry = registry[name]
        assert isinstance(entry, AdapterEntry)
        assert entry.provenance is not None
        assert (entry.provenance.distribution, entry.provenance.version) == (
            "dfm-adapter-sql",
            dfm_adapter_sql.__version__,
        )


# docs-end: discovery


# docs-start: contract
def test_records_and_adapter_classes_meet_the_contract():
    registries = check_plugin(plugin, distribution="dfm-adapter-sql")
    assert sorted(registries["adapters"]) == ["sql.Aggregate", "sql.Query"]


# docs-end: contract


# docs-start: cheap-import
def test_importing_the_plugin_imports_no_driver():
    code = (
        "import sys, dfm_adapter_sql.plugin; "
        "print(sorted(m for m in ('sqlite3', 'psycopg', 'dfm_adapter_sql.adapters') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# docs-end: cheap-import
