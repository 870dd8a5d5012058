"""The adapter cookiecutter template: exact file sets, rendered content, and baked projects' own tests.

Baking uses cookiecutter's Python API with ``no_input=True`` and
``extra_context``. The slow tests install baked projects together with the
local dfm-kernel (built from its path) into fresh virtual environments and
run the projects' own test suites in subprocesses.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

cookiecutter_main = pytest.importorskip("cookiecutter.main")
from cookiecutter.exceptions import FailedHookException  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "templates" / "adapter"


def common_files(package: str) -> set[str]:
    return {
        ".github/workflows/publish.yml",
        ".github/workflows/test.yml",
        ".gitignore",
        "CHANGELOG.md",
        "LICENSE",
        "README.md",
        "examples/federation.dfm.yaml",
        "noxfile.py",
        "pyproject.toml",
        f"src/{package}/__init__.py",
        f"src/{package}/adapters.py",
        f"src/{package}/plugin.py",
        f"src/{package}/py.typed",
        "tests/conftest.py",
        "tests/test_adapters.py",
        "tests/test_example_config.py",
        "tests/test_plugin.py",
    }


def async_files(package: str) -> set[str]:
    return {f"src/{package}/async_adapters.py", "tests/test_async_adapters.py"}


@dataclass(frozen=True)
class Case:
    context: dict[str, str] = field(default_factory=dict)  # extra_context
    folder: str = "dfm-adapter-weather-gfs"
    package: str = "dfm_adapter_weather_gfs"
    namespace: str = "weather_gfs"
    with_async: bool = True


CASES = {
    "defaults": Case(),
    "no-async": Case({"include_async_example": "n"}, with_async=False),
    "mit": Case({"license": "MIT", "author_name": "Ada Lovelace"}),
    "bsd": Case({"license": "BSD-3-Clause"}),
    "names": Case(
        {
            "adapter_name": "Air Quality",
            "operation_namespace": "air.quality",
            "description": 'Air "quality" readings',
            "author_name": 'Grace "Amazing" Hopper',
            "author_email": "grace@example.org",
            "dfm_kernel_spec": ">=0.1.0,<0.2",
        },
        folder="dfm-adapter-air-quality",
        package="dfm_adapter_air_quality",
        namespace="air.quality",
    ),
}


def bake(output: Path, **context: str) -> Path:
    return Path(
        cookiecutter_main.cookiecutter(
            str(TEMPLATE), no_input=True, extra_context=context, output_dir=str(output)
        )
    )


def file_set(project: Path) -> set[str]:
    return {p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()}


@pytest.mark.parametrize("case", list(CASES))
def test_generated_file_set(tmp_path, case):
    c = CASES[case]
    project = bake(tmp_path, **c.context)
    assert project.name == c.folder
    expected = common_files(c.package) | (async_files(c.package) if c.with_async else set())
    assert file_set(project) == expected


@pytest.mark.parametrize("case", list(CASES))
def test_rendered_content(tmp_path, case):
    c = CASES[case]
    project = bake(tmp_path, **c.context)
    for path in project.rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert "cookiecutter" not in text and "{%" not in text, path
            if not path.match("*.yml"):  # GitHub expressions ${{ ... }} are meant to stay
                assert "{{" not in text, path
            if path.suffix == ".py":
                ast.parse(text, filename=str(path))

    if sys.version_info >= (3, 11):
        import tomllib

        meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
        assert meta["name"] == c.folder
        assert meta["entry-points"]["dfm.plugins"] == {c.folder: f"{c.package}.plugin"}
        assert meta["dependencies"] == [f"dfm-kernel{c.context.get('dfm_kernel_spec', '>=0.1,<0.2')}"]
        assert meta["license"] == c.context.get("license", "Apache-2.0")
        assert meta["description"] == c.context.get("description", "DFM adapters for Weather GFS.")
        author = {k: c.context[f"author_{k}"] for k in ("name", "email") if c.context.get(f"author_{k}")}
        assert meta.get("authors") == ([author] if author else None)

    plugin = (project / "src" / c.package / "plugin.py").read_text()
    example = (project / "examples" / "federation.dfm.yaml").read_text()
    assert f'"{c.namespace}.Hello"' in plugin
    assert (f'"{c.namespace}.HelloLater"' in plugin) is c.with_async
    assert (f"{c.namespace}.HelloLater" in example) is c.with_async

    license_text = (project / "LICENSE").read_text()
    titles = {"MIT": "MIT License", "BSD-3-Clause": "BSD 3-Clause License", "Apache-2.0": "Apache License"}
    assert license_text.split()[:2] == titles[c.context.get("license", "Apache-2.0")].split()[:2]
    if c.context.get("license") in ("MIT", "BSD-3-Clause"):
        holder = c.context.get("author_name", f"the {c.folder} authors")
        assert re.search(rf"^Copyright \(c\) \d{{4}},? {re.escape(holder)}$", license_text, re.MULTILINE)


def test_the_plugin_test_reads_adapters_from_the_plugin_records(tmp_path):
    project = bake(tmp_path)
    text = (project / "tests" / "test_plugin.py").read_text()
    assert "class TestPlugin(PluginPackageTests):" in text  # the records come from the plugin itself
    assert '"weather_gfs.Hello"' not in text  # no hand-written list to keep in step with plugin.py


def test_template_installed_with_byte_code_bakes_none(tmp_path):
    import shutil

    copy = tmp_path / "template"
    shutil.copytree(TEMPLATE, copy)
    for folder in ("tests", "src/dfm_adapter_{{cookiecutter.underscored}}"):
        cache = copy / "dfm-adapter-{{cookiecutter.hyphenated}}" / folder / "__pycache__"
        cache.mkdir()
        (cache / "conftest.cpython-311.pyc").write_bytes(b"\0")  # what pip's byte-compiling leaves
    project = Path(cookiecutter_main.cookiecutter(str(copy), no_input=True, output_dir=str(tmp_path / "out")))
    assert not list(project.rglob("__pycache__"))


def test_the_noxfile_and_ci_take_a_wheelhouse(tmp_path):
    project = bake(tmp_path)
    noxfile = (project / "noxfile.py").read_text()
    assert 'os.environ.get("DFM_WHEELHOUSE", "")' in noxfile
    assert noxfile.count("session.install(*FIND_LINKS,") == 2
    workflow = (project / ".github" / "workflows" / "test.yml").read_text()
    assert "DFM_WHEELHOUSE: ${{ vars.DFM_WHEELHOUSE }}" in workflow
    assert "DFM_WHEELHOUSE=" in (project / "README.md").read_text()


def test_generated_python_is_lint_clean(tmp_path, lint_clean):
    for context in ({}, CASES["names"].context, CASES["no-async"].context):
        lint_clean(bake(tmp_path / str(len(list(tmp_path.iterdir()))), **context))


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"adapter_name": "DFM Weather"}, "starts with 'dfm' or 'adapter'"),
        ({"adapter_name": "dfm-adapter-weather"}, "starts with 'dfm' or 'adapter'"),
        ({"adapter_name": "Adapter for SQL"}, "starts with 'dfm' or 'adapter'"),
        ({"adapter_name": "9 Lives"}, "hyphenated name '9-lives' must be lowercase"),
        ({"adapter_name": "Café"}, "hyphenated name 'café' must be lowercase"),
        ({"hyphenated": "weather", "underscored": "Weather"}, "not a valid PEP 8 module name"),
        ({"hyphenated": "weather", "underscored": "other"}, "must be the hyphenated name with '_'"),
        ({"operation_namespace": "class.weather"}, "must be identifiers joined by dots"),
        ({"dfm_kernel_spec": "0.1"}, "is not a version range"),
        ({"author_email": "nobody"}, "is not an email address"),
    ],
)
def test_bad_answers_are_refused_before_anything_is_written(tmp_path, capfd, context, message):
    with pytest.raises(FailedHookException):
        bake(tmp_path, **context)
    assert message in capfd.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_default_kernel_range_tracks_the_kernel_version():
    import json

    text = (ROOT / "packages" / "dfm-kernel" / "pyproject.toml").read_text()
    match = re.search(r'^version\s*=\s*"(\d+)\.(\d+)\.', text, re.MULTILINE)
    assert match is not None
    major, minor = int(match[1]), int(match[2])
    expected = f">={major}.{minor},<{major}.{minor + 1}" if major == 0 else f">={major}.{minor},<{major + 1}"
    assert json.loads((TEMPLATE / "cookiecutter.json").read_text())["dfm_kernel_spec"] == expected


# -- baked projects run their own tests --------------------------------------------------------------


def make_venv(root: Path, uv: str | None, run: Callable[..., Any]) -> Path:
    python = root / ("Scripts" if os.name == "nt" else "bin") / "python"
    if uv:
        run([uv, "venv", "--quiet", "--python", sys.executable, root])
    else:
        run([sys.executable, "-m", "venv", root])
    return python


def install(python: Path, uv: str | None, run: Callable[..., Any], *requirements: str | Path) -> None:
    if uv:
        run([uv, "pip", "install", "--quiet", "--python", python, *requirements])
    else:
        run([python, "-m", "pip", "install", "--quiet", *requirements])


@pytest.fixture(scope="module")
def local_wheels(tmp_path_factory, wheel_builder) -> dict[str, Path]:
    """Fresh wheels of the local core distributions (installing from a path can hit a stale build cache)."""
    out = tmp_path_factory.mktemp("template-wheels")
    return {
        name: wheel_builder(ROOT / "packages" / name, out)
        for name in ("dfm-kernel", "dfm-compiler", "dfm-runner", "dfm-cli")
    }


@pytest.mark.slow
@pytest.mark.parametrize(
    ("case", "with_runner"),
    [("defaults", True), ("no-async", False), ("names", False)],
    ids=["defaults+runner+cli", "no-async+kernel-only", "names+kernel-only"],
)
def test_baked_project_passes_its_own_tests(
    tmp_path, local_wheels, uv_executable, command_runner, case, with_runner
):
    c = CASES[case]
    project = bake(tmp_path / "src", **c.context)
    python = make_venv(tmp_path / "venv", uv_executable, command_runner)
    wheels = [local_wheels["dfm-kernel"]]
    if with_runner:
        wheels += [local_wheels["dfm-compiler"], local_wheels["dfm-runner"], local_wheels["dfm-cli"]]
    install(python, uv_executable, command_runner, *wheels, project, "pytest>=8")

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DFM_", "PYTHON", "VIRTUAL_ENV"))}
    env["DFM_STRICT_PLUGINS"] = "1"
    done = subprocess.run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    summary = done.stdout.strip().splitlines()[-1]
    expected = 13 if c.with_async else 10  # tests in the baked project
    skipped = 0 if with_runner else 2  # the end-to-end run and `dfm plugins list` need dfm-runner / dfm-cli
    assert f"{expected - skipped} passed" in summary, done.stdout
    assert (f"{skipped} skipped" in summary) is bool(skipped), done.stdout
    assert importlib.util.find_spec(c.package) is None  # installed in the new venv only, not here
