"""The opt-in pytest plugin ``dfm.kernel.testing``: fixtures and contract checkers."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import types
from importlib.metadata import entry_points

import pytest

from dfm.kernel import AdapterEntry, DfmPluginManager, hookimpl
from dfm.kernel.testing import (
    ContractViolation,
    HookRecorder,
    adapter_problems,
    check_adapter_class,
    check_plugin,
    check_records,
)

# -- adapter contract -----------------------------------------------------------------------------


class SyncAdapter:
    def __init__(self, site, provider):
        pass

    def body(self, name, greeting="Hello"):
        return f"{greeting}, {name}"


class AsyncAdapter:
    def __init__(self, site, provider, *, retries=3):
        pass

    async def body(self, **args):
        return args


class NoInit:
    def body(self, **args):
        return args


class SwappedInit:
    def __init__(self, provider, site):
        pass

    def body(self):
        return 1


class StaticBody:
    def __init__(self, site, provider):
        pass

    @staticmethod
    def body(name):
        return name


class PositionalOnly:
    def __init__(self, site, provider):
        pass

    def body(self, name, /):
        return name


@pytest.mark.parametrize("cls", [SyncAdapter, AsyncAdapter])
def test_conforming_adapters_pass(cls):
    check_adapter_class(cls)
    check_adapter_class(cls, args=["name"])


@pytest.mark.parametrize(
    "cls, problem",
    [
        (NoInit, "__init__(self, site, provider) is missing"),
        (SwappedInit, "__init__ must be __init__(self, site, provider), found SwappedInit(provider, site)"),
        (StaticBody, "body must be an instance method, not a static or class method"),
        (PositionalOnly, "body takes its arguments by keyword; positional-only name cannot be fed"),
        (object(), "is not a class"),
    ],
)
def test_each_broken_adapter_is_named(cls, problem):
    with pytest.raises(ContractViolation, match="breaks the DFM contract") as raised:
        check_adapter_class(cls)

    assert any(problem in p for p in raised.value.problems), raised.value.problems
    assert isinstance(raised.value, AssertionError)


def test_adapter_arguments_are_checked_against_bindings():
    assert adapter_problems(SyncAdapter, args=["name", "where"]) == [
        "body does not accept where (body(self, name, greeting='Hello'))"
    ]
    assert adapter_problems(SyncAdapter, args=["greeting"]) == [
        "body requires name, which the bindings do not feed"
    ]
    assert adapter_problems(AsyncAdapter, args=["anything", "at-all"]) == []


# -- record contract ------------------------------------------------------------------------------


def test_check_plugin_accepts_a_good_plugin_and_loads_targets():
    module = types.ModuleType("good_plugin")
    module.dfm_adapters = hookimpl(lambda: AdapterEntry("sync.Greet", lambda: SyncAdapter))
    module.dfm_adapters.__name__ = "dfm_adapters"

    registries = check_plugin(module, distribution="dfm-adapter-good")

    assert registries["adapters"]["sync.Greet"].source == "dfm-adapter-good 0"


def test_check_plugin_reports_every_problem():
    def dfm_adapters():
        yield AdapterEntry("no.Init", lambda: NoInit)
        yield AdapterEntry("gone.Missing", "module_that_is_not_there:Thing")

    module = types.ModuleType("bad_plugin")
    module.dfm_adapters = hookimpl(dfm_adapters)

    with pytest.raises(ContractViolation) as raised:
        check_plugin(module, distribution="dfm-adapter-bad")

    problems = raised.value.problems
    assert problems[0].startswith("adapter 'gone.Missing' from dfm-adapter-bad 0: cannot load")
    assert (
        problems[1] == "adapter 'no.Init' from dfm-adapter-bad 0: __init__(self, site, provider) is missing"
    )


def test_check_records_reports_unknown_hooks(plugin_manager):
    module = types.ModuleType("typo_plugin")
    module.dfm_codec = hookimpl(lambda: [])
    module.dfm_codec.__name__ = "dfm_codec"
    plugin_manager.register_plugin(module, distribution="dfm-typo")

    with pytest.raises(ContractViolation, match="did you mean 'dfm_codecs'"):
        check_records(plugin_manager)


# -- fixtures -------------------------------------------------------------------------------------


def test_hook_recorder_context_manager():
    manager = DfmPluginManager(strict=True)
    manager.register_plugin(types.ModuleType("empty"), distribution="empty")
    with HookRecorder(manager) as recorder:
        manager.hook.dfm_codecs()
    manager.hook.dfm_codecs()

    assert recorder.names() == ["dfm_codecs"]
    recorder.clear()
    assert recorder.calls == []


def test_plugin_manager_fixture_is_fresh_and_strict(plugin_manager, hook_recorder):
    assert plugin_manager.strict and not plugin_manager.infos
    assert hook_recorder.manager is plugin_manager


def test_testing_is_not_a_pytest11_entry_point():
    assert not [ep for ep in entry_points(group="pytest11") if ep.value.startswith("dfm.kernel.testing")]


CONFTEST = """
import dfm.kernel.testing  # imported before pytest_plugins names it: must not warn

pytest_plugins = ["dfm.kernel.testing"]
"""

TESTS = '''
import sys

from dfm.kernel import get_plugin_manager

# docs-start: fake-distribution
PLUGIN = """
from dfm.kernel import AdapterEntry, hookimpl

@hookimpl
def dfm_adapters():
    yield AdapterEntry("{name}", "dfm_adapter_same.plugin:X")
"""


def test_first(fake_distribution):
    fake_distribution("dfm-adapter-same", "1.0", plugin=PLUGIN.format(name="first.One"))
    assert list(get_plugin_manager().registry("adapters")) == ["first.One"]


def test_second_sees_no_leftovers(fake_distribution):
    assert "dfm_adapter_same.plugin" not in sys.modules
    assert "dfm-adapter-same" not in get_plugin_manager().infos
    fake_distribution("dfm-adapter-same", "2.0", plugin=PLUGIN.format(name="second.Two"))
    manager = get_plugin_manager()
    assert manager.infos["dfm-adapter-same"].version == "2.0"
    assert list(manager.registry("adapters")) == ["second.Two"]
# docs-end: fake-distribution


def test_plugin_manager(plugin_manager, hook_recorder):
    plugin_manager.registry("adapters")
    assert hook_recorder.names() == []
'''


def test_opt_in_plugin_in_a_project_with_warnings_as_errors(tmp_path):
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_project.py").write_text(textwrap.dedent(TESTS))
    (tmp_path / "pytest.ini").write_text("[pytest]\nfilterwarnings = error\naddopts = -p no:cacheprovider\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DFM_", "PYTEST_"))}

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-W", "error", str(tmp_path)],
        cwd=tmp_path,
        env={**env, "DFM_STRICT_PLUGINS": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout
