"""A federation's ``plugins:`` pins checked against installed distributions, all at once."""

from __future__ import annotations

import pytest

from dfm.kernel import DfmPluginManager, PluginVersionError
from dfm.kernel.plugins import DfmPluginWarning


@pytest.fixture
def manager(fake_distribution):
    fake_distribution("dfm-adapter-sql", "0.3.1")
    fake_distribution("dfm-adapter-files", "1.3.0")
    fake_distribution("dfm-adapter-next", "2.0.0rc1")
    manager = DfmPluginManager(strict=True)
    manager.load_entry_points()
    return manager


@pytest.mark.parametrize(
    "pins",
    [
        {"dfm-adapter-sql": ">=0.2,<1"},
        {"dfm-adapter-sql": "==0.3.1", "dfm-adapter-files": "~=1.3"},
        {"DFM_Adapter_SQL": ">=0.3"},  # names are normalized
        {"dfm-adapter-sql": ""},  # any version
        {"dfm-adapter-next": ">=2.0.0rc1"},
        {"dfm-adapter-next": ">=1"},  # an installed pre-release satisfies a plain range
        {},
    ],
)
def test_pins_satisfied(manager, pins):
    manager.check_pins(pins)


def test_every_unmet_pin_is_reported_at_once(manager):
    pins = {
        "dfm-adapter-sql": ">=0.2,<1",  # fine
        "dfm-adapter-files": ">=0.2,<1",  # violated
        "dfm-adapter-missing": ">=0.1",  # not installed
        "dfm-adapter-typo": "=>0.2",  # invalid
        "dfm-adapter-bare": "1.2",  # invalid, looks like a version
        "dfm-adapter-number": 1.2,  # not a string (unquoted YAML number)
    }

    with pytest.raises(PluginVersionError) as raised:
        manager.check_pins(pins)

    assert str(raised.value) == (
        "5 federation plugin pins not met:\n"
        "  /plugins/dfm-adapter-bare: invalid version specifier '1.2'; did you mean '==1.2'?\n"
        "  /plugins/dfm-adapter-files: requires >=0.2,<1, found 1.3.0\n"
        "  /plugins/dfm-adapter-missing: requires >=0.1, found none (not installed)\n"
        "  /plugins/dfm-adapter-number: version specifier must be a string such as '>=0.2,<1', got 1.2\n"
        "  /plugins/dfm-adapter-typo: invalid version specifier '=>0.2'"
    )


def test_pin_messages_use_config_locations(manager):
    locations = {"dfm-adapter-files": "examplefed.dfm.yaml:12:5 /plugins/dfm-adapter-files"}

    with pytest.raises(PluginVersionError) as raised:
        manager.check_pins({"dfm-adapter-files": "<1"}, locations)

    assert str(raised.value) == (
        "1 federation plugin pin not met:\n"
        "  examplefed.dfm.yaml:12:5 /plugins/dfm-adapter-files: requires <1, found 1.3.0"
    )


def test_pinned_but_disabled_or_failed_plugins_are_reported(fake_distribution, monkeypatch):
    fake_distribution("dfm-adapter-off", "1.0")
    fake_distribution("dfm-adapter-broken", "1.0", plugin="import not_installed_anywhere\n")
    monkeypatch.setenv("DFM_DISABLE_PLUGINS", "dfm-adapter-off")
    manager = DfmPluginManager(strict=False)
    with pytest.warns(DfmPluginWarning):
        manager.load_entry_points()

    with pytest.raises(PluginVersionError) as raised:
        manager.check_pins({"dfm-adapter-off": ">=1", "dfm-adapter-broken": ">=1"})

    assert str(raised.value) == (
        "2 federation plugin pins not met:\n"
        "  /plugins/dfm-adapter-broken: dfm-adapter-broken 1.0 is installed but failed: "
        "ModuleNotFoundError: No module named 'not_installed_anywhere'\n"
        "  /plugins/dfm-adapter-off: dfm-adapter-off 1.0 is installed but disabled: in DFM_DISABLE_PLUGINS"
    )
