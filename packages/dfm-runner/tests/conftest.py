from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dfm.api import FederationHandle, load_federation
from dfm.runner import Session

MATHFED = Path(__file__).parent / "mathfed" / "mathfed.dfm.yaml"
EXAMPLEFED = Path(__file__).parents[3] / "federations" / "examplefed" / "examplefed.dfm.yaml"
SECRET = "s3cr3t-t0ken-value"


@pytest.fixture(scope="session")
def mathfed() -> FederationHandle:
    return load_federation(MATHFED)


@pytest.fixture(scope="session", params=["inproc", "process"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def session(mathfed: FederationHandle, transport: str) -> Iterator[Session]:
    mp = pytest.MonkeyPatch()
    mp.setenv("MATHFED_BETA_API_TOKEN", SECRET)  # read by the beta site's vault (also in child processes)
    with Session(mathfed, transport=transport) as s:
        yield s
    mp.undo()
