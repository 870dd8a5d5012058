"""Shared setup of the cross-package tests under tests/ (run against installed distributions).

Enables DFM's opt-in testing plugin; this is the top-level conftest of
``pytest tests``, where pytest honours ``pytest_plugins``.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

pytest_plugins = ["dfm.kernel.testing"]

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The monorepo's root folder."""
    return ROOT


def find_uv() -> str | None:
    """The uv executable, if there is one (on PATH, next to this Python, or from the uv package)."""
    found = shutil.which("uv") or shutil.which("uv", path=str(Path(sys.executable).parent))
    if found:
        return found
    if importlib.util.find_spec("uv") is not None:
        from uv import find_uv_bin

        return str(find_uv_bin())
    return None


def run(command: Sequence[str | os.PathLike[str]], **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run a command, failing the test with its output when it fails."""
    result = subprocess.run(
        [str(c) for c in command],
        capture_output=True,
        text=True,
        timeout=600,
        **kwargs,  # type: ignore[call-overload]
    )
    if result.returncode != 0:
        shown = " ".join(map(str, command))
        pytest.fail(f"command failed ({result.returncode}): {shown}\n{result.stdout}\n{result.stderr}")
    return result


def build_wheel(source: Path, outdir: Path) -> Path:
    """Build one wheel of the project at ``source`` into ``outdir`` (uv build, else python -m build)."""
    outdir.mkdir(parents=True, exist_ok=True)
    before = set(outdir.glob("*.whl"))
    uv = find_uv()
    if uv:
        run([uv, "build", "--wheel", "--out-dir", outdir, source])
    elif importlib.util.find_spec("build") is not None:
        isolation = [] if importlib.util.find_spec("hatchling") is None else ["--no-isolation"]
        run([sys.executable, "-m", "build", "--wheel", *isolation, "--outdir", outdir, source])
    else:
        pytest.fail("building wheels needs uv or the 'build' package")
    [wheel] = set(outdir.glob("*.whl")) - before
    return wheel


@pytest.fixture(scope="session")
def wheel_builder() -> Callable[[Path, Path], Path]:
    """``wheel_builder(source, outdir) -> wheel``: build one wheel (uv build, else python -m build)."""
    return build_wheel


@pytest.fixture(scope="session")
def command_runner() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``command_runner([...])``: run a command, failing the test with its output when it fails."""
    return run


@pytest.fixture(scope="session")
def uv_executable() -> str | None:
    """The uv executable, or None (then venvs come from ``python -m venv`` and pip)."""
    return find_uv()


def assert_lint_clean(project: Path) -> None:
    """ruff check and ruff format --check pass on a baked project, with the project's line length."""
    ruff = shutil.which("ruff") or shutil.which("ruff", path=str(Path(sys.executable).parent))
    if ruff is None:
        pytest.skip("ruff is not installed")
    select = "E,F,W,I,B,UP,SIM,RUF"
    for command in (
        [ruff, "check", "--isolated", "--no-cache", "--line-length", "110", "--select", select, "."],
        [ruff, "format", "--isolated", "--no-cache", "--line-length", "110", "--check", "."],
    ):
        done = subprocess.run(command, cwd=project, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="session")
def lint_clean() -> Callable[[Path], None]:
    """``lint_clean(project)``: ruff check and format pass on a baked project (skips without ruff)."""
    return assert_lint_clean
