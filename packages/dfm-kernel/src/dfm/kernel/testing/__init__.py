"""Opt-in pytest plugin and contract checks for DFM plugin authors.

Enable it in a ``conftest.py`` at the root of your tests (it is deliberately
not a ``pytest11`` entry point, so it never runs in test sessions that did
not ask for it)::

    pytest_plugins = ["dfm.kernel.testing"]

Fixtures:

``plugin_manager``     a fresh strict :class:`~dfm.kernel.plugins.DfmPluginManager`
                       with the kernel's hookspecs and nothing loaded.
``fake_distribution``  factory writing a real ``<name>-<version>.dist-info`` with a
                       ``[dfm.plugins]`` entry point and its modules under ``tmp_path``,
                       put first on ``sys.path`` for the test.
``hook_recorder``      a :class:`HookRecorder` on ``plugin_manager``.

Contract checks, callable from any test: :func:`check_adapter_class`,
:func:`check_records`, :func:`check_plugin`; :class:`PluginPackageTests`, the
tests every plugin distribution subclasses in its ``tests/test_plugin.py``. What adapters receive, for their
unit tests: :func:`site_context`, :func:`provider_context`.

(PYTEST_DONT_REWRITE: nothing here relies on assertion rewriting, and the
marker keeps pytest from warning when this module was imported before
``pytest_plugins`` named it.)
"""

from dfm.kernel.testing.contexts import provider_context, site_context
from dfm.kernel.testing.contracts import (
    ContractViolation,
    adapter_problems,
    check_adapter_class,
    check_plugin,
    check_records,
)
from dfm.kernel.testing.distributions import FakeDistribution, write_distribution
from dfm.kernel.testing.fixtures import fake_distribution, hook_recorder, plugin_manager
from dfm.kernel.testing.packages import PluginPackageTests
from dfm.kernel.testing.recorder import HookCall, HookRecorder

__all__ = [
    "provider_context",
    "site_context",
    "ContractViolation",
    "FakeDistribution",
    "HookCall",
    "HookRecorder",
    "PluginPackageTests",
    "adapter_problems",
    "check_adapter_class",
    "check_plugin",
    "check_records",
    "fake_distribution",
    "hook_recorder",
    "plugin_manager",
    "write_distribution",
]
