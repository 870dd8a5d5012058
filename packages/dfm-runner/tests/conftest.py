from __future__ import annotations

from pathlib import Path

import pytest

from dfm.api import FederationHandle, load_federation
from dfm.runner.testing import MATHFED


@pytest.fixture(scope="session")
def demo(examplefed_path: Path) -> Path:
    """examplefed's demo app."""
    return examplefed_path.parent / "demo.py"


@pytest.fixture(scope="session")
def mathfed() -> FederationHandle:
    return load_federation(MATHFED)
