"""An async adapter: ``body`` is a coroutine, run on the site's event loop.

Use async adapters for I/O-bound work (HTTP, databases with async drivers):
the site runs many of them at once without threads, and a cancelled job
cancels the coroutine.
"""

from __future__ import annotations

import asyncio
from typing import Any


class HelloLater:
    """``{{ cookiecutter.operation_namespace }}.HelloLater``: greets ``name`` after ``delay`` seconds."""

    def __init__(self, site: Any, provider: Any) -> None:
        self.site = site
        self.provider = provider

    async def body(self, name: str, delay: float = 0.0, greeting: str = "Hello") -> str:
        if delay < 0:
            raise ValueError(f"delay must be >= 0, got {delay!r}")
        await asyncio.sleep(delay)
        return f"{greeting}, {name}! (from {self.site.name}, {delay:g} s later)"
