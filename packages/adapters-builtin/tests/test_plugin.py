"""dfm-adapter-builtin as a plugin: DFM's plugin-package tests, and one record per ADAPTERS row."""

from __future__ import annotations

import dfm_adapter_builtin.plugin as plugin

from dfm.kernel.testing import PluginPackageTests


class TestPlugin(PluginPackageTests):
    distribution = "dfm-adapter-builtin"
    plugin = plugin

    def test_one_record_per_adapter_row(self):
        records = self.records()["adapters"]
        assert sorted(records) == sorted(name for name, _, _ in plugin.ADAPTERS)
        assert all(entry.summary and "\n" not in entry.summary for entry in records.values())
