"""``dfm plugins list`` and ``dfm adapters list``."""

from __future__ import annotations

import json
from importlib.metadata import version

KINDS = ["adapters", "cli_commands", "codecs", "emitters", "placement_strategies", "transports"]


def by_name(listing):
    return {item["name"]: item for item in listing}


def test_plugins_list_json(dfm, hello_dist):
    result = dfm("plugins", "list", "--json")

    assert result.exit_code == 0, result.output
    plugins = by_name(json.loads(result.stdout))
    assert plugins["dfm-adapter-hello"] == {
        "distribution": "dfm-adapter-hello",
        "version": "1.0.0",
        "entry_point": "dfm_adapter_hello.plugin",
        "name": "dfm-adapter-hello",
        "status": "active",
        "error": None,
        "contributions": {
            "adapters": ["hello.Greet"],
            "cli_commands": ["fed greet", "hello"],
            "codecs": [],
            "emitters": [],
            "placement_strategies": [],
            "transports": [],
        },
    }
    cli = plugins["dfm-cli"]
    assert (cli["version"], cli["entry_point"], cli["status"]) == (
        version("dfm-cli"),
        "dfm.cli.plugin",
        "active",
    )
    assert cli["contributions"]["cli_commands"] == [
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
    assert plugins["dfm-kernel"]["contributions"]["codecs"]
    assert all(sorted(item["contributions"]) == KINDS for item in plugins.values())


def test_plugins_list_shows_failed_and_disabled(dfm, hello_dist, broken_dist, fake_distribution, monkeypatch):
    fake_distribution("dfm-adapter-off", "2.0")
    monkeypatch.setenv("DFM_STRICT_PLUGINS", "0")
    monkeypatch.setenv("DFM_DISABLE_PLUGINS", "dfm-adapter-off")

    listing = by_name(json.loads(dfm("plugins", "list", "--json").stdout))

    assert listing["dfm-adapter-broken"]["status"] == "failed"
    assert (
        listing["dfm-adapter-broken"]["error"]
        == "ModuleNotFoundError: No module named 'not_installed_anywhere'"
    )
    assert set(listing["dfm-adapter-broken"]["contributions"]["adapters"]) == set()
    assert (listing["dfm-adapter-off"]["status"], listing["dfm-adapter-off"]["error"]) == (
        "disabled",
        "in DFM_DISABLE_PLUGINS",
    )

    table = dfm("plugins", "list")
    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["PLUGIN", "VERSION", "ENTRY", "POINT", "STATUS", "CONTRIBUTES"]
    row = next(line for line in lines if line.startswith("dfm-adapter-hello "))
    assert row.split(None, 4) == [
        "dfm-adapter-hello",
        "1.0.0",
        "dfm_adapter_hello.plugin",
        "active",
        "adapters: hello.Greet; cli_commands: fed greet, hello",
    ]
    assert (
        "plugin dfm-adapter-off 2.0 (entry point dfm_adapter_off.plugin) is disabled: in DFM_DISABLE_PLUGINS"
        in lines
    )
    assert any(
        line.startswith("plugin dfm-adapter-broken 0.3.1") and "failed to load" in line for line in lines
    )


def test_plugins_list_requirements(dfm, hello_dist):
    result = dfm("plugins", "list", "--requirements")

    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert "dfm-adapter-hello==1.0.0" in lines
    assert f"dfm-cli=={version('dfm-cli')}" in lines
    assert lines == sorted(lines)
    assert json.loads(dfm("plugins", "list", "--requirements", "--json").stdout) == lines


def test_adapters_list(dfm, hello_dist):
    table = dfm("adapters", "list")
    assert table.exit_code == 0
    assert table.stdout.splitlines() == [
        "NAME         DISTRIBUTION             SUMMARY",
        "hello.Greet  dfm-adapter-hello 1.0.0  Says hello.",
    ]
    assert json.loads(dfm("adapters", "list", "--json").stdout) == [
        {
            "name": "hello.Greet",
            "distribution": "dfm-adapter-hello",
            "version": "1.0.0",
            "summary": "Says hello.",
        }
    ]


def test_adapters_list_without_adapters(dfm, monkeypatch):
    monkeypatch.setenv("DFM_LOAD_PLUGINS", "")  # whatever adapter plugins this environment has
    result = dfm("adapters", "list")

    assert result.exit_code == 0
    assert result.stdout.startswith("no adapters installed")
    assert json.loads(dfm("adapters", "list", "--json").stdout) == []


SAME_ADAPTER = """
from dfm.kernel import AdapterEntry, hookimpl


@hookimpl
def dfm_adapters():
    yield AdapterEntry("hello.Greet", "dfm_adapter_copycat.plugin:Greet", summary="Also says hello.")
"""


def test_adapter_conflict_is_a_user_error(dfm, hello_dist, fake_distribution):
    fake_distribution("dfm-adapter-copycat", "0.0.1", plugin=SAME_ADAPTER)

    result = dfm("adapters", "list")

    assert result.exit_code == 1
    assert (
        result.stderr
        == "adapter 'hello.Greet' provided by: dfm-adapter-copycat 0.0.1, dfm-adapter-hello 1.0.0\n"
    )
