"""Registries: validation, conflicts, hook errors, lookups, listings."""

from __future__ import annotations

import re
import types
from typing import ClassVar

import attrs
import pluggy
import pytest

from dfm.kernel import (
    AdapterEntry,
    CodecEntry,
    Entry,
    PlacementStrategyEntry,
    PluginConflictError,
    PluginContractError,
    PluginHookError,
    PluginLoadError,
    TransportEntry,
    UnknownPluginError,
    hookimpl,
)
from dfm.kernel.plugins import DfmPluginManager, DfmPluginWarning

_spec = pluggy.HookspecMarker("dfm")


def plugin(**hooks):
    """A plugin object whose hook implementations are the given functions."""
    module = types.ModuleType("inline_plugin")
    for name, function in hooks.items():
        function.__name__ = name
        setattr(module, name, hookimpl(function))
    return module


def test_conflicting_names_name_both_distributions(make_adapter_dist):
    make_adapter_dist("dfm-adapter-one", "1.0.0", "shared.Greet", "one.Only", "x.Also")
    make_adapter_dist("dfm-adapter-two", "2.0.0", "shared.Greet", "x.Also")
    manager = DfmPluginManager(strict=True)
    manager.load_entry_points()

    with pytest.raises(PluginConflictError) as raised:
        manager.registry("adapters")

    assert str(raised.value) == (
        "adapter 'shared.Greet' provided by: dfm-adapter-one 1.0.0, dfm-adapter-two 2.0.0\n"
        "adapter 'x.Also' provided by: dfm-adapter-one 1.0.0, dfm-adapter-two 2.0.0"
    )


def test_gather_keeps_going_past_conflicts(make_adapter_dist):
    make_adapter_dist("dfm-adapter-one", "1.0.0", "shared.Greet", "one.Only")
    make_adapter_dist("dfm-adapter-two", "2.0.0", "shared.Greet")
    manager = DfmPluginManager(strict=True)
    manager.load_entry_points()

    collection = manager.gather(AdapterEntry)

    assert list(collection.entries) == ["one.Only"]
    assert [r.source for r in collection.conflicts["shared.Greet"]] == [
        "dfm-adapter-one 1.0.0",
        "dfm-adapter-two 2.0.0",
    ]
    assert [type(e) for e in collection.errors] == [PluginConflictError]
    assert manager.contributions()["dfm-adapter-two"] == {"adapters": ["shared.Greet"]}


def test_bad_record_names_are_contract_errors_listing_every_offender(plugin_manager):
    plugin_manager.register_plugin(
        plugin(
            dfm_transports=lambda: [
                TransportEntry("Bad Name", "pkg.mod:Transport"),
                TransportEntry("ok", "not a target"),
                TransportEntry("fine", "pkg.mod:Fine"),
            ]
        ),
        distribution="dfm-bad",
        version="0.1",
    )
    plugin_manager.register_plugin(
        plugin(dfm_transports=lambda: AdapterEntry("wrong.Kind", "pkg.mod:Adapter")),
        distribution="dfm-mixed-up",
        version="0.2",
    )

    with pytest.raises(PluginContractError) as raised:
        plugin_manager.registry("transports")

    assert str(raised.value) == (
        "invalid transport records:\n"
        "  dfm-bad 0.1: transport name 'Bad Name' must match ^[a-z0-9][a-z0-9._-]*$\n"
        "  dfm-bad 0.1: transport 'ok': target 'not a target' is not 'module:attribute'\n"
        "  dfm-mixed-up 0.2: dfm_transports() returned AdapterEntry, expected TransportEntry\n"
        "please report this to the plugin's authors"
    )


def test_bare_dicts_are_rejected_with_a_hint(plugin_manager):
    plugin_manager.register_plugin(
        plugin(dfm_adapters=lambda: {"sql.Query": object}), distribution="dfm-adapter-dict", version="1"
    )

    with pytest.raises(
        PluginContractError, match=r"returned dict, expected AdapterEntry \(hooks return records"
    ):
        plugin_manager.registry("adapters")


@pytest.mark.parametrize(
    "summary, problem",
    [("two\nlines", "summary must be a single line"), (3, "summary must be a string")],
)
def test_summaries_are_one_line_strings(plugin_manager, summary, problem):
    plugin_manager.register_plugin(
        plugin(dfm_codecs=lambda: CodecEntry("x", "pkg.mod:X", summary=summary)),
        distribution="d",
        version="1",
    )

    with pytest.raises(PluginContractError, match=problem):
        plugin_manager.registry("codecs")


def test_hook_raising_is_a_hook_error_naming_the_distribution(plugin_manager):
    def dfm_transports():
        raise RuntimeError("cannot reach the FLARE server")

    plugin_manager.register_plugin(
        plugin(dfm_transports=dfm_transports), distribution="dfm-flare", version="0.2.0"
    )

    with pytest.raises(PluginHookError) as raised:
        plugin_manager.registry("transports")

    assert (
        str(raised.value)
        == "dfm_transports() in dfm-flare 0.2.0 raised RuntimeError: cannot reach the FLARE server"
    )
    assert isinstance(raised.value.__cause__, RuntimeError)


def test_generator_raising_midway_is_a_hook_error(plugin_manager):
    def dfm_codecs():
        yield CodecEntry("one", "pkg.mod:One")
        raise ValueError("half done")

    plugin_manager.register_plugin(plugin(dfm_codecs=dfm_codecs), distribution="dfm-gen", version="1")

    with pytest.raises(PluginHookError, match=r"dfm_codecs\(\) in dfm-gen 1 raised ValueError: half done"):
        plugin_manager.registry("codecs")


def test_single_record_iterables_and_none_are_accepted(plugin_manager):
    plugin_manager.register_plugin(
        plugin(dfm_codecs=lambda: CodecEntry("single", "pkg.mod:Single")), distribution="a", version="1"
    )
    plugin_manager.register_plugin(
        plugin(dfm_codecs=lambda: (CodecEntry(n, "pkg.mod:C") for n in ("gen-b", "gen-a"))),
        distribution="b",
        version="1",
    )
    plugin_manager.register_plugin(plugin(dfm_codecs=lambda: None), distribution="c", version="1")

    registry = plugin_manager.registry("codecs")

    assert list(registry) == ["gen-a", "gen-b", "single"]  # sorted by name, whatever the order of plugins
    assert registry["single"].source == "a 1"


def test_records_returned_by_plugins_are_not_mutated(plugin_manager):
    record = PlacementStrategyEntry("random", "pkg.mod:random_strategy")
    plugin_manager.register_plugin(
        plugin(dfm_placement_strategies=lambda: record), distribution="p", version="3"
    )

    stamped = plugin_manager.get("placement_strategies", "random")

    assert record.provenance is None
    assert stamped.provenance is not None and stamped.source == "p 3"
    assert stamped == record  # provenance does not take part in equality


def test_unknown_names_get_did_you_mean(plugin_manager):
    plugin_manager.register_plugin(
        plugin(
            dfm_placement_strategies=lambda: [
                PlacementStrategyEntry(n, "pkg.mod:f") for n in ("auto", "greedy", "optimal")
            ]
        ),
        distribution="dfm-compiler",
        version="0.1.0",
    )

    with pytest.raises(UnknownPluginError) as raised:
        plugin_manager.get("placement_strategies", "optimial")

    assert str(raised.value) == (
        "unknown placement strategy 'optimial'; did you mean 'optimal'? (known: auto, greedy, optimal); "
        "see 'dfm plugins list'"
    )
    with pytest.raises(UnknownPluginError, match=r"unknown plugin kind 'adapter'; did you mean 'adapters'\?"):
        plugin_manager.registry("adapter")
    assert isinstance(raised.value, LookupError)


def test_registry_is_cached_and_refreshed_on_register_and_unregister(plugin_manager, hook_recorder):
    first = plugin_manager.register_plugin(
        plugin(dfm_codecs=lambda: CodecEntry("one", "pkg.mod:One")), distribution="a", version="1"
    )
    assert list(plugin_manager.registry("codecs")) == ["one"]
    assert list(plugin_manager.registry("codecs")) == ["one"]
    assert hook_recorder.names() == ["dfm_codecs"]

    plugin_manager.register_plugin(
        plugin(dfm_codecs=lambda: CodecEntry("two", "pkg.mod:Two")), distribution="b"
    )
    assert list(plugin_manager.registry("codecs")) == ["one", "two"]

    plugin_manager.unregister(name=first)
    assert list(plugin_manager.registry("codecs")) == ["two"]


def test_every_implementation_is_called_through_pluggy(plugin_manager, hook_recorder):
    plugin_manager.register_plugin(
        plugin(dfm_emitters=lambda: []), distribution="dfm-emit-a", version="1", entry_point="a.plugin"
    )
    plugin_manager.register_plugin(plugin(dfm_emitters=lambda: []), distribution="dfm-emit-b", version="1")

    plugin_manager.registry("emitters")

    calls = hook_recorder.getcalls("dfm_emitters")
    assert sorted(call.plugins for call in calls) == [("dfm-emit-a",), ("dfm-emit-b",)]
    assert all(call.exception is None and call.result == [[]] for call in calls)


def test_load_failure_of_a_target_names_record_and_distribution(plugin_manager):
    plugin_manager.register_plugin(
        plugin(dfm_transports=lambda: TransportEntry("pigeon", "carrier_pigeon_missing.mod:Pigeon")),
        distribution="dfm-pigeon",
        version="0.9",
    )

    with pytest.raises(PluginLoadError) as raised:
        plugin_manager.get("transports", "pigeon").load()

    assert str(raised.value) == (
        "transport 'pigeon' from dfm-pigeon 0.9: cannot load carrier_pigeon_missing.mod:Pigeon: "
        "ModuleNotFoundError: No module named 'carrier_pigeon_missing'"
    )


def test_factory_targets_are_called(plugin_manager):
    sentinel = object()
    plugin_manager.register_plugin(
        plugin(dfm_codecs=lambda: CodecEntry("lazy", lambda: sentinel)), distribution="f", version="1"
    )

    assert plugin_manager.get("codecs", "lazy").load() is sentinel


def test_contributions_and_requirements(make_adapter_dist, fake_distribution, sources):
    make_adapter_dist("dfm-adapter-one", "1.0.0", "one.A", "one.B")
    fake_distribution("dfm-pigeon", "0.9", plugin=sources.transport_plugin)
    fake_distribution("dfm-adapter-broken", "0.1", plugin=sources.broken_plugin)
    manager = DfmPluginManager(strict=False)
    with pytest.warns(DfmPluginWarning):
        manager.load_entry_points()

    contributions = manager.contributions()

    assert contributions["dfm-adapter-one"] == {"adapters": ["one.A", "one.B"]}
    assert contributions["dfm-pigeon"] == {"transports": ["pigeon"]}
    assert (
        contributions["dfm-kernel"]["codecs"] == ["safe"] or "safe" in contributions["dfm-kernel"]["codecs"]
    )
    assert "dfm-adapter-broken" not in contributions
    requirements = manager.requirements()
    assert "dfm-adapter-one==1.0.0" in requirements and "dfm-pigeon==0.9" in requirements
    assert not any(r.startswith("dfm-adapter-broken") for r in requirements)
    assert requirements == sorted(requirements)
    one_b = manager.get("adapters", "one.B").provenance
    assert one_b is not None
    assert manager.requirements({one_b.distribution, "dfm-kernel"}) == [
        "dfm-adapter-one==1.0.0",
        f"dfm-kernel=={manager.infos['dfm-kernel'].version}",
    ]


# -- hooks whose spec is not (yet) loaded --------------------------------------------------------

TYPO = plugin(dfm_adaptrs=lambda: [])


def test_unknown_hook_is_an_error_in_strict_mode(plugin_manager):
    plugin_manager.register_plugin(TYPO, distribution="dfm-adapter-typo", version="0.1")

    with pytest.raises(PluginContractError) as raised:
        plugin_manager.registry("adapters")

    message = str(raised.value)
    assert "dfm-adapter-typo 0.1 implements dfm_adaptrs(), which no loaded distribution declares" in message
    assert "did you mean 'dfm_adapters'?" in message


def test_unknown_hook_is_a_warning_in_lenient_mode():
    manager = DfmPluginManager(strict=False)
    manager.register_plugin(TYPO, distribution="dfm-adapter-typo", version="0.1")

    with pytest.warns(DfmPluginWarning, match="dfm_adaptrs"):
        manager.registry("adapters")
    manager.registry("codecs")  # warned once only: a second warning would fail this test


def test_optional_hooks_of_absent_specs_are_fine(plugin_manager):
    class CliPlugin:
        @hookimpl(optionalhook=True)
        def dfm_cli_commands(self):
            return []

    plugin_manager.register_plugin(CliPlugin(), distribution="dfm-adapter-cli", version="1")

    plugin_manager.check_pending()
    assert plugin_manager.registry("adapters") == {}


@attrs.frozen
class WidgetEntry(Entry):
    """A record of a registry kind another distribution adds."""

    hook: ClassVar[str] = "dfm_widgets"
    noun: ClassVar[str] = "widget"


class ExtraSpecs:
    """Specs another distribution adds later (the way dfm-cli adds dfm_cli_commands)."""

    @_spec
    def dfm_widgets(self):  # type: ignore[empty-body]
        """Widgets."""


def test_add_specs_registers_a_new_registry_kind(plugin_manager):
    class WidgetPlugin:
        @hookimpl(optionalhook=True)
        def dfm_widgets(self):
            return WidgetEntry("gizmo", "pkg.mod:Gizmo")

    plugin_manager.register_plugin(WidgetPlugin(), distribution="dfm-widgets", version="1")
    plugin_manager.add_specs(ExtraSpecs, WidgetEntry)
    plugin_manager.add_specs(ExtraSpecs)  # a second time is harmless

    assert list(plugin_manager.registry("widgets")) == ["gizmo"]
    assert plugin_manager.contributions()["dfm-widgets"] == {"widgets": ["gizmo"]}


def test_add_specs_drops_implementations_that_do_not_match():
    class Mismatched:
        @hookimpl(optionalhook=True)
        def dfm_widgets(self, colour):
            return []

    manager = DfmPluginManager(strict=False)
    manager.register_plugin(Mismatched(), distribution="dfm-mismatch", version="0.5", entry_point="m.plugin")

    with pytest.warns(DfmPluginWarning) as caught:
        manager.add_specs(ExtraSpecs)

    assert str(caught[0].message) == (
        "plugin dfm-mismatch 0.5 (entry point m.plugin) failed to load: invalid hook implementation: "
        "dfm_widgets(colour) asks for colour, which the hookspec dfm_widgets() does not provide. "
        "Other plugins are unaffected; run with --verbose for the traceback."
    )
    assert manager.infos["dfm-mismatch"].status == "failed"
    assert not manager.has_plugin("dfm-mismatch")

    strict = DfmPluginManager(strict=True)
    strict.register_plugin(Mismatched(), distribution="dfm-mismatch", version="0.5")
    with pytest.raises(PluginLoadError, match=re.escape("dfm_widgets(colour) asks for colour")):
        strict.add_specs(ExtraSpecs)
