"""Shared test setup: DFM's opt-in testing plugin and a stand-in for the site an adapter receives."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

# Fixtures plugin_manager, fake_distribution and hook_recorder; contract checks in dfm.kernel.testing.
pytest_plugins = ["dfm.kernel.testing"]


@pytest.fixture
def site() -> SimpleNamespace:
    """What a site hands an adapter as ``site``."""
    return SimpleNamespace(name="home", federation="example", config={"greeting": "Hello"}, is_homesite=True)
