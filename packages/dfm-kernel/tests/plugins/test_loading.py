"""Isolation of broken plugins, strict mode, and the environment controls."""

from __future__ import annotations

import re
import sys

import pytest

from dfm.kernel import (
    DfmPluginManager,
    PluginContractError,
    PluginLoadError,
    get_plugin_manager,
    hookimpl,
)
from dfm.kernel.plugins import DfmPluginWarning

BROKEN_MESSAGE = (
    "plugin dfm-adapter-broken 0.3.1 (entry point dfm_adapter_broken.plugin) failed to load: "
    "ModuleNotFoundError: No module named 'not_installed_anywhere'. "
    "Other plugins are unaffected; run with --verbose for the traceback."
)


@pytest.fixture
def good_and_broken(make_adapter_dist, fake_distribution, sources):
    make_adapter_dist("dfm-adapter-alpha", "1.0.0", "alpha.Greet")
    fake_distribution("dfm-adapter-broken", "0.3.1", plugin=sources.broken_plugin)
    make_adapter_dist("dfm-adapter-omega", "2.0.0", "omega.Greet")


def test_one_broken_plugin_among_good_ones(good_and_broken):
    manager = DfmPluginManager(strict=False)

    with pytest.warns(DfmPluginWarning) as caught:
        manager.load_entry_points()

    assert [str(w.message) for w in caught] == [BROKEN_MESSAGE]
    info = manager.infos["dfm-adapter-broken"]
    assert info.status == "failed"
    assert info.error == "ModuleNotFoundError: No module named 'not_installed_anywhere'"
    assert info.message == BROKEN_MESSAGE
    assert "import not_installed_anywhere" in (info.traceback or "")
    assert not manager.has_plugin("dfm-adapter-broken")
    assert manager.infos["dfm-adapter-alpha"].status == "active"
    assert manager.infos["dfm-adapter-omega"].status == "active"
    assert list(manager.registry("adapters")) == ["alpha.Greet", "omega.Greet"]


def test_strict_mode_raises_for_a_broken_plugin(good_and_broken):
    manager = DfmPluginManager(strict=True)

    with pytest.raises(PluginLoadError, match=re.escape(BROKEN_MESSAGE)) as raised:
        manager.load_entry_points()

    assert isinstance(raised.value.__cause__, ModuleNotFoundError)
    assert manager.infos["dfm-adapter-broken"].status == "failed"


@pytest.mark.parametrize("value", ["1", "true", "YES"])
def test_strict_mode_from_the_environment(good_and_broken, monkeypatch, value):
    monkeypatch.setenv("DFM_STRICT_PLUGINS", value)

    with pytest.raises(PluginLoadError, match=r"dfm-adapter-broken 0\.3\.1"):
        get_plugin_manager()
    with pytest.raises(PluginLoadError):  # a failed load is not cached: the next call tries again
        get_plugin_manager()


def test_lenient_by_default(good_and_broken, monkeypatch):
    monkeypatch.setenv("DFM_STRICT_PLUGINS", "0")

    with pytest.warns(DfmPluginWarning, match="dfm-adapter-broken 0.3.1"):
        manager = get_plugin_manager()

    assert manager.strict is False
    assert "alpha.Greet" in manager.registry("adapters")


def test_plugin_raising_at_import_is_isolated(make_adapter_dist, fake_distribution):
    fake_distribution("dfm-adapter-boom", "0.1", plugin="raise RuntimeError('no config file')\n")
    make_adapter_dist("dfm-adapter-fine", "1.0", "fine.Greet")
    manager = DfmPluginManager(strict=False)

    with pytest.warns(DfmPluginWarning, match="RuntimeError: no config file"):
        manager.load_entry_points()

    assert manager.infos["dfm-adapter-boom"].status == "failed"
    assert list(manager.registry("adapters")) == ["fine.Greet"]


def test_two_entry_points_naming_one_module(make_adapter_dist, fake_distribution):
    make_adapter_dist("dfm-adapter-alpha", "1.0.0", "alpha.Greet")
    fake_distribution("dfm-adapter-copy", "0.1", entry_point="dfm_adapter_alpha.plugin")
    manager = DfmPluginManager(strict=False)

    with pytest.warns(DfmPluginWarning) as caught:
        manager.load_entry_points()

    assert str(caught[0].message) == (
        "plugin dfm-adapter-copy 0.1 (entry point dfm_adapter_alpha.plugin) failed to load: "
        "its plugin object dfm_adapter_alpha.plugin is already registered by dfm-adapter-alpha. "
        "Other plugins are unaffected; run with --verbose for the traceback."
    )
    assert manager.infos["dfm-adapter-alpha"].status == "active"
    assert list(manager.registry("adapters")) == ["alpha.Greet"]


INVALID_IMPL = """
from dfm.kernel import hookimpl


@hookimpl
def dfm_adapters(federation):
    return []
"""


def test_implementation_asking_for_unknown_arguments_fails_to_load(fake_distribution):
    fake_distribution("dfm-adapter-args", "0.2", plugin=INVALID_IMPL)
    manager = DfmPluginManager(strict=False)

    with pytest.warns(DfmPluginWarning, match="invalid hook implementation") as caught:
        manager.load_entry_points()

    message = str(caught[0].message)
    assert message.startswith(
        "plugin dfm-adapter-args 0.2 (entry point dfm_adapter_args.plugin) failed to load"
    )
    assert "dfm_adapters" in message and "federation" in message
    assert manager.infos["dfm-adapter-args"].status == "failed"

    with pytest.raises(PluginLoadError, match="invalid hook implementation"):
        DfmPluginManager(strict=True).load_entry_points()


def test_register_plugin_wraps_validation_errors(plugin_manager):
    class Plugin:
        @hookimpl
        def dfm_codecs(self, unknown_argument):
            return []

    with pytest.raises(
        PluginContractError, match=r"plugin inline 1\.0 .*dfm_codecs.*unknown_argument"
    ) as raised:
        plugin_manager.register_plugin(Plugin(), distribution="inline", version="1.0")

    assert "please report this to the plugin's authors" in str(raised.value)


def test_disabled_plugins_are_not_imported(make_adapter_dist, monkeypatch):
    make_adapter_dist("dfm-adapter-alpha", "1.0.0", "alpha.Greet")
    make_adapter_dist("dfm-adapter-beta", "1.0.0", "beta.Greet")
    monkeypatch.setenv("DFM_DISABLE_PLUGINS", " DFM_Adapter_Beta , something-else")
    manager = DfmPluginManager(strict=True)

    manager.load_entry_points()

    info = manager.infos["dfm-adapter-beta"]
    assert (info.status, info.error) == ("disabled", "in DFM_DISABLE_PLUGINS")
    assert info.message.endswith("is disabled: in DFM_DISABLE_PLUGINS")
    assert "dfm_adapter_beta.plugin" not in sys.modules
    assert list(manager.registry("adapters")) == ["alpha.Greet"]


def test_allow_list_loads_only_listed_third_party_plugins(make_adapter_dist, monkeypatch):
    make_adapter_dist("dfm-adapter-alpha", "1.0.0", "alpha.Greet")
    make_adapter_dist("dfm-adapter-beta", "1.0.0", "beta.Greet")
    monkeypatch.setenv("DFM_LOAD_PLUGINS", "dfm-adapter-alpha")
    manager = DfmPluginManager(strict=True)

    manager.load_entry_points()

    assert manager.infos["dfm-adapter-alpha"].status == "active"
    assert manager.infos["dfm-adapter-beta"].status == "disabled"
    assert manager.infos["dfm-adapter-beta"].error == "not in DFM_LOAD_PLUGINS"
    assert manager.infos["dfm-kernel"].status == "active"  # core distributions are always loaded
    assert list(manager.registry("adapters")) == ["alpha.Greet"]


def test_empty_allow_list_loads_no_third_party_plugin(make_adapter_dist, monkeypatch):
    make_adapter_dist("dfm-adapter-alpha", "1.0.0", "alpha.Greet")
    monkeypatch.setenv("DFM_LOAD_PLUGINS", "")
    manager = DfmPluginManager(strict=True)

    manager.load_entry_points()

    assert manager.infos["dfm-adapter-alpha"].status == "disabled"
    assert manager.registry("adapters") == {}
    assert manager.registry("codecs")["safe"].source.startswith("dfm-kernel ")


def test_core_plugins_can_be_disabled(monkeypatch):
    monkeypatch.setenv("DFM_DISABLE_PLUGINS", "dfm-kernel")
    manager = DfmPluginManager(strict=True)

    manager.load_entry_points()

    assert manager.infos["dfm-kernel"].status == "disabled"
    assert manager.registry("codecs") == {}


def test_blocked_plugins_are_disabled(make_adapter_dist):
    make_adapter_dist("dfm-adapter-alpha", "1.0.0", "alpha.Greet")
    manager = DfmPluginManager(strict=True)
    manager.set_blocked("dfm-adapter-alpha")

    manager.load_entry_points()

    assert manager.infos["dfm-adapter-alpha"].status == "disabled"
    assert manager.infos["dfm-adapter-alpha"].error == "blocked"


def test_tracing_from_the_environment(monkeypatch, capsys):
    monkeypatch.setenv("DFM_TRACE_PLUGINS", "1")
    manager = DfmPluginManager(strict=True)
    manager.load_entry_points()

    manager.registry("codecs")

    assert "dfm_codecs" in capsys.readouterr().err
