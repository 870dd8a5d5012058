"""The GreetMe adapter used by every examplefed site."""

from __future__ import annotations

from typing import Any


class GreetMe:
    """Builds a greeting; each site configures the greeting and its own name."""

    def __init__(self, site: Any, provider: Any):
        self.site = site
        self.provider = provider

    def body(
        self,
        name: str,
        greeting: str = "Hi",
        where: str = "somewhere",
        shout: bool = True,
        badge: str | None = None,
    ) -> str:
        # The badge key proves the reception's secret reached the adapter; it is never echoed.
        checked = " (badge checked)" if badge else ""
        text = f"{greeting}, {name}! Greetings from {where}{checked}."
        return text.upper() if shout and greeting.isupper() else text
