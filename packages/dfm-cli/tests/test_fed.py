"""``dfm fed validate`` and ``dfm fed config list-all|set|show|delete``."""

from __future__ import annotations

import importlib
import json
import sys

import pytest

from dfm.cli.commands import fed as fed_commands
from dfm.kernel import ConfigIssue

TINYFED = """\
dfm: 1.0.0
info:
  api-version: 1.0.0
  code-package: tinyfed
  description: A tiny federation.
homesite: home
operations:
  hello.Greet:
    parameters:
      name: {type: string}
    required: [name]
    returns: string
  hello.Wave:
    returns: string
sites:
  home:
    interface:
      "#/operations/hello.Greet":
        adapter: hello.Greet
  away:
    providers:
      desk:
        interface:
          "#/operations/hello.Wave":
            adapter: tinyfed.adapters.Wave
"""


@pytest.fixture
def tinyfed(tmp_path):
    path = tmp_path / "tinyfed.dfm.yaml"
    path.write_text(TINYFED)
    return path


@pytest.fixture
def no_adapter_check(monkeypatch):
    """Pretend the kernel has no ``dfm.kernel.config.validate.check_adapters``."""
    monkeypatch.setattr(fed_commands, "_adapter_checker", lambda: None)


@pytest.fixture
def adapter_check(monkeypatch):
    """A stand-in ``check_adapters`` that reports names missing from the installed registry."""
    calls = []

    def check_adapters(federation, known_names, file):
        calls.append((federation.name, sorted(known_names), file))
        return [
            ConfigIssue(
                file,
                0,
                0,
                "/sites/home/interface/#~1operations~1hello.Greet/adapter",
                f"unknown adapter {n!r}",
            )
            for n in ["hello.Greet"]
            if n not in known_names
        ]

    monkeypatch.setattr(fed_commands, "_adapter_checker", lambda: check_adapters)
    return calls


def test_validate_ok(dfm, tinyfed, no_adapter_check):
    result = dfm("fed", "validate", str(tinyfed))

    assert result.exit_code == 0, result.output
    assert result.stdout == f"OK {tinyfed}: federation 'tinyfed', 2 sites, 2 operations\n"


def test_validate_checks_adapters_against_installed_plugins(dfm, tinyfed, adapter_check, hello_dist):
    result = dfm("fed", "validate", str(tinyfed))

    assert result.exit_code == 0, result.output
    assert adapter_check == [("tinyfed", ["hello.Greet"], str(tinyfed))]


def test_validate_reports_unknown_adapters(dfm, tinyfed, adapter_check):
    result = dfm("fed", "validate", str(tinyfed))

    assert result.exit_code == 1
    assert result.stderr == (
        "1 problem in federation config\n"
        f"  {tinyfed} /sites/home/interface/hello.Greet/adapter: "
        "unknown adapter 'hello.Greet'\n"
    )


def test_validate_reports_every_issue_of_a_bad_config(dfm, tmp_path, no_adapter_check):
    bad = tmp_path / "bad.dfm.yaml"
    bad.write_text("dfm: 1.0.0\ninfo:\n  api-version: 1.0.0\nsitez: {}\n")

    result = dfm("fed", "validate", str(bad))

    assert result.exit_code == 1
    assert "problem" in result.stderr.splitlines()[0]
    assert str(bad) in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_validate_checks_pins(dfm, tmp_path, hello_dist, no_adapter_check):
    pinned = tmp_path / "pinned.dfm.yaml"
    pinned.write_text(TINYFED + "plugins:\n  dfm-adapter-hello: '>=2'\n  dfm-adapter-nowhere: '>=0.1'\n")

    result = dfm("fed", "validate", str(pinned))

    assert result.exit_code == 1
    assert result.stderr == (
        "2 federation plugin pins not met:\n"
        "  /plugins/dfm-adapter-hello: requires >=2, found 1.0.0\n"
        "  /plugins/dfm-adapter-nowhere: requires >=0.1, found none (not installed)\n"
    )

    pinned.write_text(TINYFED + "plugins:\n  dfm-adapter-hello: '>=1,<2'\n")
    ok = dfm("fed", "validate", str(pinned))
    assert ok.exit_code == 0
    assert ok.stdout.endswith("2 operations, 1 plugin pin met\n")


def test_validate_unknown_file_or_name(dfm, tinyfed, no_adapter_check):
    dfm("fed", "config", "set", "tinyfed", str(tinyfed))

    result = dfm("fed", "validate", "tinyfd")

    assert result.exit_code == 1
    assert result.stderr == (
        "no federation config file 'tinyfd' and no registered federation of that name; "
        "did you mean 'tinyfed'? "
        "(register one with 'dfm fed config set NAME PATH')\n"
    )
    assert dfm("fed", "validate", "tinyfed").exit_code == 0


def test_registry_round_trip(dfm, tinyfed, tmp_path):
    assert dfm("fed", "config", "list-all").stdout.startswith("no federations registered in ")

    result = dfm("fed", "config", "set", "tinyfed", str(tinyfed))
    assert result.exit_code == 0
    assert result.stdout == f"tinyfed: {tinyfed}\n"
    assert (tmp_path / "dfm-config" / "federations.yaml").is_file()  # DFM_CONFIG_HOME

    listing = dfm("fed", "config", "list-all")
    assert listing.stdout.splitlines() == ["NAME     CONFIG", f"tinyfed  {tinyfed}"]
    assert json.loads(dfm("fed", "config", "list-all", "--json").stdout) == {"tinyfed": str(tinyfed)}

    show = dfm("fed", "config", "show", "tinyfed")
    assert show.exit_code == 0, show.output
    assert show.stdout.splitlines() == [
        f"tinyfed: {tinyfed}",
        "  description: A tiny federation.",
        "  api version: 1.0.0",
        "  operations (2): hello.Greet, hello.Wave",
        "  sites (2):",
        "    home (homesite): hello.Greet",
        "    away: hello.Wave [desk]",
    ]

    deleted = dfm("fed", "config", "delete", "tinyfed")
    assert deleted.stdout == f"removed tinyfed ({tinyfed})\n"
    assert json.loads(dfm("fed", "config", "list-all", "--json").stdout) == {}


def test_registry_replacing_and_unknown_names(dfm, tinyfed, tmp_path):
    other = tmp_path / "other.dfm.yaml"
    other.write_text(TINYFED)
    dfm("fed", "config", "set", "tinyfed", str(tinyfed))

    assert dfm("fed", "config", "set", "tinyfed", str(other)).stdout == f"tinyfed: {other} (was {tinyfed})\n"
    for command in ("show", "delete"):
        result = dfm("fed", "config", command, "tinyfd")
        assert result.exit_code == 1
        assert result.stderr == (
            "unknown federation 'tinyfd'; did you mean 'tinyfed'? "
            "(registered: tinyfed; register one with 'dfm fed config set NAME PATH')\n"
        )


def test_registry_set_rejects_missing_files_and_bad_names(dfm, tinyfed, tmp_path):
    missing = dfm("fed", "config", "set", "x", str(tmp_path / "missing.yaml"))
    assert missing.exit_code == 1
    assert missing.stderr.startswith("no federation config file at ")

    bad_name = dfm("fed", "config", "set", "has space", str(tinyfed))
    assert bad_name.exit_code == 1
    assert bad_name.stderr.startswith("invalid federation name 'has space'")

    usage = dfm("fed", "config", "set", "only-a-name")
    assert usage.exit_code == 2


def test_show_with_a_broken_config(dfm, tmp_path):
    bad = tmp_path / "bad.dfm.yaml"
    bad.write_text("dfm: 1.0.0\n")
    dfm("fed", "config", "set", "bad", str(bad))

    result = dfm("fed", "config", "show", "bad")

    assert result.exit_code == 1
    assert result.stdout == f"bad: {bad}\n"
    assert "problem" in result.stderr


def test_validate_uses_the_kernels_adapter_check(dfm, tinyfed, hello_dist):
    try:
        importlib.import_module("dfm.kernel.config.validate").check_adapters  # noqa: B018
    except (ImportError, AttributeError):
        pytest.skip("this dfm-kernel has no dfm.kernel.config.validate.check_adapters")

    result = dfm("fed", "validate", str(tinyfed))

    assert result.exit_code == 1  # hello.Greet is installed; tinyfed.adapters cannot be found
    assert "tinyfed.adapters.Wave" in result.stderr
    assert "hello.Greet" not in result.stderr


@pytest.mark.parametrize(
    ("args", "command"), [(["fed", "new"], "dfm fed new"), (["adapter", "new"], "dfm adapter new")]
)
def test_new_without_cookiecutter_says_what_to_install(dfm, monkeypatch, args, command):
    monkeypatch.setitem(sys.modules, "cookiecutter", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "cookiecutter.main", None)
    result = dfm(*args, "Weather", "--no-input")
    assert result.exit_code == 1
    assert result.stderr.strip() == f"'{command}' needs cookiecutter: pip install 'dfm-cli[templates]'"
