"""The dfm-cli wheel: a namespace package with the console script and the plugin entry point."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("build") is None or importlib.util.find_spec("hatchling") is None,
    reason="needs 'build' and 'hatchling' (the test dependency group)",
)
def test_wheel_contents(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path), str(PACKAGE)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [wheel] = tmp_path.glob("dfm_cli-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        entry_points = zf.read(f"{dist_info}/entry_points.txt").decode()
        metadata = zf.read(f"{dist_info}/METADATA").decode()

    assert "dfm/__init__.py" not in names
    assert "dfm/cli/__init__.py" in names and "dfm/cli/py.typed" in names
    assert "[console_scripts]\ndfm = dfm.cli.main:main" in entry_points
    assert "[dfm.plugins]\ndfm-cli = dfm.cli.plugin" in entry_points
    assert (
        "Requires-Dist: dfm-kernel<0.2,>=0.1" in metadata or "Requires-Dist: dfm-kernel>=0.1,<0.2" in metadata
    )
