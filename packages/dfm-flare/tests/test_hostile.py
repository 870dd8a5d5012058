"""The hostile-peer suite on FLARE: a compromised site's adapter attacks through its real FLARE identity."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dfm.api import load_federation
from dfm.runner.testing import ALICE_SECRET, HOSTILEFED, HostilePeerSuite

from .conftest import _deployment

pytestmark = pytest.mark.flare


@pytest.fixture(scope="module")
def hostilefed_deployment() -> Iterator[Any]:
    yield from _deployment(HOSTILEFED, {"HOSTILEFED_ALICE_TOKEN": ALICE_SECRET})


class TestFlareHostile(HostilePeerSuite):
    separate_processes = True  # one FLARE client (job process) per site; each gets only its own secrets

    @pytest.fixture(scope="class")
    @classmethod
    def hostile_session(cls, hostilefed_deployment: Any) -> Iterator[Any]:
        from dfm.runner import Session

        options = {"workspace": str(hostilefed_deployment.workspace)}
        with Session(load_federation(HOSTILEFED), target="flare", options=options) as session:
            yield session
