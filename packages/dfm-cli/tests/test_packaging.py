"""The dfm-cli wheel: a namespace package with the console script and the plugin entry point."""

from __future__ import annotations

import importlib.util
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
    assert (
        "Requires-Dist: dfm-kernel<0.2,>=0.1" in metadata or "Requires-Dist: dfm-kernel>=0.1,<0.2" in metadata
    )
