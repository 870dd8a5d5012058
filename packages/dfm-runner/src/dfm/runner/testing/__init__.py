"""Test helpers for transport authors: the conformance and hostile-peer suites and their federations."""

from dfm.runner.testing.conformance import EXAMPLEFED_BADGE, MATHFED, SECRET, TransportConformance
from dfm.runner.testing.hostile import ALICE_SECRET, HOSTILEFED, HostilePeerSuite, wait_for_refusal
from dfm.runner.testing.sessions import env_session

__all__ = [
    "ALICE_SECRET",
    "EXAMPLEFED_BADGE",
    "HOSTILEFED",
    "MATHFED",
    "SECRET",
    "HostilePeerSuite",
    "TransportConformance",
    "env_session",
    "wait_for_refusal",
]
