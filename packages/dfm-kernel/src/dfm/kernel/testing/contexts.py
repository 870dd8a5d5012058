"""Build what an adapter receives, for unit tests of adapters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dfm.kernel.context import ProviderContext, SiteContext


def site_context(
    name: str = "site",
    *,
    federation: str = "testfed",
    config: dict[str, Any] | None = None,
    is_homesite: bool = False,
    base_dir: Path | str = ".",
) -> SiteContext:
    """A :class:`SiteContext` with defaults; ``base_dir`` "." resolves relative paths against the cwd."""
    return SiteContext(name, federation, dict(config or {}), is_homesite, Path(base_dir))


def provider_context(name: str = "provider", config: dict[str, Any] | None = None) -> ProviderContext:
    """A :class:`ProviderContext` with defaults."""
    return ProviderContext(name, dict(config or {}))
