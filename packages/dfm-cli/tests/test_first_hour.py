"""What a new user meets first: missing commands name their distribution, list naming, JSON, completion."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.util import find_spec

import pytest

from dfm.cli.providers import PROVIDERS, provider_of

RUNNER = find_spec("dfm.runner") is not None

TINYFED = """
dfm: 1.0.0
info: {api-version: 1.0.0, code-package: tinyfed}
homesite: home
operations:
  hello.Greet: {returns: string}
  hello.Wave: {returns: string}
sites:
  home:
    interface:
      "#/operations/hello.Greet": {adapter: tinyfed.adapters.Greet}
  away:
    providers:
      desk:
        interface:
          "#/operations/hello.Wave": {adapter: tinyfed.adapters.Wave}
"""


@pytest.fixture
def tinyfed(tmp_path):
    path = tmp_path / "tinyfed.dfm.yaml"
    path.write_text(TINYFED)
    return path


def test_provider_table_names_distributions():
    assert provider_of("fed submit") == "dfm-runner"
    assert provider_of("poc start") == "dfm-flare"  # a subcommand of a group a distribution provides
    assert provider_of("fed validate") is None
    assert all(dist.startswith("dfm-") for dist in PROVIDERS.values())


@pytest.mark.skipif(RUNNER, reason="dfm-runner is installed here: 'dfm fed submit' exists")
def test_missing_command_names_the_distribution_that_provides_it(dfm):
    result = dfm("fed", "submit", "examplefed", "pipeline", "demo.py")
    assert result.exit_code == 2
    assert (
        "No such command 'submit': 'submit' is provided by dfm-runner: pip install dfm-runner"
        in result.stderr
    )


def test_missing_command_of_a_disabled_distribution_says_so(dfm, fake_distribution, monkeypatch):
    fake_distribution("dfm-flare")
    monkeypatch.setenv("DFM_DISABLE_PLUGINS", "dfm-flare")
    result = dfm("poc", "status")
    assert result.exit_code == 2
    assert "'poc' is provided by dfm-flare, installed but disabled." in result.stderr


def test_unknown_commands_still_get_a_did_you_mean(dfm):
    result = dfm("fed", "sumbit")
    assert result.exit_code == 2
    assert "No such command 'sumbit'." in result.stderr and "pip install" not in result.stderr


def test_config_list_and_its_alias_list_all(dfm, tinyfed):
    dfm("fed", "config", "set", "tinyfed", str(tinyfed))
    assert json.loads(dfm("fed", "config", "list", "--json").stdout) == {"tinyfed": str(tinyfed)}
    assert dfm("fed", "config", "list").stdout == dfm("fed", "config", "list-all").stdout
    assert dfm("fed", "config", "list-all", "--json").stdout == dfm("fed", "config", "list", "--json").stdout
    listing = dfm("fed", "config", "--help").stdout
    assert "list-all  Same as 'list'" in listing


def test_config_show_json(dfm, tinyfed):
    dfm("fed", "config", "set", "tinyfed", str(tinyfed))
    shown = json.loads(dfm("fed", "config", "show", "tinyfed", "--json").stdout)
    assert shown["name"] == "tinyfed" and shown["config"] == str(tinyfed)
    assert shown["operations"] == ["hello.Greet", "hello.Wave"]
    assert shown["homesite"] == "home"
    assert shown["sites"] == {
        "home": {"operations": ["hello.Greet"], "providers": []},
        "away": {"operations": ["hello.Wave"], "providers": ["desk"]},
    }


def _complete(args: str, env: dict[str, str]) -> list[str]:
    """What bash completion offers for ``dfm <args>`` (the last word is being completed)."""
    words = ["dfm", *args.split(" ")]
    env = {
        **env,
        "_DFM_COMPLETE": "bash_complete",
        "COMP_WORDS": " ".join(words),
        "COMP_CWORD": str(len(words) - 1),
    }
    code = "from dfm.cli.main import main; main()"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_completion_of_commands_and_federation_names(dfm, tinyfed, tmp_path):
    dfm("fed", "config", "set", "tinyfed", str(tinyfed))
    env = {**os.environ, "DFM_CONFIG_HOME": str(tmp_path / "dfm-config")}
    assert "plain,plugins" in _complete("plu", env)
    offered = _complete("fed config show ti", env)
    assert "plain,tinyfed" in offered
    assert "file,ti" in offered  # and files
    assert "plain,list" in _complete("fed config li", env)


def test_completion_commands(dfm, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    script = dfm("completion", "generate", "--shell", "bash").stdout
    assert "_DFM_COMPLETE=bash_complete" in script
    assert json.loads(dfm("completion", "status", "--shell", "bash", "--json").stdout)["enabled"] is False
    assert dfm("completion", "setup", "--shell", "bash").exit_code == 0
    assert dfm("completion", "setup", "--shell", "bash").exit_code == 0  # once only
    assert (tmp_path / ".bashrc").read_text().count("_DFM_COMPLETE=bash_source dfm") == 1
    assert "bash: enabled" in dfm("completion", "status", "--shell", "bash").stdout
