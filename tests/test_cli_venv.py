"""The dfm CLI installed from wheels into a fresh virtual environment, with third-party plugins.

Editable installs hide namespace-package and missing-file bugs, so this test
builds real wheels of dfm-kernel and dfm-cli, plus two tiny third-party
distributions generated here (a working adapter plugin and a broken one),
installs them into a new venv and drives the ``dfm`` console script.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

HELLO_FILES = {
    "pyproject.toml": """
        [build-system]
        requires = ["hatchling>=1.25"]
        build-backend = "hatchling.build"

        [project]
        name = "dfm-adapter-hello"
        version = "0.4.2"
        description = "Says hello, federated."
        requires-python = ">=3.10"
        dependencies = ["dfm-kernel>=0.1,<0.2"]
        keywords = ["dfm", "dfm-adapter"]

        [project.entry-points."dfm.plugins"]
        dfm-adapter-hello = "dfm_adapter_hello.plugin"

        [tool.hatch.build.targets.wheel]
        packages = ["src/dfm_adapter_hello"]
    """,
    "src/dfm_adapter_hello/__init__.py": '"""A tiny DFM adapter package."""\n',
    "src/dfm_adapter_hello/plugin.py": """
        from dfm.kernel import AdapterEntry, hookimpl


        @hookimpl
        def dfm_adapters():
            yield AdapterEntry("hello.Greet", "dfm_adapter_hello.adapters:Greet", summary="Greets by name.")


        @hookimpl(optionalhook=True)
        def dfm_cli_commands():
            from dfm.kernel.records import CliCommandEntry

            yield CliCommandEntry("hello", "dfm_adapter_hello.cli:hello", summary="Say hello.", parent="fed")
    """,
    "src/dfm_adapter_hello/adapters.py": """
        class Greet:
            def __init__(self, site, provider):
                self.site = site

            def body(self, name):
                return f"Hello, {name}!"
    """,
    "src/dfm_adapter_hello/cli.py": """
        import click


        @click.command()
        @click.argument("name")
        def hello(name):
            click.echo(f"Hello, {name}!")
    """,
}

BROKEN_FILES = {
    "pyproject.toml": """
        [build-system]
        requires = ["hatchling>=1.25"]
        build-backend = "hatchling.build"

        [project]
        name = "dfm-adapter-broken"
        version = "0.0.1"
        requires-python = ">=3.10"

        [project.entry-points."dfm.plugins"]
        dfm-adapter-broken = "dfm_adapter_broken.plugin"

        [tool.hatch.build.targets.wheel]
        packages = ["src/dfm_adapter_broken"]
    """,
    "src/dfm_adapter_broken/__init__.py": "",
    "src/dfm_adapter_broken/plugin.py": "import a_module_nobody_installed  # noqa: F401\n",
}


def write_project(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return folder


class Venv:
    def __init__(
        self, root: Path, uv: str | None, run: Callable[..., subprocess.CompletedProcess[str]]
    ) -> None:
        self.root = root
        bindir = root / ("Scripts" if os.name == "nt" else "bin")
        self.python = bindir / "python"
        self.dfm = bindir / "dfm"
        self.uv = uv
        self.run = run

    def create(self) -> None:
        if self.uv:
            self.run([self.uv, "venv", "--quiet", "--python", sys.executable, self.root])
        else:
            self.run([sys.executable, "-m", "venv", self.root])

    def install(self, *wheels: Path) -> None:
        if self.uv:
            self.run([self.uv, "pip", "install", "--quiet", "--python", self.python, *wheels])
        else:
            self.run([self.python, "-m", "pip", "install", "--quiet", *wheels])

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DFM_", "PYTHON", "VIRTUAL_ENV"))}
        return {**env, **extra}

    def dfm_run(
        self, *args: str, check: bool = True, cwd: Path | None = None, **env: str
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.dfm), *args], capture_output=True, text=True, timeout=120, env=self.env(**env), cwd=cwd
        )
        if check and result.returncode != 0:
            pytest.fail(f"dfm {' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
        return result


@pytest.fixture(scope="module")
def wheels(tmp_path_factory, repo_root, wheel_builder) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("wheels")
    out = work / "dist"
    return {
        "dfm-kernel": wheel_builder(repo_root / "packages" / "dfm-kernel", out),
        "dfm-cli": wheel_builder(repo_root / "packages" / "dfm-cli", out),
        "dfm-adapter-hello": wheel_builder(write_project(work / "hello", HELLO_FILES), out),
        "dfm-adapter-broken": wheel_builder(write_project(work / "broken", BROKEN_FILES), out),
    }


@pytest.fixture(scope="module")
def venv(tmp_path_factory, wheels, uv_executable, command_runner) -> Venv:
    env = Venv(tmp_path_factory.mktemp("venv") / "venv", uv_executable, command_runner)
    env.create()
    env.install(wheels["dfm-kernel"], wheels["dfm-cli"], wheels["dfm-adapter-hello"])
    return env


def test_wheels_keep_dfm_a_namespace_package(venv):
    probe = venv.run(
        [venv.python, "-c", "import dfm, dfm.kernel, dfm.cli; print(list(dfm.__path__)); print(dfm.__file__)"]
    )
    lines = probe.stdout.splitlines()
    assert lines[1] == "None"  # a namespace package has no __init__.py
    assert not list(venv.root.rglob("site-packages/dfm/__init__.py"))


def test_plugins_list_shows_the_third_party_plugin(venv):
    listing = json.loads(venv.dfm_run("plugins", "list", "--json").stdout)

    plugins = {p["name"]: p for p in listing}
    assert set(plugins) >= {"dfm-kernel", "dfm-cli", "dfm-adapter-hello"}
    hello = plugins["dfm-adapter-hello"]
    assert (hello["version"], hello["entry_point"], hello["status"]) == (
        "0.4.2",
        "dfm_adapter_hello.plugin",
        "active",
    )
    assert hello["contributions"]["adapters"] == ["hello.Greet"]
    assert hello["contributions"]["cli_commands"] == ["fed hello"]
    assert "dfm-adapter-hello==0.4.2" in venv.dfm_run("plugins", "list", "--requirements").stdout.splitlines()


def test_adapters_list_shows_its_adapter(venv):
    table = venv.dfm_run("adapters", "list").stdout

    assert "hello.Greet  dfm-adapter-hello 0.4.2  Greets by name." in table.splitlines()


def test_third_party_command_under_fed(venv):
    assert "hello" in venv.dfm_run("fed", "--help").stdout
    assert venv.dfm_run("fed", "hello", "Grace").stdout == "Hello, Grace!\n"


def test_help_and_version(venv):
    help_text = venv.dfm_run("--help").stdout
    assert "Commands from dfm-cli 0.1.0:" in help_text
    version = venv.dfm_run("--version").stdout.splitlines()
    assert version[:2] == ["dfm-cli 0.1.0", "dfm-kernel 0.1.0"]


HELP_PROBE = """
import sys
from dfm.cli.main import main
try:
    main(["--help"])
except SystemExit:
    pass
print(sorted(m for m in sys.modules if m.startswith(("dfm_adapter_hello.", "dfm.cli.commands"))))
"""


def test_help_imports_no_adapter_or_command_module(venv):
    probe = venv.run(
        [
            venv.python,
            "-c",
            HELP_PROBE,
        ],
        env=venv.env(),
    )
    assert probe.stdout.splitlines()[-1] == "['dfm_adapter_hello.plugin']"


def test_a_broken_plugin_does_not_break_help(venv, wheels):
    venv.install(wheels["dfm-adapter-broken"])

    result = venv.dfm_run("--help")
    assert "dfm-adapter-broken" in result.stdout
    assert "(failed to load) ModuleNotFoundError" in result.stdout
    assert "Commands from dfm-cli 0.1.0:" in result.stdout

    listing = {p["name"]: p for p in json.loads(venv.dfm_run("plugins", "list", "--json").stdout)}
    assert listing["dfm-adapter-broken"]["status"] == "failed"
    assert listing["dfm-adapter-hello"]["status"] == "active"
    assert "hello.Greet" in venv.dfm_run("adapters", "list").stdout

    placeholder = venv.dfm_run("dfm-adapter-broken", check=False)
    assert placeholder.returncode == 1
    assert "plugin dfm-adapter-broken 0.0.1 (entry point dfm_adapter_broken.plugin) failed to load" in (
        placeholder.stderr
    )

    strict = venv.dfm_run("--help", check=False, DFM_STRICT_PLUGINS="1")
    assert strict.returncode == 1
    assert "dfm-adapter-broken 0.0.1" in strict.stderr and "Traceback" not in strict.stderr

    disabled = venv.dfm_run("--help", DFM_DISABLE_PLUGINS="dfm-adapter-broken", DFM_STRICT_PLUGINS="1")
    assert "dfm-adapter-broken" not in disabled.stdout


def test_templates_outside_a_checkout_come_from_the_wheel(venv, tmp_path):
    venv.install("cookiecutter>=2.5")  # the 'templates' extra
    result = venv.dfm_run("adapter", "new", "Weather GFS", "--no-input", cwd=tmp_path)
    project = tmp_path / "dfm-adapter-weather-gfs"
    assert f"created {project}" in result.stdout
    assert 'name = "dfm-adapter-weather-gfs"' in (project / "pyproject.toml").read_text()
    assert (project / "src" / "dfm_adapter_weather_gfs" / "plugin.py").is_file()

    result = venv.dfm_run("fed", "new", "Sky Watch", "--sites", "base,rover", cwd=tmp_path)
    config = tmp_path / "sky_watch" / "sky_watch.dfm.yaml"
    assert f"created {config.parent}" in result.stdout
    checked = venv.dfm_run("fed", "validate", str(config), cwd=tmp_path)
    assert "federation 'sky_watch', 2 sites, 1 operation" in checked.stdout
