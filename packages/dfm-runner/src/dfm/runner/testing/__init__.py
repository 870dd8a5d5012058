"""Test helpers for transport authors: the conformance suite and its federation."""

from dfm.runner.testing.conformance import MATHFED, SECRET, TransportConformance

__all__ = ["MATHFED", "SECRET", "TransportConformance"]
