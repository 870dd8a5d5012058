"""The root ``dfm`` group: help, version, error policy, lazy plugin commands and placeholders."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from importlib.metadata import version

import pytest


def flat(text: str) -> str:
    """Help text with wrapping undone (click wraps to the terminal width)."""
    return " ".join(text.split())


def test_help_lists_dfm_cli_commands_by_distribution(dfm):
    result = dfm("--help")

    assert result.exit_code == 0, result.output
    assert f"Commands from dfm-cli {version('dfm-cli')}:" in result.stdout
    for name in ("plugins", "adapters", "fed"):
        assert f"\n  {name} " in result.stdout
    assert result.stderr == ""


def test_short_help_option(dfm):
    assert dfm("-h").stdout == dfm("--help").stdout


def test_version_prints_both_distributions(dfm):
    result = dfm("--version")

    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[:2] == [f"dfm-cli {version('dfm-cli')}", f"dfm-kernel {version('dfm-kernel')}"]
    assert lines[2].startswith("Python ")


@pytest.mark.parametrize(
    "args, message",
    [
        (["plugns"], "No such command 'plugns'. Did you mean 'plugins'?"),
        (["fed", "validat"], "No such command 'validat'. Did you mean 'validate'?"),
        (["--no-such-option"], "--no-such-option"),
        (["plugins", "list", "--jsn"], "--jsn"),
    ],
)
def test_usage_errors_exit_2(dfm, args, message):
    result = dfm(*args)

    assert result.exit_code == 2
    assert message in result.stderr


def test_third_party_commands_are_grouped_and_mounted(dfm, hello_dist):
    result = dfm("--help")

    assert result.exit_code == 0, result.output
    cli_section, _, hello_section = result.stdout.partition("Commands from dfm-adapter-hello 1.0.0:")
    assert "Commands from dfm-cli" in cli_section
    assert "  hello  Say hello." in hello_section
    assert "dfm_adapter_hello.cli" not in sys.modules  # listed from the record alone

    assert dfm("hello", "Ada").stdout == "Hello, Ada!\n"
    fed_help = dfm("fed", "--help").stdout
    assert "Commands from dfm-adapter-hello 1.0.0:" in fed_help and "greet" in fed_help
    assert dfm("fed", "greet").stdout == "greetings, federation\n"


def test_dfm_errors_print_their_message_only(dfm, hello_dist):
    result = dfm("hello", "Ada", "--fail", "dfm")

    assert result.exit_code == 1
    assert result.stderr == "cannot greet Ada: the greeter is asleep\n"
    assert result.stdout == ""


def test_verbose_adds_the_traceback(dfm, hello_dist):
    result = dfm("--verbose", "hello", "Ada", "--fail", "dfm")

    assert result.exit_code == 1
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert result.stderr.endswith("cannot greet Ada: the greeter is asleep\n")


def test_unexpected_errors_are_one_line(dfm, hello_dist):
    result = dfm("hello", "--fail", "crash")

    assert result.exit_code == 1
    assert result.stderr == (
        "dfm: unexpected error: RuntimeError: greeter exploded second line "
        "(run 'dfm --verbose ...' for the traceback)\n"
    )
    verbose = dfm("-v", "hello", "--fail", "crash")
    assert verbose.exit_code == 1
    assert "Traceback (most recent call last):" in verbose.stderr
    assert 'raise RuntimeError("greeter exploded' in verbose.stderr


@pytest.mark.parametrize(
    ("fail", "message"), [("base", "Boom: greeter left"), ("generator", "GeneratorExit")]
)
def test_base_exceptions_are_one_line(dfm, hello_dist, fail, message):
    result = dfm("hello", "--fail", fail)

    assert result.exit_code == 1
    assert result.stderr == f"dfm: unexpected error: {message} (run 'dfm --verbose ...' for the traceback)\n"
    verbose = dfm("-v", "hello", "--fail", fail)
    assert verbose.exit_code == 1
    assert "Traceback (most recent call last):" in verbose.stderr


def test_interrupt_is_one_line_and_exit_130(dfm, hello_dist):
    result = dfm("hello", "--fail", "interrupt")

    assert result.exit_code == 130
    assert result.stderr == "dfm: interrupted\n"


# -- plugins that cannot be offered ---------------------------------------------------------------


def test_broken_plugin_is_a_placeholder_and_help_still_works(dfm, hello_dist, broken_dist, monkeypatch):
    monkeypatch.setenv("DFM_STRICT_PLUGINS", "0")

    result = dfm("--help")

    assert result.exit_code == 0, result.output
    assert "Unavailable (run 'dfm plugins list' for details):" in result.stdout
    assert (
        "dfm-adapter-broken (failed to load) ModuleNotFoundError: No module named 'not_installed_anywhere'"
        in flat(result.stdout)
    )
    assert "hello Say hello." in flat(result.stdout)  # the others keep working

    invoked = dfm("dfm-adapter-broken", "any", "--args")
    assert invoked.exit_code == 1
    assert invoked.stderr == (
        "plugin dfm-adapter-broken 0.3.1 (entry point dfm_adapter_broken.plugin) failed to load: "
        "ModuleNotFoundError: No module named 'not_installed_anywhere'. "
        "Other plugins are unaffected; run with --verbose for the traceback.\n"
    )
    verbose = dfm("--verbose", "dfm-adapter-broken")
    assert "import not_installed_anywhere" in verbose.stderr
    assert dfm("hello").stdout == "Hello, world!\n"


def test_broken_plugin_in_strict_mode_is_an_error(dfm, broken_dist):
    result = dfm("--help")

    assert result.exit_code == 1
    assert result.stderr.startswith("plugin dfm-adapter-broken 0.3.1 (entry point dfm_adapter_broken.plugin)")
    assert "Traceback" not in result.stderr


CLASH_PLUGIN = """
from dfm.kernel import hookimpl


@hookimpl(optionalhook=True)
def dfm_cli_commands():
    from dfm.cli.records import CliCommandEntry

    yield CliCommandEntry("hello", "dfm_adapter_clash.cli:hello", summary="Another hello.")
    yield CliCommandEntry("validate", "dfm_adapter_clash.cli:hello", summary="Top-level validate: no clash.")
"""


def test_conflicting_commands_become_a_placeholder(dfm, hello_dist, fake_distribution):
    fake_distribution("dfm-adapter-clash", "0.2.0", plugin=CLASH_PLUGIN)

    result = dfm("--help")

    assert result.exit_code == 0, result.output
    assert (
        "hello (unavailable) provided by more than one plugin: "
        "dfm-adapter-clash 0.2.0, dfm-adapter-hello 1.0.0"
    ) in flat(result.stdout)
    assert "  validate  Top-level validate: no clash." in result.stdout
    invoked = dfm("hello")
    assert invoked.exit_code == 1
    assert invoked.stderr == (
        "cli command 'dfm hello' is provided by more than one plugin: dfm-adapter-clash 0.2.0, "
        "dfm-adapter-hello 1.0.0. Uninstall one of them, or disable one with DFM_DISABLE_PLUGINS "
        "(one of: dfm-adapter-clash,dfm-adapter-hello).\n"
    )


ODD_PLUGIN = """
from dfm.kernel import hookimpl


@hookimpl(optionalhook=True)
def dfm_cli_commands():
    from dfm.cli.records import CliCommandEntry

    yield CliCommandEntry("not-a-command", "dfm_adapter_odd.plugin:NOT_A_COMMAND", summary="A string.")
    yield CliCommandEntry("gone", "dfm_adapter_odd.missing:command", summary="Module missing.")
    yield CliCommandEntry("orphan", "dfm_adapter_odd.plugin:NOT_A_COMMAND", summary="", parent="adaptors")


NOT_A_COMMAND = "just a string"
"""


def test_unusable_targets_become_placeholders(dfm, fake_distribution):
    fake_distribution("dfm-adapter-odd", "0.1", plugin=ODD_PLUGIN)

    help_result = dfm("--help")
    assert help_result.exit_code == 0
    assert "  gone           Module missing." in help_result.stdout
    assert help_result.stderr == (
        "warning: cli command 'orphan' from dfm-adapter-odd 0.1 names parent 'adaptors', which no plugin "
        "provides (did you mean 'adapters'?); it is not mounted\n"
    )

    not_a_command = dfm("not-a-command")
    assert not_a_command.exit_code == 1
    assert "'dfm_adapter_odd.plugin:NOT_A_COMMAND' is a str, not a click command" in not_a_command.stderr
    gone = dfm("gone")
    assert gone.exit_code == 1
    assert gone.stderr.splitlines()[-1] == (
        "cli command 'gone' from dfm-adapter-odd 0.1: cannot load dfm_adapter_odd.missing:command: "
        "ModuleNotFoundError: No module named 'dfm_adapter_odd.missing'"
    )


NESTED_PLUGIN = """
import click

from dfm.cli.group import DfmGroup
from dfm.kernel import hookimpl


@hookimpl(optionalhook=True)
def dfm_cli_commands():
    from dfm.cli.records import CliCommandEntry

    yield CliCommandEntry("make", "dfm_nested.plugin:make", summary="Make things.", parent="fed")
    yield CliCommandEntry("code", "dfm_nested.plugin:code", summary="Generate code.", parent="fed make")
    yield CliCommandEntry("code", "dfm_nested.plugin:code", summary="Generate code.", parent="fed gen")
    yield CliCommandEntry("tools", "dfm_nested.plugin:tools", summary="A plain click group.")
    yield CliCommandEntry("extra", "dfm_nested.plugin:code", summary="In a plain group.", parent="tools")


@click.group("make", cls=DfmGroup)
def make():
    "Make things."


@click.command("code")
def code():
    click.echo("code generated")


@click.group("tools")
def tools():
    "A plain click group."
"""


def test_nested_parents(dfm, fake_distribution):
    fake_distribution("dfm-nested", "1.0", plugin=NESTED_PLUGIN)

    assert "code" in dfm("fed", "make", "--help").stdout
    assert dfm("fed", "make", "code").stdout == "code generated\n"
    assert "code" in dfm("fed", "gen", "--help").stdout  # dfm-cli's own group takes plugins' generators
    assert dfm("fed", "gen", "code").stdout == "code generated\n"
    assert dfm("tools", "extra").stdout == "code generated\n"


BAD_ARGS_PLUGIN = """
from dfm.kernel import hookimpl


@hookimpl(optionalhook=True)
def dfm_cli_commands(verbose):
    return []
"""


def test_cli_hook_with_wrong_arguments_is_reported_as_failed(dfm, fake_distribution, monkeypatch):
    monkeypatch.setenv("DFM_STRICT_PLUGINS", "0")
    fake_distribution("dfm-adapter-args", "0.1", plugin=BAD_ARGS_PLUGIN)

    result = dfm("--help")

    assert result.exit_code == 0
    assert (
        "dfm-adapter-args (failed to load) invalid hook implementation: dfm_cli_commands(verbose) asks for "
        "verbose, which the hookspec dfm_cli_commands() does not provide"
    ) in flat(result.stdout)
    listing = json.loads(dfm("plugins", "list", "--json").stdout)
    assert {p["name"]: p["status"] for p in listing}["dfm-adapter-args"] == "failed"


# -- laziness, checked in a fresh interpreter -----------------------------------------------------

PROBE = textwrap.dedent(
    """
    import json, sys
    from dfm.cli.main import main
    try:
        main(["--help"])
    except SystemExit as exc:
        code = exc.code
    heavy = ("dfm.cli.commands", "dfm.kernel.config", "cattrs", "yaml", "networkx", "nvflare", "constraint",
             "dfm.compiler.", "dfm.runner.", "dfm.flare.")
    allowed = {"dfm.compiler.plugin", "dfm.runner.plugin", "dfm.flare.plugin"}
    loaded = sorted(m for m in sys.modules if m.startswith(heavy) and m not in allowed)
    print(json.dumps({"code": code, "loaded": loaded}))
    """
)


def test_help_imports_no_command_module_and_nothing_heavy():
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)

    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"code": 0, "loaded": []}, result.stderr


RAISING_PLUGIN = """
from dfm.kernel import hookimpl


@hookimpl(optionalhook=True)
def dfm_cli_commands():
    raise RuntimeError("no commands today")
"""


def test_cli_hook_raising_is_a_warning_and_the_rest_works(dfm, hello_dist, fake_distribution):
    fake_distribution("dfm-adapter-raising", "0.1", plugin=RAISING_PLUGIN)

    result = dfm("--help")

    assert result.exit_code == 0
    assert result.stderr == (
        "warning: dfm_cli_commands() in dfm-adapter-raising 0.1 raised RuntimeError: no commands today\n"
    )
    assert dfm("hello").stdout == "Hello, world!\n"


# -- the cached help listing (dfm.cli.helpcache) ----------------------------------------------------


def _cache_files(tmp_path):
    folder = tmp_path / "dfm-cache"
    return sorted(folder.glob("cli-help-*.marshal")) if folder.exists() else []


def test_help_listing_is_cached_and_identical(dfm, tmp_path, monkeypatch):
    from dfm.cli import group, helpcache

    cold = dfm("--help")
    assert cold.exit_code == 0 and len(_cache_files(tmp_path)) == 1
    assert helpcache.load() is not None

    built = []
    real = group._build_table
    monkeypatch.setattr(group, "_build_table", lambda: built.append(1) or real())
    warm = dfm("--help")
    assert built == []  # answered from the cache
    assert (warm.exit_code, warm.stdout, warm.stderr) == (cold.exit_code, cold.stdout, cold.stderr)
    assert dfm("-h").stdout == cold.stdout and built == []
    dfm("plugins", "list")  # any other command builds the real table
    assert built == [1]


def test_help_listing_follows_installs_and_removals(dfm, tmp_path, fake_distribution):
    import shutil

    before = dfm("--help").stdout
    assert "hello" not in before
    dist = fake_distribution(
        "dfm-adapter-hello",
        "1.0.0",
        plugin=(
            "from dfm.kernel import hookimpl\n\n\n@hookimpl(optionalhook=True)\ndef dfm_cli_commands():\n"
            "    from dfm.cli.records import CliCommandEntry\n\n"
            "    yield CliCommandEntry('hello', 'dfm_adapter_hello.cli:hello', summary='Say hello.')\n"
        ),
    )
    installed = dfm("--help").stdout
    assert "Commands from dfm-adapter-hello 1.0.0:" in installed and "hello  Say hello." in installed
    assert dfm("--help").stdout == installed  # cached now

    # the plugin module edited in place (a source checkout): its file's mtime invalidates
    plugin_file = next(dist.root.rglob("plugin.py"))
    text = plugin_file.read_text().replace("Say hello.", "Say hello twice.")
    plugin_file.write_text(text)
    stat = plugin_file.stat()
    import os

    os.utime(plugin_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    import sys

    from dfm.kernel.plugins import reset_plugin_manager

    for name in [m for m in sys.modules if m.startswith("dfm_adapter_hello")]:
        del sys.modules[name]
    reset_plugin_manager()  # as in a new process
    assert "hello  Say hello twice." in dfm("--help").stdout

    for info in dist.root.glob("*.dist-info"):  # uninstalled
        shutil.rmtree(info)
    reset_plugin_manager()
    assert dfm("--help").stdout == before


def test_broken_plugin_after_a_cached_listing_is_still_reported(dfm, fake_distribution):
    assert dfm("--help").exit_code == 0  # healthy listing cached
    fake_distribution("dfm-adapter-broken", "0.3.1", plugin="import not_installed_anywhere\n")
    result = dfm("--help")
    assert result.exit_code == 1  # strict mode: the failure, not the cached listing
    assert result.stderr.startswith("plugin dfm-adapter-broken 0.3.1")


def test_plugin_controls_invalidate_the_listing(dfm, monkeypatch):
    full = dfm("--help").stdout
    assert "Commands from dfm-cli" in full
    monkeypatch.setenv("DFM_DISABLE_PLUGINS", "dfm-compiler")
    assert "Commands from dfm-compiler" not in dfm("--help").stdout
    monkeypatch.delenv("DFM_DISABLE_PLUGINS")
    assert dfm("--help").stdout == full


WARM_PROBE = textwrap.dedent(
    """
    import json, sys
    from dfm.cli.main import main
    try:
        main(["--help"])
    except SystemExit as exc:
        code = exc.code
    heavy = ("attr", "attrs", "pluggy", "dfm.kernel", "dfm.cli.records", "dfm.cli.hookspecs",
             "importlib.metadata")
    loaded = sorted(m for m in sys.modules if m.startswith(heavy))
    print(json.dumps({"code": code, "loaded": loaded}))
    """
)


def test_help_with_a_warm_cache_imports_neither_attrs_nor_pluggy(tmp_path):
    import os

    env = {**os.environ, "DFM_CACHE_DIR": str(tmp_path / "cache")}
    reports = []
    for _ in range(2):  # cold (builds and stores), then warm
        result = subprocess.run(
            [sys.executable, "-c", WARM_PROBE], capture_output=True, text=True, timeout=60, env=env
        )
        reports.append(json.loads(result.stdout.strip().splitlines()[-1]))
    assert reports[0]["code"] == 0 and "pluggy" in reports[0]["loaded"]
    assert reports[1] == {"code": 0, "loaded": []}
