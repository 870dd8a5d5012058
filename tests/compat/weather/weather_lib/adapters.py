"""Adapters of the compat weather federation, written as the reference's users write them.

The constructors take neither, one or both of ``site``/``provider``, plus
keyword arguments from ``adapter: {path, args}``.
"""

from __future__ import annotations

from typing import Any


class Observe:
    """Takes neither site nor provider: only its ``{path, args}`` keyword."""

    def __init__(self, scale: int = 1) -> None:
        self.scale = scale

    async def body(
        self, station: str, bbox: Any = None, limit: Any = None, unit: Any = None, **extra: Any
    ) -> dict:
        return {
            "station": station,
            "west": None if bbox is None else bbox["west"] * self.scale,
            "limit": limit,
            "unit": unit,
            **extra,
        }


class Describe:
    """Takes only the site (is-async: false, a plain method)."""

    def __init__(self, site: Any) -> None:
        self.site = site

    def body(self, site: str, greeting: str, motto: str) -> str:
        assert site == self.site.name
        return f"{greeting} from {site} ({motto})"


class Cached:
    """Takes site and provider; stores into the site's cache filesystem."""

    def __init__(self, site: Any, provider: Any) -> None:
        self.site = site
        self.provider = provider

    async def body(self, key: str, value: str) -> str:
        fs = self.site.cache_storage()
        with fs.open(f"{key}.txt", "w") as out:
            out.write(value)
        with fs.open(f"{key}.txt", "r") as back:
            return str(back.read())
