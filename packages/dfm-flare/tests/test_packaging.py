"""The dfm-flare wheel: a namespace package with its plugin entry point."""

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
    reason="needs 'build' and 'hatchling'",
)
def test_wheel_contents(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path), str(PACKAGE)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [wheel] = tmp_path.glob("dfm_flare-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        entry_points = zf.read(f"{dist_info}/entry_points.txt").decode()
        metadata = zf.read(f"{dist_info}/METADATA").decode()
    assert "dfm/__init__.py" not in names
    assert {"dfm/flare/__init__.py", "dfm/flare/py.typed", "dfm/flare/plugin.py"} <= set(names)
    assert "[dfm.plugins]\ndfm-flare = dfm.flare.plugin" in entry_points
    assert "Requires-Dist: nvflare~=2.9.0" in metadata
