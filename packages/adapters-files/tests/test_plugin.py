"""dfm-adapter-files as a plugin: DFM's plugin-package tests, and pyarrow only when Parquet is used."""

from __future__ import annotations

import subprocess
import sys

import dfm_adapter_files.plugin as plugin

from dfm.kernel.testing import PluginPackageTests


class TestPlugin(PluginPackageTests):
    distribution = "dfm-adapter-files"
    plugin = plugin
    lazy_modules = ("fsspec", "pyarrow")

    def test_the_five_adapters(self):
        assert sorted(self.records()["adapters"]) == [
            "files.List",
            "files.Read",
            "files.ReadTable",
            "files.Write",
            "files.WriteTable",
        ]


def test_loading_the_adapters_does_not_import_pyarrow():
    code = "import sys, dfm_adapter_files.adapters; print('pyarrow' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
