"""What an adapter receives: ``Adapter(site, provider)``.

The runner builds one :class:`SiteContext` per site and one
:class:`ProviderContext` per provider from the site's own config; adapters
read their configuration from them (bindings feed ``body`` arguments, these
carry the rest). ``dfm.kernel.testing`` has factories for tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs


@attrs.frozen
class SiteContext:
    """The site an adapter runs at."""

    name: str
    federation: str  # the federation's code-package name
    config: dict[str, Any]  # the site's ``config:`` mapping (read by from-site bindings too)
    is_homesite: bool
    base_dir: Path  # folder of the federation config: relative paths in site config resolve here


@attrs.frozen
class ProviderContext:
    """The provider an interface entry belongs to (adapters outside a provider get ``None``)."""

    name: str
    config: dict[str, Any]  # the provider's ``config:`` mapping (read by from-provider bindings too)
