"""Shared setup of dfm-adapter-builtin's tests: DFM's opt-in testing plugin and a fake site."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

pytest_plugins = ["dfm.kernel.testing"]


@attrs.frozen
class FakeSite:
    """What the runner hands an adapter as ``site``."""

    name: str = "alpha"
    federation: str = "testfed"
    config: dict[str, Any] = attrs.Factory(dict)
    is_homesite: bool = False


@attrs.frozen
class FakeProvider:
    name: str
    config: dict[str, Any] = attrs.Factory(dict)


@pytest.fixture
def site() -> FakeSite:
    return FakeSite()
