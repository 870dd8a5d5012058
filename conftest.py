"""Fixtures shared by the tests of every distribution in this repository.

pytest loads this file for every test under the repository root (the root
``pyproject.toml`` holds the pytest configuration), so tests find the example
federations through fixtures instead of counting parent folders.
"""

from __future__ import annotations

from pathlib import Path

import pytest

FEDERATIONS = Path(__file__).resolve().parent / "federations"


@pytest.fixture(scope="session")
def examplefed_path() -> Path:
    """``federations/examplefed/examplefed.dfm.yaml`` (the test is skipped outside a full checkout)."""
    path = FEDERATIONS / "examplefed" / "examplefed.dfm.yaml"
    if not path.is_file():
        pytest.skip("examplefed is not part of this checkout")
    return path
