"""dfm-compiler as a plugin: entry point, registries, cheap import, optional CLI hook."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

import pytest

import dfm.compiler.plugin as plugin
from dfm.compiler import compile_pipeline
from dfm.kernel import EmitterEntry, PlacementStrategyEntry, get_plugin_manager, reset_plugin_manager
from dfm.kernel.ir import pipeline as ir


def test_entry_point_is_declared():
    (ep,) = [ep for ep in entry_points(group="dfm.plugins") if ep.name == "dfm-compiler"]
    assert ep.value == "dfm.compiler.plugin"
    assert ep.dist is not None and ep.dist.name == "dfm-compiler"


def test_discovered_through_the_real_plugin_manager(examplefed):
    reset_plugin_manager()
    try:
        manager = get_plugin_manager()
        entry = manager.get("placement_strategies", "auto")
        assert entry.provenance is not None and entry.provenance.distribution == "dfm-compiler"
        prepared = compile_pipeline(examplefed, ir.PipelineIR())  # default manager and strategy
        assert prepared.strategy == "auto"
    finally:
        reset_plugin_manager()


def test_importing_the_plugin_is_cheap():
    code = (
        "import sys, dfm.compiler.plugin, dfm.compiler; "
        "print(sorted(m for m in ('networkx', 'constraint', 'click') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_placement_strategies(manager):
    registry = manager.registry("placement_strategies")
    assert list(registry) == ["auto", "greedy", "optimal"]
    for name, entry in registry.items():
        assert isinstance(entry, PlacementStrategyEntry)
        assert isinstance(entry.target, str)  # lazy
        assert entry.summary
        assert callable(entry.load())
        assert entry.load().__name__ == name


def test_emitters_without_graphviz(manager, monkeypatch):
    monkeypatch.setattr(plugin.shutil, "which", lambda name: None)
    registry = manager.registry("emitters")
    assert list(registry) == ["dot", "python-api", "text"]
    assert all(isinstance(e, EmitterEntry) and callable(e.load()) for e in registry.values())


def test_emitters_with_graphviz(manager, monkeypatch):
    monkeypatch.setattr(plugin.shutil, "which", lambda name: "/usr/bin/dot")
    assert list(manager.registry("emitters")) == ["dot", "png", "python-api", "svg", "text"]
    takes = {name: entry.takes for name, entry in manager.registry("emitters").items()}
    assert takes == {
        "dot": "pipeline",
        "png": "pipeline",
        "python-api": "federation",
        "svg": "pipeline",
        "text": "pipeline",
    }


def test_hooks_validate_against_the_kernel_specs(manager):
    manager.check_pending()  # dfm_cli_commands is optional: no error without dfm-cli's spec


def test_cli_command_record_comes_from_the_kernel():
    """The record type is the kernel's: the plugin needs no dfm-cli to describe its command."""
    from dfm.kernel.records import CliCommandEntry

    (entry,) = plugin.dfm_cli_commands()
    assert isinstance(entry, CliCommandEntry)
    assert (entry.name, entry.target) == ("pipeline", "dfm.compiler.cli:pipeline")


@pytest.mark.parametrize(
    "name", ["compile_pipeline", "build_graph", "PlacementProblem", "optimal", "greedy", "auto"]
)
def test_public_api(name):
    import dfm.compiler

    assert name in dfm.compiler.__all__
    assert getattr(dfm.compiler, name) is not None


def test_all_matches_the_lazy_exports():
    import dfm.compiler

    assert sorted(dfm.compiler.__all__) == sorted(dfm.compiler._EXPORTS)
    for name in dfm.compiler.__all__:
        assert getattr(dfm.compiler, name) is not None


def test_unknown_attribute():
    import dfm.compiler

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        dfm.compiler.nope  # noqa: B018


def test_namespace_package_has_no_init():
    from pathlib import Path

    src = Path(__file__).resolve().parents[1] / "src" / "dfm"
    assert not (src / "__init__.py").exists()
    assert (src / "compiler" / "py.typed").exists()


def test_first_compile_imports_neither_networkx_nor_constraint(examplefed_path):
    """examplefed's demo pipeline compiles with auto without networkx or python-constraint."""
    code = (
        "import sys\n"
        "from dfm.api import Pipeline, PlaceParam, Yield, load_federation\n"
        "from dfm.compiler import compile_pipeline\n"
        f"fed = load_federation({str(examplefed_path)!r})\n"
        "with Pipeline('greetings') as pipeline:\n"
        "    name = PlaceParam('name')\n"
        "    for site in ('concierge', 'server', 'reception'):\n"
        "        Yield(fed.api.users.GreetMe(name=name, site=site), place=site)\n"
        "prepared = compile_pipeline(fed, pipeline)\n"
        "assert prepared.strategy == 'auto', prepared.strategy\n"
        "print(sorted(m for m in ('networkx', 'constraint') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_optimal_still_works_and_imports_constraint_then(examplefed):
    code = (
        "import sys\n"
        "import dfm.compiler.placement as placement\n"
        "assert 'constraint' not in sys.modules\n"
        "assert callable(placement.optimal)\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
