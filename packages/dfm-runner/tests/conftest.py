from __future__ import annotations

from pathlib import Path

import pytest

from dfm.api import FederationHandle, load_federation
from dfm.runner.testing import MATHFED

EXAMPLEFED = Path(__file__).parents[3] / "federations" / "examplefed" / "examplefed.dfm.yaml"


@pytest.fixture(scope="session")
def mathfed() -> FederationHandle:
    return load_federation(MATHFED)
