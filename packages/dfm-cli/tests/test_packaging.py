"""The dfm-cli wheel: a namespace package with the console script and the plugin entry point."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from dfm.kernel.testing.wheels import build_wheel_contents

PACKAGE = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("build") is None or importlib.util.find_spec("hatchling") is None,
    reason="needs 'build' and 'hatchling' (the test dependency group)",
)
def test_wheel_contents(tmp_path):
    wheel = build_wheel_contents(PACKAGE, tmp_path)
    names, entry_points, metadata = wheel.names, wheel.entry_points, wheel.metadata

    assert "dfm/__init__.py" not in names
    assert "dfm/cli/__init__.py" in names and "dfm/cli/py.typed" in names
    assert "[console_scripts]\ndfm = dfm.cli.main:main" in entry_points
    assert "[dfm.plugins]\ndfm-cli = dfm.cli.plugin" in entry_points
    for template in ("adapter", "federation"):  # for 'dfm adapter new' and 'dfm fed new' outside a checkout
        assert f"dfm/cli/templates/{template}/cookiecutter.json" in names
    assert (
        "Requires-Dist: dfm-kernel<0.2,>=0.1" in metadata or "Requires-Dist: dfm-kernel>=0.1,<0.2" in metadata
    )


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("build") is None or importlib.util.find_spec("hatchling") is None,
    reason="needs 'build' and 'hatchling' (the test dependency group)",
)
def test_the_adapter_template_ships_in_the_sdist_and_in_a_wheel_built_from_it(tmp_path):
    # python -m build makes the sdist, then the wheel from the unpacked sdist: no monorepo around it
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(tmp_path), str(PACKAGE)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [sdist] = tmp_path.glob("*.tar.gz")
    [wheel] = tmp_path.glob("*.whl")
    with tarfile.open(sdist) as tf:
        assert any(n.endswith("src/dfm/cli/templates/adapter/cookiecutter.json") for n in tf.getnames())
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    assert "dfm/cli/templates/adapter/cookiecutter.json" in names
    assert "dfm/cli/templates/federation/cookiecutter.json" in names
    assert any(n.startswith("dfm/cli/templates/adapter/hooks/") for n in names)
    assert not any("__pycache__" in n for n in names)
