"""The plugin is installed, discovered through its entry point, and meets DFM's contract.

:class:`~dfm.kernel.testing.PluginPackageTests` holds the tests (entry point declared,
records valid, adapter classes conform, discovered with this distribution's
name and version, cheap to import, listed by ``dfm plugins list``).
"""

from __future__ import annotations

from dfm.kernel.testing import PluginPackageTests

import dfm_adapter_{{ cookiecutter.underscored }}.plugin as plugin


class TestPlugin(PluginPackageTests):
    distribution = "dfm-adapter-{{ cookiecutter.hyphenated }}"
    plugin = plugin
    lazy_modules = ()  # add the heavy libraries your adapters import (drivers, SDKs)
