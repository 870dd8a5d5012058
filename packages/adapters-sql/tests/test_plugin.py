"""dfm-adapter-sql as a plugin: DFM's plugin-package tests."""

from __future__ import annotations

# docs-start: plugin-package-tests
import dfm_adapter_sql.plugin as plugin

from dfm.kernel.testing import PluginPackageTests


class TestPlugin(PluginPackageTests):
    distribution = "dfm-adapter-sql"
    plugin = plugin
    lazy_modules = ("sqlite3", "psycopg")  # database drivers: imported only when a query runs

    def test_the_two_adapters(self):
        assert sorted(self.records()["adapters"]) == ["sql.Aggregate", "sql.Query"]


# docs-end: plugin-package-tests
