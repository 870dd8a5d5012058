"""Build a distribution's wheel and read what it holds, for packaging tests."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import attrs


@attrs.frozen
class WheelContents:
    """What a built wheel holds."""

    names: list[str]  # every path in the wheel
    entry_points: str  # the dist-info's entry_points.txt
    metadata: str  # the dist-info's METADATA


def build_wheel_contents(project: Path, outdir: Path) -> WheelContents:
    """Build ``project``'s wheel with ``python -m build --no-isolation`` (needs build and hatchling)."""
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(outdir), str(project)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [wheel] = outdir.glob("*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        return WheelContents(
            names,
            zf.read(f"{dist_info}/entry_points.txt").decode(),
            zf.read(f"{dist_info}/METADATA").decode(),
        )
