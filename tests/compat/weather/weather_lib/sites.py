"""Custom site and provider classes (``impl:``)."""

from __future__ import annotations

from typing import Any


class WeatherSite:
    def __init__(self, site: Any, motto: str = "") -> None:
        self.context = site
        self.motto = motto

    @property
    def where(self) -> str:
        return f"{self.context.name} of {self.context.federation_name}"


class Archive:
    def __init__(self, shelf: str) -> None:
        self.shelf = shelf
