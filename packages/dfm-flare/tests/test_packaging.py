"""The dfm-flare wheel: a namespace package with its plugin entry point."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from dfm.kernel.testing.wheels import build_wheel_contents

PACKAGE = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("build") is None or importlib.util.find_spec("hatchling") is None,
    reason="needs 'build' and 'hatchling'",
)
def test_wheel_contents(tmp_path):
    wheel = build_wheel_contents(PACKAGE, tmp_path)
    names, entry_points, metadata = wheel.names, wheel.entry_points, wheel.metadata
    assert "dfm/__init__.py" not in names
    assert {"dfm/flare/__init__.py", "dfm/flare/py.typed", "dfm/flare/plugin.py"} <= set(names)
    assert "[dfm.plugins]\ndfm-flare = dfm.flare.plugin" in entry_points
    assert "Requires-Dist: nvflare~=2.9.0" in metadata
