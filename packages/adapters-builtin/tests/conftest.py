"""Shared setup of dfm-adapter-builtin's tests: DFM's opt-in testing plugin and a fake site."""

from __future__ import annotations

import functools

import pytest

from dfm.kernel.testing import provider_context, site_context

pytest_plugins = ["dfm.kernel.testing"]


# What the runner hands adapters, with this suite's default site name.
FakeSite = functools.partial(site_context, name="alpha")
FakeProvider = provider_context


@pytest.fixture
def site() -> FakeSite:
    return FakeSite()
