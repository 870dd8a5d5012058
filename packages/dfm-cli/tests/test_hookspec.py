"""dfm-cli's hookspec: documented, its example works, its records validate."""

from __future__ import annotations

import inspect
import re
import textwrap
import types
from pathlib import Path

import pytest

from dfm.cli import hookspecs, plugin
from dfm.cli.group import CLI_REGISTRY
from dfm.cli.records import CliCommandEntry
from dfm.kernel import DfmPluginManager
from dfm.kernel.testing import check_plugin, check_records


def test_spec_module_declares_only_dfm_cli_commands():
    manager = DfmPluginManager()
    specs = [name for name in dir(hookspecs) if manager.parse_hookspec_opts(hookspecs, name) is not None]
    assert specs == ["dfm_cli_commands"]


def test_docstring_example_registers_cleanly():
    doc = inspect.getdoc(hookspecs.dfm_cli_commands) or ""
    code = textwrap.dedent(re.search(r"\*\*Example\*\*::\n\n((?:[ ]{4}.*\n|\n)+)", doc + "\n")[1])
    module = types.ModuleType("example_dfm_cli_commands")
    exec(compile(code, "<dfm_cli_commands example>", "exec"), module.__dict__)
    manager = DfmPluginManager(strict=True)
    manager.add_specs(hookspecs, CLI_REGISTRY)

    manager.register_plugin(module, distribution="dfm-example", version="1.0")

    assert list(check_records(manager, load=False)["cli_commands"]) == ["pipeline"]


def test_hooks_md_generates_the_reference_from_this_hookspec():
    for parent in Path(__file__).resolve().parents:
        docs = parent / "docs" / "plugins" / "hooks.md"
        if docs.is_file():
            assert "::: dfm.cli.hookspecs" in docs.read_text().splitlines()
            return
    pytest.skip("docs/plugins/hooks.md is not part of this checkout")


def test_dfm_cli_plugin_passes_the_contract_checks():
    registries = check_plugin(plugin, distribution="dfm-cli", specs=[hookspecs])
    # optionalhook: a process without the CLI spec does not report it as unknown
    check_plugin(plugin, distribution="dfm-cli", load=False)

    commands = registries["cli_commands"]
    expected = [
        "adapter",
        "adapters",
        "completion",
        "fed",
        "fed config",
        "fed gen",
        "fed new",
        "fed validate",
        "plugins",
    ]
    assert sorted(commands) == expected
    assert all(entry.summary for entry in commands.values())


@pytest.mark.parametrize(
    "record, problem",
    [
        (CliCommandEntry("Caps", "m:c"), "cli command name 'Caps' must match"),
        (CliCommandEntry("ok", "m:c", parent="fed  gen"), "parent 'fed  gen' must be a command path"),
        (CliCommandEntry("ok", "m:c", parent=""), "parent '' must be a command path"),
    ],
)
def test_record_validation(record, problem):
    assert any(problem in p for p in record.problems())


def test_records_are_keyed_by_path():
    assert CliCommandEntry("submit", "m:c", parent="fed").key == "fed submit"
    assert CliCommandEntry("fed", "m:c").key == "fed"
    assert (
        CliCommandEntry("code", "m:c", "summary", "fed gen").parent == "fed gen"
    )  # positional order is stable
