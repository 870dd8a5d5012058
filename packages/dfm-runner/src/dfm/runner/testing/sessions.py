"""A session with some environment variables set for its lifetime (the sites' vaults read them)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from dfm.runner.session import Session


def env_session(federation: Any, env: Mapping[str, str], **kwargs: Any) -> Iterator[Session]:
    """Yield a :class:`Session` opened with ``env`` set (child processes inherit it), then undo both.

    Meant for class-scoped fixtures: ``yield from env_session(MATHFED, {...}, transport="process")``.
    """
    patch = pytest.MonkeyPatch()
    for name, value in env.items():
        patch.setenv(name, value)
    try:
        with Session(federation, **kwargs) as session:
            yield session
    finally:
        patch.undo()
