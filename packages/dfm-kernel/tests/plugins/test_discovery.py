"""Discovery of plugins through real installed-distribution metadata."""

from __future__ import annotations

import sys
from importlib.metadata import entry_points

from dfm.kernel import AdapterEntry, DfmPluginManager, PluginInfo, Provenance, get_plugin_manager
from dfm.kernel.entrypoints import canonical_name
from dfm.kernel.plugins import GROUP, reset_plugin_manager
from dfm.kernel.testing import check_adapter_class


def test_fake_distribution_is_real_metadata(make_adapter_dist):
    dist = make_adapter_dist("dfm-adapter-hello", "1.2.3", "hello.Greet")

    [ep] = [ep for ep in entry_points(group=GROUP) if ep.name == "dfm-adapter-hello"]

    assert ep.value == "dfm_adapter_hello.plugin"
    assert (ep.dist.name, ep.dist.version) == ("dfm-adapter-hello", "1.2.3")
    assert dist.dist_info.name == "dfm_adapter_hello-1.2.3.dist-info"
    assert dist.modules == ("dfm_adapter_hello", "dfm_adapter_hello.adapters", "dfm_adapter_hello.plugin")


def test_discovers_plugin_and_stamps_provenance(make_adapter_dist):
    make_adapter_dist("dfm-adapter-hello", "1.2.3", "hello.Greet")
    manager = DfmPluginManager(strict=True)

    manager.load_entry_points()

    assert manager.infos["dfm-adapter-hello"] == PluginInfo(
        "dfm-adapter-hello", "1.2.3", "dfm_adapter_hello.plugin", "active"
    )
    entry = manager.get("adapters", "hello.Greet")
    assert isinstance(entry, AdapterEntry)
    assert entry.provenance == Provenance("dfm-adapter-hello", "1.2.3", "dfm_adapter_hello.plugin")
    assert entry.source == "dfm-adapter-hello 1.2.3"
    greet = entry.load()
    check_adapter_class(greet, args=["name", "greeting"])
    assert greet("site", None).body(name="Ada") == "Hello, Ada!"


def test_plugin_is_registered_under_its_distribution_name(make_adapter_dist):
    make_adapter_dist("dfm-adapter-hello", "1.0.0", "hello.Greet")
    manager = DfmPluginManager(strict=True)
    manager.load_entry_points()

    plugin = manager.get_plugin("dfm-adapter-hello")

    assert plugin is sys.modules["dfm_adapter_hello.plugin"]
    assert manager.provenance_of("dfm-adapter-hello").distribution == "dfm-adapter-hello"


def test_listing_imports_no_target(make_adapter_dist):
    make_adapter_dist("dfm-adapter-lazy", "1.0.0", "lazy.Greet")
    manager = DfmPluginManager(strict=True)
    manager.load_entry_points()

    assert "lazy.Greet" in manager.registry("adapters")
    assert "dfm_adapter_lazy.plugin" in sys.modules
    assert "dfm_adapter_lazy.adapters" not in sys.modules


def test_load_order_core_first_then_sorted_by_distribution(fake_distribution):
    for name in ("zeta-plugin", "dfm-flare", "alpha-plugin", "Mid_Plugin"):
        fake_distribution(name, "1.0")
    manager = DfmPluginManager(strict=True)

    discovered = [canonical_name(ep.dist_name) for ep in manager.discover()]
    manager.load_entry_points()
    registered = [name for name, _plugin in manager.list_name_plugin()]

    fakes = {"zeta-plugin", "dfm-flare", "alpha-plugin", "mid-plugin"}
    expected = ["dfm-flare", "alpha-plugin", "mid-plugin", "zeta-plugin"]
    assert [d for d in discovered if d in fakes] == expected
    assert [n for n in registered if n in fakes] == expected
    # the core distributions come before every third-party one
    core = {"dfm-kernel", "dfm-compiler", "dfm-runner", "dfm-cli", "dfm-flare"}
    flags = [name in core for name in registered]
    assert flags == sorted(flags, reverse=True)


def test_names_are_normalized(fake_distribution):
    fake_distribution("DFM_Adapter.Mixed", "2.0")
    manager = DfmPluginManager(strict=True)
    manager.load_entry_points()

    assert manager.infos["dfm-adapter-mixed"].label == "dfm-adapter-mixed 2.0"


def test_entry_point_not_named_after_distribution_is_kept_apart(fake_distribution):
    fake_distribution("dfm-adapter-odd", "1.0", entry_point_name="extra")
    manager = DfmPluginManager(strict=True)
    manager.load_entry_points()

    info = manager.infos["dfm-adapter-odd:extra"]
    assert (info.distribution, info.name, info.plugin_name) == (
        "dfm-adapter-odd",
        "extra",
        "dfm-adapter-odd:extra",
    )
    assert manager.has_plugin("dfm-adapter-odd:extra")


def test_loading_twice_registers_once(make_adapter_dist):
    make_adapter_dist("dfm-adapter-hello", "1.0.0", "hello.Greet")
    manager = DfmPluginManager(strict=True)
    manager.load_entry_points()
    manager.load_entry_points()

    assert list(manager.registry("adapters")) == ["hello.Greet"]


def test_get_plugin_manager_is_cached_until_reset(make_adapter_dist):
    first = get_plugin_manager()
    assert get_plugin_manager() is first
    assert "dfm-kernel" in first.infos

    make_adapter_dist("dfm-adapter-late", "1.0.0", "late.Greet")  # resets the cached manager
    second = get_plugin_manager()

    assert second is not first
    assert "late.Greet" in second.registry("adapters")
    reset_plugin_manager()
    assert get_plugin_manager() is not second


def test_constructing_a_manager_loads_nothing(plugin_manager):
    assert plugin_manager.infos == {}
    assert plugin_manager.get_plugins() == set()
    assert plugin_manager.strict is True
    assert plugin_manager.registry("codecs") == {}
